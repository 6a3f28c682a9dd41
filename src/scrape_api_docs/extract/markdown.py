"""Clean content HTML to Markdown: one converter for every path (static, rendered, exports).

What may reach any Markdown we write is decided here: ``escape_markdown`` for every text
we put into Markdown ourselves (titles, summaries), and one URL rule (``link_allowed``,
``image_allowed``): links only to http(s) and mailto (relative ones become http(s) against
the page), images only from http(s) or raster ``data:`` pictures. Extraction applies it to
the page's HTML; the prose pass here catches what text spells out in Markdown syntax.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from html_to_markdown import ConversionOptions, convert

_OPTIONS = ConversionOptions(
    heading_style="atx",
    bullets="-",
    list_indent_width=2,
    escape_asterisks=True,
    escape_underscores=True,
    code_block_style="backticks",
    extract_metadata=False,
    autolinks=True,
    hidden_content="reachable",
    wrap=False,
    newline_style="backslash",
)
FENCE = "```"
"""Our code blocks: a line ``<indent>```lang``, the code, and a line ``<indent>```` with
the same indent (the converter writes no other kind)."""
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
# "<" that would open an HTML tag (text such as ``impl<T>`` or "the <b> tag"), but not an
# autolink (``<https://...>``): the converter leaves it bare, and Markdown renderers
# would turn it into a tag and lose the text.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])(?!(?:https?|mailto):)")
_DESTINATION = re.compile(r"\]\(\s*+<?+(?!(?i:https?://|mailto:|#|/))([^\s)>]*)")
"""The start of a link's or image's destination: ``](url``, unless its scheme is one that
no escape or entity can change (a literal allowed scheme, a fragment, a path): most links
of a page, never decoded."""
_REFERENCE = re.compile(r"^( {0,3})\[(?=(?:[^\]\\\n]|\\.)+\]:)", re.M)
"""A line that would be a link reference definition (``[label]: url``): the converter
writes none, so one in the prose is text that would define a link."""

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
"""The schemes a link in an export may have (relative links resolve to http(s))."""
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]+")
_RASTER_DATA = re.compile(r"data:image/(?:png|jpeg|jpg|gif|webp)[;,]")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_TEXT_SPECIALS = re.compile(r"([\\`*_\[\]<>#~|])|&(?=#?\w+;)")


def _scheme(url: str) -> tuple[str | None, str]:
    """(scheme or None for a relative URL, the URL as a browser reads it): without ASCII
    whitespace and control characters (browsers drop them), lower case."""
    clean = _URL_JUNK.sub("", url).lower()
    match = _SCHEME.match(clean)
    return (match.group(1) if match else None), clean


def link_allowed(url: str) -> bool:
    """A link we keep: relative, or to an http(s) or mailto URL."""
    scheme, _ = _scheme(url)
    return scheme is None or scheme in LINK_SCHEMES


def image_allowed(url: str) -> bool:
    """An image we keep: relative, http(s), or a raster picture in a ``data:`` URL."""
    scheme, clean = _scheme(url)
    if scheme == "data":
        return _RASTER_DATA.match(clean) is not None
    return scheme is None or scheme in ("http", "https")


def escape_markdown(text: str) -> str:
    """``text`` as Markdown that shows exactly that text, on one line (titles, summaries):
    no markup, no tags, no entities, no links."""
    one_line = " ".join(text.split())
    return _TEXT_SPECIALS.sub(lambda m: f"\\{m.group(0)}", one_line)


MAX_MARKS = 0xFFFE
"""Marks one page may carry (one character each, from Unicode's plane 15)."""
_MARK_BASE = 0xF0000
_MARK_CHARS = "[\U000f0000-\U000ffffd]"
_MARK_RUN = re.compile(f"{_MARK_CHARS}+")
_ALONE = re.compile(r"[ \t]*(?:\n\n|\n?\Z)")
"""What follows a run of marks that is a line of its own (a block of its own: the run
goes, blank line and all)."""


def mark(index: int) -> str:
    """The ``index``-th mark: a character extraction puts where an id sits, which the
    converter keeps as text and ``take_marks`` takes out again."""
    return chr(_MARK_BASE + index)


def take_marks(markdown: str, count: int) -> tuple[str, list[int | None]]:
    """``markdown`` without its marks, and where each of the first ``count`` was (a
    character offset: the start of its block when it was a line of its own; None when the
    converter dropped it)."""
    places: list[int | None] = [None] * count
    if not count:
        return markdown, places
    out: list[str] = []
    size = position = 0
    for run in _MARK_RUN.finditer(markdown):
        start, end = run.span()
        if start == 0 or markdown[start - 1] == "\n":
            alone = _ALONE.match(markdown, end)
            if alone is not None:
                end = alone.end()
        piece = markdown[position:start]
        out.append(piece)
        size += len(piece)
        for char in run.group(0):
            index = ord(char) - _MARK_BASE
            if index < count and places[index] is None:
                places[index] = size
        position = end
    out.append(markdown[position:])
    return "".join(out), places


def to_markdown(content_html: str, base_url: str) -> str:
    """Convert; relative ``href``/``src`` become absolute against ``base_url``.

    html-to-markdown runs in Rust and releases the GIL, so callers convert pages on a
    thread pool.
    """
    options = _with_base(base_url)
    text = convert(content_html, options).content or ""
    return tidy(text)


def _with_base(base_url: str) -> ConversionOptions:
    return replace(_OPTIONS, base_url=base_url)


def _segments(markdown: str) -> Iterator[tuple[bool, str]]:
    """(is_code, text) runs: fenced code blocks (``FENCE``) and the prose between them, in
    order. Found by searching for the fence's backticks, not by trying a regex at every
    character (a book's export reads each page's Markdown four times)."""
    position = search = 0
    while (tick := markdown.find(FENCE, search)) >= 0:
        search = tick + len(FENCE)
        line = markdown.rfind("\n", 0, tick) + 1
        indent = markdown[line:tick]
        opened = markdown.find("\n", tick)
        if indent.strip(" \t") or opened < 0:
            continue  # backticks inside a line, or on the last line: no block opens
        end = _closing_fence(markdown, indent, opened)
        if end < 0:
            continue
        yield False, markdown[position:line]
        yield True, markdown[line:end]
        position = search = end
    yield False, markdown[position:]


def _closing_fence(markdown: str, indent: str, start: int) -> int:
    """Where the first line after ``start`` (a line break) that closes a block opened with
    ``indent`` ends (before its line break): ``indent``, the fence, spaces or tabs; -1
    when no line does."""
    needle = f"\n{indent}{FENCE}"
    at = start
    while (at := markdown.find(needle, at)) >= 0:
        end = at + len(needle)
        while end < len(markdown) and markdown[end] in " \t":
            end += 1
        if end == len(markdown) or markdown[end] == "\n":
            return end
        at += 1
    return -1


def outside_fences(markdown: str, transform: Callable[[str], str]) -> str:
    """Apply ``transform`` to the prose between fenced code blocks; code stays verbatim."""
    return "".join(text if code else transform(text) for code, text in _segments(markdown))


def tidy(markdown: str) -> str:
    """Blocks get their blank lines, runs of blank lines shrink; code blocks stay verbatim."""
    pieces = (text if code else _tidy_prose(text) for code, text in _segments(markdown))
    return "\n\n".join(piece for piece in pieces if piece) + "\n"


def _tidy_prose(text: str) -> str:
    text = _escape_tags(text)
    # Plain string operations: the regex equivalents cost ~10 ms on a large page.
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line.startswith(">") and out and out[-1] and not out[-1].startswith(">"):
            out.append("")
        out.append(line)
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")


def _escape_tags(prose: str) -> str:
    """Outside code spans: ``\\<`` for a "<" that Markdown would read as the start of a tag,
    ``\\](`` for a link or image whose URL the rule refuses, ``\\[`` for a line that
    would define a link."""
    if "<" not in prose and "](" not in prose and "]:" not in prose:
        return prose
    out: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(prose):
        out.append(_escape_text(prose[position : span.start()]))
        out.append(span.group(0))
        position = span.end()
    out.append(_escape_text(prose[position:]))
    return "".join(out)


def _escape_text(text: str) -> str:
    if "<" not in text and "]" not in text:
        return text  # most runs between code spans
    text = _TAG_OPEN.sub(r"\\<", text)
    if "](" in text:
        text = _DESTINATION.sub(_refuse_destination, text)
    if "]:" in text:
        text = _REFERENCE.sub(r"\1\\[", text)
    return text


def _refuse_destination(match: re.Match[str]) -> str:
    """A destination, as CommonMark reads it (entities decoded, escapes removed), that
    neither rule allows is refused (``](`` escaped, the text stays). A link and an image
    are not told apart here: the converter's own links passed the link rule in extraction,
    and a raster picture is inert whichever it is."""
    raw = match.group(1)
    url = _MD_ESCAPE.sub(r"\1", html.unescape(raw))
    return match.group(0) if link_allowed(url) or image_allowed(url) else "\\" + match.group(0)

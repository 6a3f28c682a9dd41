"""Clean content HTML to Markdown: one converter for every path (static, rendered, exports)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from html_to_markdown import ConversionOptions, convert

_OPTIONS = ConversionOptions(
    heading_style="atx",
    bullets="-",
    list_indent_width=2,
    escape_asterisks=True,
    code_block_style="backticks",
    extract_metadata=False,
    autolinks=True,
    hidden_content="reachable",
    wrap=False,
    newline_style="backslash",
)
_FENCED = re.compile(r"^([ \t]*)```[^\n]*\n.*?^\1```[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
# "<" that would open an HTML tag (text such as ``impl<T>`` or "the <b> tag"), but not an
# autolink (``<https://...>``): the converter leaves it bare, and Markdown renderers
# would turn it into a tag and lose the text.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])(?!(?:https?|mailto|ftp):)")


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
    """(is_code, text) runs: fenced code blocks and the prose between them, in order."""
    position = 0
    for match in _FENCED.finditer(markdown):
        yield False, markdown[position : match.start()]
        yield True, match.group(0)
        position = match.end()
    yield False, markdown[position:]


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
    """``\\<`` for a "<" that Markdown would read as the start of a tag (code spans kept)."""
    if "<" not in prose:
        return prose
    out: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(prose):
        out.append(_TAG_OPEN.sub(r"\\<", prose[position : span.start()]))
        out.append(span.group(0))
        position = span.end()
    out.append(_TAG_OPEN.sub(r"\\<", prose[position:]))
    return "".join(out)

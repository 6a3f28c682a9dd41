"""The site's template, learned from the site's own pages, and each page's title.

A crawl sees many pages of one site. What opens or closes most of them with the same
text (a banner, a module list, "« previous | up | next »" bars, a "Last update" line, a
copyright footer) is the site's template, not the page's content, whatever the theme
calls it; so is a heading that opens most pages (the product name as ``<h1>``). Per-page
extraction cannot see this (one page is all it has, and the first pages of a crawl come
before the template is known), so this is a second look, over the stored documents, when
the book is assembled: ``learn`` over a sample of the site's Documents, then ``clean``
each one and ``title`` each page.

Pure functions over Documents and Markdown: no store, no I/O.

- A block is a run of Markdown lines between blank lines (a fenced code block is one
  block). Its fingerprint is its text with link targets dropped and digits zeroed, so
  "« previous | up | next »" linking elsewhere on each page, or "Last update: <date>",
  are the same block on every page.
- A block is template when its fingerprint is on ``SHARE`` of the sampled pages (and at
  least ``MIN_PAGES``) among their first or last ``EDGE`` blocks. Such blocks are cut from
  a page's opening and closing runs (position: template frames the content), and
  anywhere in the page when they are mostly links (link density: a navigation bar inside
  the content); a template block elsewhere that is prose stays (a repeated "Parameters"
  heading, a repeated note).
- A page's title is the first heading of its content (its first ``h1``, else the heading
  that matches ``<title>``), checked against ``<title>`` with the site's common prefix or
  suffix (" — Widgetry 1.2 documentation", "Widgetry: ") removed; a heading that opens
  most pages is the banner, never a title; with no heading, the trimmed ``<title>``.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from scrape_api_docs.extract.document import Document, Heading

EDGE = 40
"""Blocks looked at from each end of a page (a sidebar list is one block)."""
SHARE = 0.7
MIN_PAGES = 3
LINKS_SHARE = 0.7
"""A template block at least this much link text is navigation wherever it is."""
_GAP_WORDS = 12
_LABEL_WORDS = 3
_BOX_TITLE_WORDS = 4
_LABEL = re.compile(r"[*_]*[^\W\d_]+(?: [^\W\d_]+)*[*_]*")
"""Words alone (letters, maybe bold): "**Properties**", not "stack?: string"."""
"""A label between framing blocks ("Properties" in an "On this page" box) goes with them."""
_JUMP_SHARE = 0.8
"""A page's own short line (a breadcrumb) between two template blocks goes with them."""

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_LINK_TARGET = re.compile(
    r"\]\((?:<[^>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"\n]*\")?\)"
)
_TARGET = re.compile(r"\]\((<[^>\n]*>|[^)\s]+)")
_LINK_TEXT = re.compile(r"!?\[([^\]\n]*)\]")
_DIGITS = re.compile(r"\d+")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_KEY_JUNK = re.compile(r"[\W_]+")
_TITLE_SEPARATOR = re.compile(r"\s+[|—–·»:-]\s+|\s*[|—–·»]\s*|:\s+")


def blocks(markdown: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each block of ``markdown``; fenced code is one block."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    fence = ""
    position = 0
    for line in markdown.split("\n"):
        end = position + len(line)
        if fence:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
        elif not line.strip():
            if start is not None:
                out.append((start, position - 1))
                start = None
        else:
            if start is None:
                start = position
            opened = _FENCE_OPEN.match(line)
            if opened and opened.group(1)[0] * 3 not in line[opened.end() :]:
                fence = opened.group(1)
        position = end + 1
    if start is not None:
        out.append((start, len(markdown)))
    return out


def fingerprint(block: str) -> str:
    """What a reader sees of a block, links or not ("« previous" is a link on every page
    but the first), digits zeroed in a short block ("Last update: <date>"). A longer block
    keeps its digits: prose that differs from page to page only in its numbers ("Page
    number 3 explains ...") is each page's own content, not a frame."""
    if "[" in block:
        block = _unlinked(block)
    words = block.split()  # what ``\s+`` splits on (str.isspace), ends dropped
    text = " ".join(words)
    if len(words) > _GAP_WORDS:
        return text
    return _DIGITS.sub("0", text)


_LINK_LABEL = operator.methodcaller("group", 1)
"""A link's text, for ``re.sub``: a callable, not a group-reference template (which
Python 3.11 expands in Python code for each match: 40% of a fingerprint's time)."""


def _unlinked(text: str) -> str:
    """``text`` with each link (``[label](target)``) reduced to its label."""
    return _LINK_TEXT.sub(_LINK_LABEL, _LINK_TARGET.sub("]", text))


def _link_share(block: str) -> float:
    text = _LINK_TARGET.sub("]", block)
    linked = sum(len(_KEY_JUNK.sub("", m.group(1))) for m in _LINK_TEXT.finditer(text))
    letters = len(_KEY_JUNK.sub("", _LINK_TEXT.sub(_LINK_LABEL, text)))
    return linked / letters if letters else 0.0


def _navigation(block: str, links: int = 1) -> bool:
    return block.count("](") >= links and _link_share(block) >= LINKS_SHARE


def _jump_bar(block: str, pages: set[str]) -> bool:
    """Links (nothing else) to sections of the page itself."""
    targets = _TARGET.findall(block)
    if not targets or _link_share(block) < _JUMP_SHARE:
        return False
    return all("#" in t and t.strip("<>").partition("#")[0] in pages for t in targets)


def key(text: str) -> str:
    """A heading's or title's text for comparison: letters and digits, lowercase."""
    return _KEY_JUNK.sub("", text.lower().replace("\\", ""))


def _heading(block: str) -> tuple[int, str] | None:
    match = _HEADING.match(block)
    if match is None or "\n" in block.strip():
        return None
    return len(match.group(1)), match.group(2)


def _title_parts(title: str) -> list[str]:
    return [p for p in _TITLE_SEPARATOR.split(title.strip()) if p]


@dataclass(frozen=True)
class SiteTemplate:
    blocks: frozenset[str] = frozenset()
    """Fingerprints of the template's blocks."""
    banners: frozenset[str] = frozenset()
    """Keys of the headings that open most pages."""
    title_prefix: str = ""
    title_suffix: str = ""
    """The part of ``<title>`` most pages share (before or after a separator)."""

    def clean(self, doc: Document) -> Document:
        """``doc`` without the template's blocks (its places and headings follow), nor a
        bar of links to its own sections at its top or bottom (a page's "jump to" bar)."""
        if not self.blocks:
            return doc
        markdown = doc.markdown
        spans = blocks(markdown)
        pages = {doc.url.partition("#")[0], doc.final_url.partition("#")[0]}
        count = len(spans)
        # Only the blocks at either end can open or close the page (``_edge_run`` walks
        # ``EDGE`` blocks from each end): the others are fingerprinted only when they are
        # navigation, the one rule that reaches into the middle of a page.
        edges = set(range(min(EDGE, count))) | set(range(max(0, count - EDGE), count))
        template = [False] * count
        framing = [False] * count
        for i in edges:
            s, e = spans[i]
            template[i] = fingerprint(markdown[s:e]) in self.blocks
            framing[i] = template[i] or _jump_bar(markdown[s:e], pages)
        cut = set(_edge_run(markdown, spans, framing, range(count)))
        backwards = range(count - 1, -1, -1)
        cut |= set(_edge_run(markdown, spans, framing, backwards, closing=True))
        for i, (s, e) in enumerate(spans):
            if i in cut:
                continue
            text = markdown[s:e]
            if not _navigation(text, 2) or _heading(text) is not None:
                continue
            if template[i] if i in edges else fingerprint(text) in self.blocks:
                cut.add(i)
        if not cut or all(
            i in cut for i, (s, e) in enumerate(spans) if _heading(markdown[s:e]) is None
        ):
            # Nothing to cut, or everything but headings: a "template" that claims all of
            # a page's text is not this page's frame (pages whose content repeats).
            return doc
        return _without(doc, [spans[i] for i in sorted(cut)])

    def frames(self, level: int, text: str) -> bool:
        """Whether a heading is the template's: a banner, or a heading block that frames
        most pages ("### Modules" over the sidebar)."""
        if self.banners and key(text) in self.banners:
            return True
        # Asked for every heading of every page: most templates have no heading block.
        return bool(self._heading_blocks) and (
            fingerprint(f"{'#' * level} {text}") in self._heading_blocks
        )

    @functools.cached_property
    def _heading_blocks(self) -> frozenset[str]:
        return frozenset(b for b in self.blocks if b.startswith("#"))

    def page_title(self, page_title: str) -> str:
        """``<title>`` without the site's part ("Quickstart — Widgetry docs": "Quickstart")."""
        parts = _title_parts(page_title)
        if len(parts) >= 2 and self.title_suffix and parts[-1] == self.title_suffix:
            return _strip_part(page_title, parts[-1], end=True)
        if len(parts) >= 2 and self.title_prefix and parts[0] == self.title_prefix:
            return _strip_part(page_title, parts[0], end=False)
        return page_title.strip()

    def title(self, page_title: str, headings: Sequence[Heading], fallback: str = "") -> str:
        """The page's own title (see the module's docstring)."""
        core = self.page_title(page_title)
        core_key = key(core) if core else ""
        # One pass, each heading's key made once (API pages have hundreds of headings):
        # the first own h1, else the first own heading that matches ``<title>``.
        first_own: Heading | None = None
        matching: Heading | None = None
        for heading in headings:
            k = key(heading.text)
            if not k or k in self.banners:
                continue
            if heading.level == 1:
                return _without_badge(heading.text, core)
            if first_own is None:
                first_own = heading
            if matching is None and k == core_key:
                matching = heading
        if matching is not None:
            return _without_badge(matching.text, core)
        return core or (first_own.text if first_own is not None else fallback)


def _strip_part(title: str, part: str, *, end: bool) -> str:
    text = title.strip()
    text = text[: text.rfind(part)] if end else text[text.find(part) + len(part) :]
    return _TITLE_SEPARATOR.sub("", text, count=1) if not end else _strip_separator_end(text)


def _strip_separator_end(text: str) -> str:
    return re.sub(r"(\s+[|—–·»:-]\s*|\s*[|—–·»]\s*|:\s*)$", "", text).strip()


def _without_badge(heading: str, core: str) -> str:
    """``Variable LEAF_KINDSConst`` with ``<title>`` "LEAF_KINDS": a badge glued to the
    name (another element, no space between) is not part of the title."""
    if not core:
        return heading
    at = heading.rfind(core)
    if at < 0:
        return heading
    rest = heading[at + len(core) :]
    if rest and not rest[0].isspace() and rest[0].isalnum():
        return heading[: at + len(core)]
    return heading


def _edge_run(
    markdown: str,
    spans: list[tuple[int, int]],
    framing: list[bool],
    indexes: Iterable[int],
    *,
    closing: bool = False,
) -> list[int]:
    """Indexes of the framing blocks that open (or, ``closing``, walking back, close) the
    page, with the short link lines and labels between them, and when closing the short
    headings over them; stops at the page's own heading or prose."""
    run: list[int] = []
    pending: list[int] = []
    for n, i in enumerate(indexes):
        if n >= EDGE:
            break
        if framing[i]:
            run.extend(pending)
            run.append(i)
            pending = []
            continue
        s, e = spans[i]
        text = markdown[s:e]
        size = len(text.split())
        heading = _heading(text) is not None
        if heading and closing and run and size <= _BOX_TITLE_WORDS:
            run.extend(pending)  # the title of a closing box of links ("On this page")
            run.append(i)
            pending = []
            continue
        label = size <= _LABEL_WORDS and not heading and _LABEL.fullmatch(text) is not None
        if size > _GAP_WORDS or "```" in text or not (label or _navigation(text)):
            break
        pending.append(i)
    return run


def _without(doc: Document, cuts: list[tuple[int, int]]) -> Document:
    """``doc`` with the ``cuts`` spans of its Markdown removed; places shift with the text
    and the headings of the removed blocks go (the first heading with each text)."""
    markdown = doc.markdown
    pieces: list[str] = []
    removed_at: list[tuple[int, int]] = []  # (original end, characters removed up to it)
    position = removed = 0
    gone: Counter[str] = Counter()
    for s, e in cuts:
        pieces.append(markdown[position:s])
        head = _heading(markdown[s:e])
        if head is not None:
            gone[key(_unlinked(head[1]))] += 1
        end = e
        while end < len(markdown) and markdown[end] == "\n":
            end += 1  # the blank lines after the block go with it
        removed += end - s
        removed_at.append((s, end))
        position = end
    pieces.append(markdown[position:])
    text = "".join(pieces)

    def moved(at: int) -> int | None:
        shift = 0
        for s, e in removed_at:
            if at < s:
                break
            if at < e:
                return None
            shift += e - s
        return at - shift

    places = {}
    for anchor, at in doc.places.items():
        new = moved(at)
        if new is not None:
            places[anchor] = new
    headings = []
    for heading in doc.headings:
        k = key(heading.text)
        if gone[k]:
            gone[k] -= 1
            continue
        headings.append(heading)
    return replace(doc, markdown=text.strip("\n") + "\n", places=places, headings=headings)


def learn(docs: Iterable[Document]) -> SiteTemplate:
    """The template of the site these pages (a sample of it) come from."""
    edge_prints: Counter[str] = Counter()
    openers: Counter[str] = Counter()
    prefixes: Counter[str] = Counter()
    suffixes: Counter[str] = Counter()
    pages = titled = 0
    for doc in docs:
        pages += 1
        markdown = doc.markdown
        spans = blocks(markdown)
        ends = spans[:EDGE] + spans[max(EDGE, len(spans) - EDGE) :]
        edge_prints.update({fingerprint(markdown[s:e]) for s, e in ends})
        first = next((h for h in doc.headings if h.level == 1), None)
        if first is not None:
            openers[key(first.text)] += 1
        parts = _title_parts(doc.page_title)
        if len(parts) >= 2:
            titled += 1
            prefixes[parts[0]] += 1
            suffixes[parts[-1]] += 1
    if pages < MIN_PAGES:
        return SiteTemplate()
    need = max(MIN_PAGES, math.ceil(pages * SHARE))
    template = frozenset(fp for fp, n in edge_prints.items() if n >= need and fp)
    banners = frozenset(k for k, n in openers.items() if n >= need and k)
    # Of the titles that have a separator: a site's home page is often its name alone.
    need_titled = max(MIN_PAGES, math.ceil(titled * SHARE))
    prefix = _common(prefixes, need_titled)
    suffix = _common(suffixes, need_titled)
    return SiteTemplate(template, banners, prefix, suffix)


def _common(counts: Counter[str], need: int) -> str:
    if not counts:
        return ""
    part, n = counts.most_common(1)[0]
    return part if n >= need else ""


def distinct_titles(titles: dict[str, str], alternatives: dict[str, str]) -> dict[str, str]:
    """Titles (by page key, in crawl order) made distinct where pages share one: the first
    page keeps it; a later one takes its alternative (its trimmed ``<title>``) when that
    is still free, else the title gains the last part of its path."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for page, title in titles.items():
        if title in used:
            other = alternatives.get(page, "")
            if other and other not in used:
                title = other
            else:
                tail = page.partition("#")[0].rstrip("/").rsplit("/", 1)[-1]
                tail = re.sub(r"\.(x?html?|php|aspx?)$", "", tail) or page
                title, n = f"{title} ({tail})", 2
                while title in used:
                    title, n = f"{titles[page]} ({tail} {n})", n + 1
        used.add(title)
        out[page] = title
    return out

"""The shared book model: chapters in reading order, stable anchors, rewritten links.

Every exporter builds on this: it computes the order and anchors from light page
records, then yields chapters one at a time from the page store.

Anchors: a chapter's is a slug of its path (``library-os``, never containing ``--``); a
section's is ``<chapter>--<id>``, for each id the page had on a heading, a defined term
(a Sphinx API entry's ``<dt id>``) or any other element of its content (a ``<div id>``
entry, a ``<span id>``, an ``<a name>``): ``os.html#os.getcwd`` becomes
``library-os--os.getcwd``. A link to ``page#id`` goes to that section, else (an id the
page did not have) to the chapter. Each chapter body carries an ``<a id="...">`` for every
one of its section anchors that some link goes to: where extraction saw its element
(``Document.places``: a line of its own before the block, or inline where the element's
text begins), else just before its heading or term, found by text (pages stored before
places were kept), else at the top of the chapter; so every section link lands.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from scrape_api_docs.exporters.text import plain_text
from scrape_api_docs.extract.document import Document
from scrape_api_docs.extract.markdown import escape_markdown, outside_fences
from scrape_api_docs.extract.order import ContentsItem, PageRef, contents, reading_order
from scrape_api_docs.storage.pages import PageStore
from scrape_api_docs.urls import canonical, hash_route, page_url, scope_folder

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_LINK = re.compile(r"\]\((<[^>\n]*>|[^)\s]+)((?:\s+\"[^\"\n]*\")?)\)")
# Heading lines are found after a line break ("\n" opens the pattern: the regex engine
# jumps from one to the next), the text read with one put before it; a multiline "^" is
# tried at every character, several times slower over a book.
_HEADING_LINE = re.compile(r"\n(#{1,6})(?=\s)")
_HEADING_MARKS = re.compile(r"\n(#{1,6})(?=[ \t])")
_HEADING_TEXT = re.compile(r"^#{1,6}[ \t]+(.*)$", re.M)
_ID_JUNK = re.compile(r"[^A-Za-z0-9._-]+")
_MATCH_JUNK = re.compile(r"[\W_]+")
_BLOCK_PREFIX = re.compile(r"(?:#{1,6}[ \t]+)?")
"""What may come before a place on its line for the mark to go on a line of its own."""
_PARAGRAPH = re.compile(r"(?![*+-] |\d+[.)] )[\w`*_\[]")
"""A line that can open a plain paragraph (what a term becomes): not a list item, quote,
table, indented block or HTML."""


@dataclass(frozen=True)
class ChapterRef:
    key: str
    url: str
    title: str
    anchor: str


@dataclass(frozen=True)
class Chapter:
    ref: ChapterRef
    document: Document


@dataclass(frozen=True)
class ContentsEntry:
    """A line of the book's contents, ``depth`` levels in: a chapter, or a part of the
    site's navigation that is no page (``chapter`` False; ``anchor`` is then its first
    chapter's, where a reader following it lands)."""

    depth: int
    title: str
    anchor: str
    chapter: bool = True


@dataclass
class ContentsNode:
    entry: ContentsEntry
    children: list[ContentsNode]


def contents_tree(entries: list[ContentsEntry]) -> list[ContentsNode]:
    """The contents as a tree (each entry under the nearest shallower one before it)."""
    roots: list[ContentsNode] = []
    open_nodes: list[ContentsNode] = []
    for entry in entries:
        node = ContentsNode(entry, [])
        while open_nodes and open_nodes[-1].entry.depth >= entry.depth:
            open_nodes.pop()
        (open_nodes[-1].children if open_nodes else roots).append(node)
        open_nodes.append(node)
    return roots


class Book:
    def __init__(self, store: PageStore, start_url: str, title: str | None = None) -> None:
        self.store = store
        self.start_url = start_url
        refs = store.refs()
        by_key = {ref.key: ref for ref in refs}
        order = reading_order(refs, canonical(start_url))
        self.chapters = _chapter_refs([by_key[key] for key in order], start_url)
        self.anchors = {ref.key: ref.anchor for ref in self.chapters}
        self.contents = _contents_entries(
            contents(refs, order, canonical(start_url)), self.chapters
        )
        """The contents, nested as the site nests its pages (``extract.order.contents``)."""
        self.depth = {e.anchor: e.depth for e in self.contents if e.chapter}
        """Chapter anchor -> its depth in the contents."""
        self.parts: dict[str, list[ContentsEntry]] = {}
        """Chapter anchor -> the parts of the contents that open just before it."""
        for entry in self.contents:
            if not entry.chapter:
                self.parts.setdefault(entry.anchor, []).append(entry)
        self.anchors_set = frozenset(self.anchors.values())
        self.sections = {
            chapter.anchor: section_anchors(
                chapter.anchor, by_key[chapter.key].anchors, by_key[chapter.key].top_anchor
            )
            for chapter in self.chapters
        }
        """Chapter anchor -> {an id of the page's headings or terms: its section anchor (the
        chapter's own for the heading the page opens with)}."""
        self.section_set = frozenset(
            a for ids in self.sections.values() for a in ids.values() if "--" in a
        )
        self._targets: dict[str, str | None] = {}
        self._rewritten: dict[str, str] = {}
        """A link as written -> as rewritten to an in-book anchor (``render_body``)."""
        # The start page's title; if it was not stored under the start URL (a redirect,
        # a trailing slash added), the first chapter's; the host name as a last resort.
        start = by_key.get(canonical(start_url)) or (by_key[order[0]] if order else None)
        self.title = title or (start.title if start and start.title else _host(start_url))

    def __iter__(self) -> Iterator[Chapter]:
        """Chapters in reading order, read from the store one at a time."""
        for ref in self.chapters:
            doc = self.store.get(ref.key)
            if doc is not None:
                yield Chapter(ref, doc)

    @functools.cached_property
    def linked(self) -> frozenset[str]:
        """The section anchors some chapter links to: only those are marked, so a heading
        or term nobody links to adds no ``<a id>`` line to the Markdown book. One pass over
        the pages' Markdown, the first time a chapter is rendered."""
        found: set[str] = set()

        def collect(text: str) -> str:
            for target, _ in _LINK.findall(text):
                if "#" not in target:
                    continue  # no fragment: a chapter's anchor, never a section's
                url = target.strip("<>")
                anchor = self.link_target(url) if url.startswith("http") else None
                if anchor is not None and anchor in self.section_set:
                    found.add(anchor)
            return text

        for chapter in self:
            outside_fences(chapter.document.markdown, collect)
        return frozenset(found)

    def marks(self, chapter: str) -> dict[str, str]:
        """{id: section anchor} of the sections of ``chapter`` to mark in its body."""
        linked = self.linked
        return {k: a for k, a in self.sections.get(chapter, {}).items() if a in linked}

    # Cached per URL (~200k lookups over the two passes for the Python docs' book), and
    # inside, per page: without the first, the Markdown book of the Python docs took 13%
    # more instructions (callgrind, 21.5 G against 19.2 G). A book lives for one export.
    @functools.lru_cache(maxsize=1 << 16)  # noqa: B019
    def link_target(self, url: str) -> str | None:
        """The in-book anchor for a link to a crawled page (its section's when the
        fragment names one of its headings or terms, else the chapter's), else None."""
        page = page_url(url)  # a hash route (``#/guide``) names a page of a JS app
        if page not in self._targets:  # a big site has ~100k links to a few hundred pages
            self._targets[page] = self.anchors.get(canonical(page))
        chapter = self._targets[page]
        fragment = url.partition("#")[2]
        if chapter is None or not fragment or hash_route(url):
            return chapter
        return self.sections[chapter].get(unquote(fragment), chapter)

    def render_body(
        self, markdown: str, shift: int, href: Callable[[str, str], str | None] | None = None
    ) -> str:
        """Headings moved ``shift`` levels and links rewritten, in one pass over the prose.

        A link to a crawled page goes to ``href(anchor, url)`` (None: left as it is), by
        default the chapter's anchor in one document, ``#anchor``.
        """

        def replace(match: re.Match[str]) -> str:
            link = match.group(0)
            if href is None and link in self._rewritten:
                return self._rewritten[link]  # a link many pages make ("builtins#len")
            anchor = self._link_anchor(match)
            if anchor is None:
                new_link = link
            else:
                new = href(anchor, _link_url(match)) if href else f"#{anchor}"
                new_link = link if new is None else f"]({new}{match.group(2)})"
            if href is None:
                self._rewritten[link] = new_link
            return new_link

        def transform(text: str) -> str:
            return _LINK.sub(replace, _shift_marks(text, shift))

        return outside_fences(markdown, transform)

    def _link_anchor(self, match: re.Match[str]) -> str | None:
        """The in-book anchor of a Markdown link (a ``_LINK`` match), if it has one."""
        url = _link_url(match)
        return self.link_target(url) if url.startswith("http") else None


def _link_url(match: re.Match[str]) -> str:
    return match.group(1).strip("<>")


def chapter_parts(
    book: Book,
    chapter: Chapter,
    level: int,
    href: Callable[[str, str], str | None] | None = None,
    *,
    marks: bool = True,
) -> tuple[str, str]:
    """(heading line, body) of a chapter whose heading is at ``level``; with ``marks``,
    its section marks in the body (see the module's docstring).

    When the page opens with its top-level heading (a Sphinx page's h1, a DocBook
    section's h2), that heading becomes the chapter heading; otherwise the page title does,
    and the page's own headings go below it. Links are rewritten by ``render_body``.
    """
    markdown = chapter.document.markdown.strip()
    top = top_heading_level(markdown)
    opens_with_top = bool(top) and markdown.startswith("#" * (top or 0) + " ")
    shift = ((level if opens_with_top else level + 1) - top) if top else 0
    sections = book.marks(chapter.ref.anchor) if marks else {}
    marked, unplaced = mark_sections(
        markdown, chapter.document, sections, skip_first=opens_with_top
    )
    body = book.render_body(marked, shift, href)
    if opens_with_top:
        heading, _, body = body.partition("\n")
    else:
        heading = f"{'#' * level} {escape_markdown(chapter.ref.title)}"
    top_marks = "".join(f"{section_mark(anchor)}\n" for anchor in unplaced)
    return heading, (top_marks + "\n" + body.strip()).strip()


def chapter_of(anchor: str) -> str:
    """The chapter anchor of a chapter or section anchor."""
    return anchor.partition("--")[0]


def section_mark(anchor: str) -> str:
    """The element a section link lands on (``anchor`` is made of ``[A-Za-z0-9._-]``)."""
    return f'<a id="{anchor}"></a>'


def section_anchors(chapter: str, ids: tuple[str, ...], top: str | None) -> dict[str, str]:
    """{id: ``<chapter>--<id>``}, the id reduced to characters safe in HTML, XML and URLs,
    unique within the chapter; ``top`` (the page's opening heading) is the chapter
    itself."""
    out: dict[str, str] = {top: chapter} if top else {}
    used: set[str] = set()
    for raw in ids:
        if raw == top:
            continue
        base = _ID_JUNK.sub("-", raw).strip("-") or "section"
        anchor, n = f"{chapter}--{base}", 2
        while anchor in used:
            anchor, n = f"{chapter}--{base}-{n}", n + 1
        used.add(anchor)
        out[raw] = anchor
    return out


def mark_sections(
    markdown: str,
    document: Document,
    sections: dict[str, str],
    *,
    skip_first: bool,
) -> tuple[str, list[str]]:
    """``markdown`` (``document.markdown`` stripped) with a ``section_mark`` for each id
    that has a section anchor, and the anchors not placed (not found, or the first
    heading's when ``skip_first``: it becomes the chapter title). An id with a place
    (``Document.places``) is marked there; headings, and terms of pages stored before
    places were kept, are found in the Markdown in order, by their text without markup,
    and marked on a line before them."""
    if not sections:
        return markdown, []
    placed: set[str] = set()
    if document.places:
        markdown = _mark_places(markdown, document, sections, placed, skip_first=skip_first)
        if placed.issuperset(sections.values()):
            return markdown, []  # every section marked where its element was
    headings = _InOrder([(h.text, h.anchor) for h in document.headings])
    terms = _InOrder([(t.text, t.anchor) for t in document.terms])
    first = skip_first

    def transform(text: str) -> str:
        nonlocal first
        out: list[str] = []
        after_blank = True
        for line in text.split("\n"):
            found: str | None = None
            heading = _HEADING_TEXT.match(line)
            if heading is not None:
                if first:
                    first = False
                else:
                    found = headings.next(plain_text(heading.group(1)))
            elif after_blank and _PARAGRAPH.match(line) and not terms.done:
                found = terms.next(plain_text(line) if "](" in line else line)
            anchor = sections.get(found) if found else None
            if anchor is not None and anchor not in placed:
                placed.add(anchor)
                out.extend((section_mark(anchor), ""))
            out.append(line)
            after_blank = not line.strip()
        return "\n".join(out)

    marked = outside_fences(markdown, transform)
    return marked, [a for a in sections.values() if a not in placed]


def _mark_places(
    markdown: str,
    document: Document,
    sections: dict[str, str],
    placed: set[str],
    *,
    skip_first: bool,
) -> str:
    """``markdown`` (``document.markdown`` stripped) with a mark for each section whose id
    has a place: a line of its own when the place opens a block (a paragraph or heading
    line after a blank one), else inline, right where the element's text begins. With
    ``skip_first``, places on the opening heading's line are left for the chapter's top."""
    lead = len(document.markdown) - len(document.markdown.lstrip())
    first_line = markdown.find("\n") if skip_first else -1
    spots: list[tuple[int, str]] = []
    for raw, at in document.places.items():
        anchor = sections.get(raw)
        offset = at - lead
        if anchor is None or anchor in placed or not 0 <= offset <= len(markdown):
            continue
        if skip_first and (first_line < 0 or offset <= first_line):
            continue
        spots.append((offset, anchor))
        placed.add(anchor)
    if not spots:
        return markdown
    spots.sort()
    out: list[str] = []
    position = 0
    for offset, anchor in spots:
        start = markdown.rfind("\n", 0, offset) + 1
        opens_block = start == 0 or markdown.startswith("\n\n", start - 2)
        if opens_block and _BLOCK_PREFIX.fullmatch(markdown, start, offset):
            out.append(markdown[position:start])
            out.append(f"{section_mark(anchor)}\n\n")
            position = start
        else:
            out.append(markdown[position:offset])
            out.append(section_mark(anchor))
            position = offset
    out.append(markdown[position:])
    return "".join(out)


class _InOrder:
    """Texts (with their ids) expected in this order: ``next(text)`` finds the first one
    after the last found with that text, and gives its id."""

    def __init__(self, items: list[tuple[str, str | None]]) -> None:
        self._ids = [anchor for _, anchor in items]
        self._at: dict[str, list[int]] = {}
        for i, (text, _) in enumerate(items):
            self._at.setdefault(_match_key(text), []).append(i)
        self._position = 0

    @property
    def done(self) -> bool:
        return self._position >= len(self._ids)

    def next(self, text: str) -> str | None:
        candidates = self._at.get(_match_key(text), [])
        k = bisect.bisect_left(candidates, self._position)
        if k == len(candidates):
            return None
        self._position = candidates[k] + 1
        return self._ids[candidates[k]]


def _match_key(text: str) -> str:
    return _MATCH_JUNK.sub("", text.lower())


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _contents_entries(items: list[ContentsItem], chapters: list[ChapterRef]) -> list[ContentsEntry]:
    by_key = {ref.key: ref for ref in chapters}
    out: list[ContentsEntry] = []
    parts: list[tuple[int, str]] = []
    for item in items:
        if item.key is None:
            parts.append((item.depth, item.label))
            continue
        ref = by_key[item.key]
        out.extend(ContentsEntry(depth, label, ref.anchor, False) for depth, label in parts)
        parts.clear()
        out.append(ContentsEntry(item.depth, ref.title, ref.anchor))
    return out


def _chapter_refs(refs: list[PageRef], start_url: str) -> list[ChapterRef]:
    folder = scope_folder(start_url)
    used: set[str] = set()
    out: list[ChapterRef] = []
    for ref in refs:
        path = unquote(urlsplit(ref.url or ref.key).path)
        path = path[len(folder) :] if path.startswith(folder) else path
        path = re.sub(r"\.(x?html?|php|aspx?)$", "", path) + hash_route(ref.url or ref.key)
        slug = _SLUG_JUNK.sub("-", path.lower()).strip("-") or "index"
        anchor, n = slug, 2
        while anchor in used:
            anchor, n = f"{slug}-{n}", n + 1
        used.add(anchor)
        out.append(ChapterRef(ref.key, ref.url or ref.key, ref.title or path or ref.key, anchor))
    return out


def top_heading_level(markdown: str) -> int | None:
    """The highest (smallest) heading level used outside code blocks, if any."""
    levels: list[int] = []

    def collect(text: str) -> str:
        levels.extend(map(len, _HEADING_LINE.findall("\n" + text)))
        return text

    outside_fences(markdown, collect)
    return min(levels) if levels else None


def _shift_marks(text: str, by: int) -> str:
    """Move every heading of a prose chunk ``by`` levels (kept within 1..6)."""
    if not by:
        return text
    shifted = _HEADING_MARKS.sub(
        lambda m: "\n" + "#" * max(1, min(6, len(m.group(1)) + by)), "\n" + text
    )
    return shifted[1:]

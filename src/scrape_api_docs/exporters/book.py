"""The shared book model: chapters in reading order, stable anchors, rewritten links.

Every exporter builds on this: it computes the order and anchors from light page
records, then yields chapters one at a time from the page store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from scrape_api_docs.crawler.urls import canonical, hash_route, page_url, scope_folder
from scrape_api_docs.extract.document import Document
from scrape_api_docs.extract.markdown import outside_fences
from scrape_api_docs.extract.order import PageRef, reading_order
from scrape_api_docs.storage.pages import PageStore

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_LINK = re.compile(r"\]\((<[^>\n]*>|[^)\s]+)((?:\s+\"[^\"\n]*\")?)\)")
_HEADING_LINE = re.compile(r"^(#{1,6})\s", re.M)
_HEADING_MARKS = re.compile(r"^(#{1,6})(?=[ \t])", re.M)


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


class Book:
    def __init__(self, store: PageStore, start_url: str, title: str | None = None) -> None:
        self.store = store
        self.start_url = start_url
        refs = store.refs()
        by_key = {ref.key: ref for ref in refs}
        order = reading_order(refs, canonical(start_url))
        self.chapters = _chapter_refs([by_key[key] for key in order], start_url)
        self.anchors = {ref.key: ref.anchor for ref in self.chapters}
        self.anchors_set = frozenset(self.anchors.values())
        self._targets: dict[str, str | None] = {}
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

    def link_target(self, url: str) -> str | None:
        """The in-book anchor for a link to a crawled page, else None."""
        page = page_url(url)  # a hash route (``#/guide``) names a page of a JS app
        if page not in self._targets:  # a big site has ~100k links to a few hundred pages
            self._targets[page] = self.anchors.get(canonical(page))
        return self._targets[page]

    def render_body(
        self, markdown: str, shift: int, href: Callable[[str, str], str | None] | None = None
    ) -> str:
        """Headings moved ``shift`` levels and links rewritten, in one pass over the prose.

        A link to a crawled page goes to ``href(anchor, url)`` (None: left as it is), by
        default the chapter's anchor in one document, ``#anchor``.
        """

        def replace(match: re.Match[str]) -> str:
            target = match.group(1).strip("<>")
            anchor = self.link_target(target) if target.startswith("http") else None
            if anchor is None:
                return match.group(0)
            new = href(anchor, target) if href else f"#{anchor}"
            return match.group(0) if new is None else f"]({new}{match.group(2)})"

        def transform(text: str) -> str:
            return _LINK.sub(replace, _shift_marks(text, shift))

        return outside_fences(markdown, transform)


def chapter_parts(
    book: Book,
    chapter: Chapter,
    level: int,
    href: Callable[[str, str], str | None] | None = None,
) -> tuple[str, str]:
    """(heading line, body) of a chapter whose heading is at ``level``.

    When the page opens with its top-level heading (a Sphinx page's h1, a DocBook
    section's h2), that heading becomes the chapter heading; otherwise the page title does,
    and the page's own headings go below it. Links are rewritten by ``render_body``.
    """
    markdown = chapter.document.markdown.strip()
    top = top_heading_level(markdown)
    opens_with_top = bool(top) and markdown.startswith("#" * (top or 0) + " ")
    shift = ((level if opens_with_top else level + 1) - top) if top else 0
    body = book.render_body(markdown, shift, href)
    if opens_with_top:
        heading, _, body = body.partition("\n")
        return heading, body.strip()
    return f"{'#' * level} {escape_link_text(chapter.ref.title)}", body.strip()


def escape_link_text(text: str) -> str:
    """``text`` safe inside ``[...]`` and on one line."""
    return text.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


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
        levels.extend(len(m.group(1)) for m in _HEADING_LINE.finditer(text))
        return text

    outside_fences(markdown, collect)
    return min(levels) if levels else None


def _shift_marks(text: str, by: int) -> str:
    """Move every heading of a prose chunk ``by`` levels (kept within 1..6)."""
    if not by:
        return text
    return _HEADING_MARKS.sub(lambda m: "#" * max(1, min(6, len(m.group(1)) + by)), text)

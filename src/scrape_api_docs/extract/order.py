"""The site's reading order, from its own navigation.

Each page's table of contents (Sphinx toctree, MkDocs/Docusaurus/mdBook sidebar, DocBook
toc) lists its children in the author's order. A depth-first walk from the start page
over those lists gives the book order: for Sphinx that is index -> tutorial/index ->
tutorial pages -> library/index -> ..., for a site whose every page carries the full
sidebar it is simply the sidebar order. Pages the walk never reaches keep crawl order
at the end. The start page without navigation falls back to its content links.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scrape_api_docs.crawler.urls import canonical


@dataclass(frozen=True)
class PageRef:
    key: str
    """Canonical URL of the page."""
    toc_links: tuple[str, ...]
    content_links: tuple[str, ...] = ()
    title: str = ""
    url: str = ""
    anchors: tuple[str, ...] = ()
    """The ids of the page's headings (or of their sections) and terms: what a link to
    ``page#id`` may land on."""
    top_anchor: str | None = None
    """The id of the heading the page opens with, when it is of the page's top level: a
    link to it is a link to the page."""
    page_title: str = ""
    """The page's ``<title>``."""
    headings: tuple[tuple[int, str, str | None], ...] = ()
    """(level, text, id) of the page's headings: what its title is checked against."""


def link_anchors(
    headings: Sequence[tuple[int, str | None]], terms: Sequence[str]
) -> tuple[tuple[str, ...], str | None]:
    """``PageRef.anchors`` and ``PageRef.top_anchor`` from a page's headings (level, id)
    and its terms' ids."""
    anchors = tuple(dict.fromkeys([*(a for _, a in headings if a), *terms]))
    top = min((level for level, _ in headings), default=0)
    opening = headings[0][1] if headings and headings[0][0] == top else None
    return anchors, opening


def reading_order(pages: Iterable[PageRef], start_key: str) -> list[str]:
    """Canonical keys of ``pages`` in reading order (``pages`` come in crawl order)."""
    by_key: dict[str, PageRef] = {}
    for page in pages:
        by_key.setdefault(page.key, page)
    order: list[str] = []
    placed: set[str] = set()

    def children(page: PageRef) -> list[str]:
        links = page.toc_links or (page.content_links if page.key == start_key else ())
        return [canonical(link) for link in links]

    def walk(key: str) -> None:
        # Iterative DFS (a docs site can be deeper than Python's recursion limit).
        stack = [key]
        while stack:
            current = stack.pop()
            if current in placed or current not in by_key:
                continue
            placed.add(current)
            order.append(current)
            kids = [k for k in children(by_key[current]) if k not in placed and k in by_key]
            stack.extend(reversed(kids))

    if start_key in by_key:
        walk(start_key)
    for key in by_key:
        if key not in placed:
            walk(key)
    return order

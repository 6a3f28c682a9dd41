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

from scrape_api_docs.extract.navtree import SELF
from scrape_api_docs.urls import canonical


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
    outline: tuple[tuple[int, str, str], ...] = ()
    """The nesting of the page's navigation (``extract.navtree.outline``)."""
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


@dataclass(frozen=True)
class ContentsItem:
    """One line of a book's contents: a page (``key`` is its canonical URL) or a part of the
    site's navigation that is no page (``key`` None, ``label`` its text), ``depth`` levels
    in."""

    depth: int
    key: str | None
    label: str = ""


_PART = "part:"
"""Prefix of a part's node id (canonical page URLs never start with it)."""


def contents(pages: Sequence[PageRef], order: Sequence[str], start_key: str) -> list[ContentsItem]:
    """The book's contents: ``order`` (the reading order's keys), each page at the depth the
    site nests it, with the parts (section labels) that hold them.

    Where a page sits comes from the sites' navigation outlines (``PageRef.outline``), read
    in reading order: an entry of a site navigation sits under the entry it is nested in
    (none: the top level), an entry of a list inside a page's content (a toctree) under
    that page. The first place given wins, except that a place under something beats "top
    level" (a section's own index lists its pages; the site's navigation may show the
    section collapsed). A page no navigation places goes under the nearest crawled page
    whose URL is a folder above its own; the start page and the pages directly under it are
    the top level. Depth then follows what is open in the contents: a page whose parent is
    not the entry just above it (or one of its ancestors) goes up to the nearest that is,
    so the contents stay in reading order and never skip a level.
    """
    by_key = {page.key: page for page in pages}
    parent: dict[str, str | None] = {}
    labels: dict[str, str] = {}
    # Every page of a site carries the same sidebar: ~50 outlines list the Python docs'
    # ~500 pages 25,000 times. Each distinct URL is made canonical once.
    keys: dict[str, str] = {}
    for key in order:
        page = by_key.get(key)
        if page is not None and page.outline:
            _place(page, parent, labels, keys)
    _place_by_path(order, parent)
    out: list[ContentsItem] = []
    stack: list[str] = []
    for key in order:
        chain = _ancestors(key, parent, start_key)
        at = max((i for i, node in enumerate(chain) if node in stack), default=-1)
        if at >= 0:
            del stack[stack.index(chain[at]) + 1 :]
        else:
            stack.clear()
        for node in chain[at + 1 :]:
            if node.startswith(_PART):  # a part opens where its first page is
                out.append(ContentsItem(len(stack), None, labels[node]))
                stack.append(node)
        out.append(ContentsItem(len(stack), key))
        stack.append(key)
    return out


def _place(
    page: PageRef, parent: dict[str, str | None], labels: dict[str, str], keys: dict[str, str]
) -> None:
    """Record where ``page``'s outline places its entries (see ``contents``); ``keys``
    holds the canonical form of the URLs seen so far."""
    site_nav = any(url == SELF for _, url, _ in page.outline)
    open_at: list[tuple[int, str | None]] = []  # (level, node) of the entries above
    for level, url, label in page.outline:
        while open_at and open_at[-1][0] >= level:
            open_at.pop()
        above = open_at[-1][1] if open_at else (None if site_nav else page.key)
        if url == SELF:
            node: str | None = page.key
        elif url:
            node = keys.get(url)
            if node is None:
                node = keys[url] = canonical(url)
        else:
            node = f"{_PART}{above or ''}\x00{label}"
            labels.setdefault(node, label)
        if node is not None and node != above:
            known = parent.get(node, _UNSET)
            if known is _UNSET or (known is None and above is not None):
                parent[node] = above
        open_at.append((level, node))


_UNSET = "\x00unset"


def _place_by_path(order: Sequence[str], parent: dict[str, str | None]) -> None:
    """Pages no outline placed: under the nearest crawled folder page above them."""
    folders: dict[str, str] = {}
    for key in order:
        folder = _folder(key)
        if folder is not None:
            folders.setdefault(folder, key)
    for key in order:
        if key in parent:
            continue
        base = (_folder(key) or key.split("#", 1)[0].split("?", 1)[0]).rstrip("/")
        up = base.rsplit("/", 1)[0] + "/"
        while up.count("/") > 3:  # scheme://host/ is as far as it goes
            found = folders.get(up)
            if found is not None and found != key:
                parent[key] = found
                break
            up = up.rstrip("/").rsplit("/", 1)[0] + "/"


def _folder(key: str) -> str | None:
    """The folder URL a page is the index of (``x/`` or ``x/index.html``), else None."""
    path = key.split("#", 1)[0].split("?", 1)[0]
    if path.endswith("/"):
        return path
    head, _, name = path.rpartition("/")
    return head + "/" if name.startswith("index.") else None


def _ancestors(key: str, parent: dict[str, str | None], start_key: str) -> list[str]:
    """``key``'s ancestors, the outermost first (the start page is the top level)."""
    chain: list[str] = []
    if key == start_key:
        return chain
    seen = {key}
    node = parent.get(key)
    while node is not None and node != start_key and node not in seen and len(chain) < 32:
        chain.append(node)
        seen.add(node)
        node = parent.get(node)
    chain.reverse()
    return chain

"""The nesting of a page's navigation: which entry sits under which.

A site's navigation is a tree of lists: an entry (``<li>``) holds its link and, nested in
it, the list of what lies below it (DocBook: a ``<dt>`` entry, its list in the ``<dd>``
after it). That shape, not a theme's class names, says how the site nests its pages:
Sphinx's toctree (``li > ul > li``), MkDocs' sections, Docusaurus' categories and mdBook's
chapters are all written that way.

``outline`` reads one navigation block as entries ``(level, url, label)`` in document order:
``level`` is the number of entries it is nested in, ``url`` the page an entry links to
(fragment dropped; ``""`` for a part of the navigation that is no page of its own: a
section label such as MkDocs' "Reference", or a category whose link merely opens its first
child), ``label`` the text of such a part. Two kinds of block are told apart the way a
reader does: a *site navigation* (in a navigation landmark, or listing the page itself)
places every page of the site; a list of links inside the content (a Sphinx toctree on an
index page) lists the pages *below* this one. The page's own entry is ``SELF`` (a site
navigation in a landmark that does not link the page gets one at its end), so
``extract.order.contents`` tells the two kinds apart from the stored outline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from selectolax.lexbor import LexborNode

from scrape_api_docs.urls import page_url

OutlineEntry = tuple[int, str, str]
"""(nesting level, page URL or "" for a part, the part's text)."""

_LISTS = frozenset({"ul", "ol"})
_ENTRIES = frozenset({"li", "dt"})
_NESTING = frozenset({"li", "dd"})
"""What an entry is nested in: a list item, or a definition (DocBook's ``dt``/``dd``
contents)."""
_LANDMARKS = frozenset({"nav", "aside", "header", "footer"})
MAX_LABEL = 120
"""Characters of a part's text kept (a label is a few words; this bounds a broken one)."""


def outline(
    blocks: Sequence[LexborNode], resolve: Callable[[str], str | None], page: str
) -> list[OutlineEntry]:
    """The entries of the navigation ``blocks`` (one site's navigation may come in more
    than one element) for the page at ``page``."""
    entries: list[OutlineEntry] = []
    site_nav = False
    for block in blocks:
        site_nav = site_nav or _in_landmark(block)
        items = block.css("li, dt")
        if not items:  # links side by side: one flat list
            for a in block.css("a[href]"):
                url = _target(a, resolve)
                if url is not None:
                    entries.append((0, SELF if url == page else url, ""))
            continue
        counts: Counter[str | None] | None = None
        for li in items:
            level = _level(li, block)
            own = _own_link(li)
            url = _target(own, resolve) if own is not None else None
            if url is None and own is not None and not _lists_other(li, resolve, page):
                url = page  # a link to "#" over the page's own sections: the page itself
            if url == page:  # the page itself (its own sections may be nested under it)
                entries.append((level, SELF, ""))
                continue
            nested = li.tag == "li" and _has_list(li)
            if nested and url is not None and own is not None and counts is None:
                counts = _link_counts(block, resolve)
            if nested and (url is None or _lists_again(li, own, resolve, counts)):
                # A part: no page of its own, or a link that merely opens a child of it.
                text = _part_text(li) or (_clean(own.text(deep=True)) if own is not None else "")
                if text:
                    entries.append((level, "", text[:MAX_LABEL]))
                continue
            if url is not None:
                entries.append((level, url, ""))
    if site_nav and not any(url == SELF for _, url, _ in entries):
        entries.append((0, SELF, ""))
    return entries


SELF = "."
"""The url of the entry that marks a site navigation (the page itself)."""


def _target(a: LexborNode, resolve: Callable[[str], str | None]) -> str | None:
    """The page an entry's link goes to; None for a bare ``#`` (a toggle, not a page)."""
    href = (a.attributes.get("href") or "").strip()
    if href in ("", "#"):
        return None
    url = resolve(href)
    return page_url(url) if url else None


def _in_landmark(block: LexborNode) -> bool:
    node: LexborNode | None = block
    while node is not None and node.tag not in ("body", "html"):
        if node.tag in _LANDMARKS or node.attributes.get("role") == "navigation":
            return True
        node = node.parent
    return False


# Nodes are compared by ``mem_id``: ``==`` on selectolax nodes compares their HTML.
def _level(li: LexborNode, block: LexborNode) -> int:
    level = 0
    node = li.parent
    while node is not None and node.mem_id != block.mem_id and node.tag != "body":
        if node.tag in _NESTING:
            level += 1
        node = node.parent
    return level


def _owner(node: LexborNode) -> LexborNode | None:
    """The nearest entry (``li``, ``dt``) above ``node``."""
    up = node.parent
    while up is not None and up.tag not in _ENTRIES:
        up = up.parent
    return up


def _own_link(li: LexborNode) -> LexborNode | None:
    """The entry's own link: the first ``a[href]`` that no nested entry holds."""
    a = li.css_first("a[href]")
    if a is None:
        return None
    owner = _owner(a)
    # None when the first link belongs to a nested entry: this one has none.
    return a if owner is not None and owner.mem_id == li.mem_id else None


def _has_list(li: LexborNode) -> bool:
    return li.css_first("ul, ol") is not None


def _link_counts(block: LexborNode, resolve: Callable[[str], str | None]) -> Counter[str | None]:
    """How many links of ``block`` go to each URL (fragment kept)."""
    return Counter(resolve((a.attributes.get("href") or "").strip()) for a in block.css("a[href]"))


def _lists_again(
    li: LexborNode,
    own: LexborNode | None,
    resolve: Callable[[str], str | None],
    counts: Counter[str | None] | None,
) -> bool:
    """Whether the entry's own link is listed again below it, as it is (a category that
    links to its first child; a link to one of the page's sections is no such repeat).
    ``counts`` (``_link_counts`` of the navigation block): a link that is its block's only
    one to its URL is listed nowhere else, and the entry's links need not be walked (a
    toctree of a few hundred pages has as many nested entries)."""
    if own is None:
        return False
    mine = resolve((own.attributes.get("href") or "").strip())
    if counts is not None and counts[mine] < 2:
        return False
    for a in li.css("a[href]"):
        if a.mem_id != own.mem_id and resolve((a.attributes.get("href") or "").strip()) == mine:
            return True
    return False


def _lists_other(li: LexborNode, resolve: Callable[[str], str | None], page: str) -> bool:
    """Whether an entry lists pages other than ``page`` below it."""
    return any(_target(a, resolve) not in (None, page) for a in li.css("a[href]"))


def _part_text(li: LexborNode) -> str:
    """The entry's text without its nested lists (a section label)."""
    parts: list[str] = []
    child = li.child
    while child is not None:
        if child.is_text_node:
            parts.append(child.text_content or "")
        elif (
            child.is_element_node and child.tag not in _LISTS and child.css_first("ul, ol") is None
        ):
            parts.append(child.text(deep=True, separator=" "))
        child = child.next
    return _clean(" ".join(parts))


def _clean(text: str) -> str:
    return " ".join(text.split())

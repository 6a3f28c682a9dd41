"""The nesting of a page's navigation: which entry sits under which.

A site's navigation is a tree of lists: an entry (``<li>``) holds its link and, nested in
it, the list of what lies below it (DocBook: a ``<dt>`` entry, its list in the ``<dd>``
after it). That shape, not a theme's class names, says how the site nests its pages:
Sphinx's toctree (``li > ul > li``), MkDocs' sections, Docusaurus' categories and mdBook's
chapters are all written that way. A navigation of ``div``s and headings (VitePress: a
group is a heading, then a block of entries; an entry with children is its link, then a
block of deeper entries) is read from the same shape without list tags: ``_groups``.

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
        if not items:  # no list items: nesting from the groups of links (``_groups``)
            _groups(block, 0, entries, resolve, page)
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
    href = (a.attrs.get("href") or "").strip()
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
    return Counter(resolve((a.attrs.get("href") or "").strip()) for a in block.css("a[href]"))


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
    mine = resolve((own.attrs.get("href") or "").strip())
    if counts is not None and counts[mine] < 2:
        return False
    for a in li.css("a[href]"):
        if a.mem_id != own.mem_id and resolve((a.attrs.get("href") or "").strip()) == mine:
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


_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_INLINE = frozenset({"span", "em", "strong", "b", "i", "small", "code", "label"})


def _is_head(node: LexborNode) -> bool:
    """A link or a heading: what names an entry of a navigation made of blocks."""
    return node.tag in _HEADING_TAGS or (node.tag == "a" and "href" in node.attributes)


def _first_head(node: LexborNode) -> tuple[LexborNode, int] | None:
    """The first head in ``node`` (``node`` itself if it is one) and its depth below it."""
    if _is_head(node):
        return node, 0
    child = node.child
    while child is not None:
        if child.is_element_node:
            found = _first_head(child)
            if found is not None:
                return found[0], found[1] + 1
        child = child.next
    return None


def _heads(node: LexborNode) -> int:
    """How many heads ``node`` holds (a head inside a head, a link in a heading, counts
    once)."""
    if _is_head(node):
        return 1
    count, child = 0, node.child
    while child is not None:
        if child.is_element_node:
            count += _heads(child)
        child = child.next
    return count


def _groups(
    node: LexborNode,
    level: int,
    entries: list[OutlineEntry],
    resolve: Callable[[str], str | None],
    page: str,
) -> None:
    """The entries of a navigation made of blocks, not lists, nested by their shape:

    - an entry with children is a branch holding one head (its link or heading) followed
      by branches whose first head sits deeper than it (VitePress: ``div.item > a`` then
      ``div.items > div > div > a``); entries of one list sit side by side at one depth;
    - a heading followed, at its own depth, by links (``<h3>Guides</h3><a>..</a><a>..</a>``)
      holds them, up to the next heading of its rank or above.
    Links side by side with neither shape stay one flat list, as before."""
    branches: list[tuple[LexborNode, LexborNode, int]] = []  # (branch, first head, depth)
    child = node.child
    while child is not None:
        if child.is_element_node:
            found = _first_head(child)
            if found is not None:
                branches.append((child, found[0], found[1] + 1))
        child = child.next
    _run(branches, level, entries, resolve, page)


def _run(
    branches: list[tuple[LexborNode, LexborNode, int]],
    level: int,
    entries: list[OutlineEntry],
    resolve: Callable[[str], str | None],
    page: str,
) -> None:
    """The entries of sibling branches (each with its first head and that head's depth)."""
    i = 0
    while i < len(branches):
        branch, head, depth = branches[i]
        if _heads(branch) > 1:
            _groups(branch, level, entries, resolve, page)
            i += 1
            continue
        j = i + 1
        while j < len(branches) and _nested(head, depth, *branches[j]):
            j += 1
        _head_entry(head, level, j > i + 1, entries, resolve, page)
        _run(branches[i + 1 : j], level + 1, entries, resolve, page)
        i = j


def _nested(
    head: LexborNode, depth: int, branch: LexborNode, after: LexborNode, after_depth: int
) -> bool:
    """Whether ``branch``, which opens with the head ``after``, lies below the entry named
    ``head``: a block whose head sits deeper (a link wrapped in a ``<span>`` beside
    others is not), or anything after a heading up to one of its rank."""
    if after_depth > depth and branch.tag not in _INLINE:
        return True
    if head.tag not in _HEADING_TAGS:
        return False
    return after.tag not in _HEADING_TAGS or after.tag[1] > head.tag[1]


def _head_entry(
    head: LexborNode,
    level: int,
    parent: bool,
    entries: list[OutlineEntry],
    resolve: Callable[[str], str | None],
    page: str,
) -> None:
    link = head if head.tag == "a" else head.css_first("a[href]")
    url = _target(link, resolve) if link is not None else None
    if url == page:
        entries.append((level, SELF, ""))
    elif url is not None:
        entries.append((level, url, ""))
    elif parent:  # a group's label: a part of the navigation, no page of its own
        text = _clean(head.text(deep=True))
        if text:
            entries.append((level, "", text[:MAX_LABEL]))

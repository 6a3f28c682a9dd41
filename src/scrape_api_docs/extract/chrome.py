"""Page chrome inside the main content, found by structure rather than a theme's names.

- Landmarks and ARIA roles: navigation, search, banner, footer (``CHROME``).
- Text for screen readers only: ``.sr-only``, ``.visually-hidden``, ``.screen-reader-text``
  are not a theme's names but the accessibility convention shared across frameworks
  (Bootstrap, Tailwind, WordPress, Starlight, VitePress) for text a sighted reader never
  sees; a book is read by sight.
- Permalinks: a link with no words (``¶ # § 🔗`` or nothing) to the block it sits in (a
  heading, a section, a captioned listing) or to the heading it stands beside.
- Around a heading: the heading text wrapped in
  a link to itself (unwrapped), and in a wrapper that holds only the heading, a few words
  of links read before it or beside the page's title (a "Source" link, a breadcrumb
  trail); a section heading followed by its links (a "Read more" card) is content.
- Code: a line-number gutter (a column of consecutive integers, as a table cell beside
  the ``<pre>`` or as the first thing on every line of it); copy buttons are ``<button>``s,
  which go with every other control (``content.GLOBAL_JUNK``).
- A bar of short links side by side, and nothing else, opening or closing the content
  ("Prev Up Next"); a list of pages (a toctree) is content.
- A toggle's label: the ``<summary>`` of a disclosure open by default, with no heading,
  that says what clicking does ("Expand description"), is a control, its content is
  shown anyway; a label that names the block's content stays.
- A link that shows nothing once its icon is gone (an "edit this page" pencil).
- The page's own table of contents ("On this page", a jump bar of letters): a block of
  three or more links, all to places of this page that exist, whose text is nearly all
  those links; the book has its own contents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

from selectolax.lexbor import LexborNode

CHROME = "nav, footer, [role=navigation], [role=search], [role=banner], [role=contentinfo]"
SCREEN_READER_ONLY = ".sr-only, .visually-hidden, .screen-reader-text"

_HEADINGS = "h1, h2, h3, h4, h5, h6"
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_PERMALINK_WORDS = frozenset({"link", "permalink"})
_INVISIBLE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
_WORD = re.compile(r"\w")
SIDE_LINK_WORDS = 3
"""Words a link beside a heading (in the heading's own wrapper) may have to be chrome."""
SIDE_LINKS = 3


def _visible(node: LexborNode) -> str:
    return _INVISIBLE.sub(" ", node.text(deep=True, separator="")).strip()


def _symbol_only(text: str) -> bool:
    """No words: nothing, or a mark such as ``¶ # § 🔗`` (or the words "link" and
    "permalink", which some generators print there)."""
    return _WORD.search(text) is None or text.lower() in _PERMALINK_WORDS


def _picture(node: LexborNode) -> bool:
    """Whether ``node`` shows an image of its own (an inline ``data:`` icon is none)."""
    return any(not (img.attrs.get("src") or "").startswith("data:") for img in node.css("img"))


def drop_chrome(content: LexborNode) -> None:
    for node in content.css(f"{CHROME}, {SCREEN_READER_ONLY}"):
        node.decompose()


def _own_ids(heading: LexborNode) -> set[str]:
    """The ids a permalink of ``heading`` may point to: its own, its wrapper's (Sphinx and
    rustdoc put the id on the section)."""
    ids = {heading.id or ""}
    parent = heading.parent
    if parent is not None:
        ids.add(parent.id or "")
    ids.discard("")
    return ids


def _fragment(a: LexborNode) -> str:
    return (a.attrs.get("href") or "").strip().removeprefix("#")


def drop_permalinks(content: LexborNode) -> None:
    """Permalinks: a link with no words to the block it sits in (to the id of one of its
    ancestors: a heading, a section, a captioned code block), or, inside a heading or a
    term, to any place of the page; or right beside a heading, to it."""
    for a in content.css("a[href^='#']"):
        target = _fragment(a)
        if a.parent is None or not target or not _symbol_only(_visible(a)) or _picture(a):
            continue
        up: LexborNode | None = a.parent
        while up is not None and up.mem_id != content.mem_id:
            if up.id == target:
                a.decompose()
                break
            up = up.parent
    for heading in content.css(f"{_HEADINGS}, dt"):
        if heading.parent is None:
            continue
        own = _own_ids(heading)
        for a in heading.css("a[href^='#']"):
            text = _visible(a)
            if _symbol_only(text):
                a.decompose()
            elif _fragment(a) in own and text == _visible(heading):
                a.unwrap()  # the heading's text as a link to itself (mdBook)
        for side in (heading.prev, heading.next):
            while side is not None and side.is_text_node and not (side.text_content or "").strip():
                side = side.prev if side is heading.prev else side.next
            if (
                side is not None
                and side.tag == "a"
                and (side.attrs.get("href") or "").startswith("#")
                and _fragment(side) in own
                and _symbol_only(_visible(side))
            ):
                side.decompose()


def drop_heading_chrome(content: LexborNode) -> None:
    """In a block that holds one heading and, beside it, only a few short links (rustdoc's
    "Source" links and breadcrumb trail), the links go: they are the page's controls.

    Controls are read before the heading (a breadcrumb trail above it, a link floated to
    its right), or sit beside the page's own title (``<h1>``). Links that only follow a
    section's heading are what the block is for: a card's "Read more" stays."""
    for heading in content.css(_HEADINGS):
        parent = heading.parent
        if parent is None or parent.mem_id == content.mem_id:
            continue
        kids = [c for c in parent.iter() if c.is_element_node]
        others = [c for c in kids if c.mem_id != heading.mem_id]
        loose = "".join(
            c.text_content or "" for c in parent.iter(include_text=True) if c.is_text_node
        )
        if not others or _letters(loose) != 0 or not all(_side_links(c) for c in others):
            continue
        if heading.tag != "h1" and kids[0].mem_id == heading.mem_id:
            continue  # a card: a section's heading, then its links
        for other in others:
            links = _links(other)
            if _outside(str.isalnum, other, links) == 0:
                other.decompose()
            else:  # "1.0.0 · Source": the version stays, the link goes
                for a in links:
                    a.decompose()


def _side_links(node: LexborNode) -> bool:
    if node.tag in _HEADING_TAGS or node.css_first(f"{_HEADINGS}, img, pre, table, p"):
        return False
    links = _links(node)
    if len(links) > SIDE_LINKS or not _to_other_places(links):
        return False  # no link, or one to a place of this page (a jump bar): not controls
    # Digits may stand beside them (rustdoc's "1.0.0 · Source").
    return _outside(str.isalpha, node, links) == 0


def _links(node: LexborNode) -> list[LexborNode]:
    """``node`` itself when it is a link, else the links in it."""
    return [node] if node.tag == "a" else node.css("a")


def _to_other_places(links: list[LexborNode]) -> bool:
    """Every one of ``links`` leads away from this place of the page (none is empty or a
    ``#fragment`` of the page)."""
    hrefs = [(a.attrs.get("href") or "").strip() for a in links]
    return not any(not h or h.startswith("#") for h in hrefs)


def _outside(kind: Callable[[str], bool], node: LexborNode, links: list[LexborNode]) -> int:
    """Characters of ``kind`` in ``node`` outside ``links``."""
    return _count(kind, node) - sum(_count(kind, a) for a in links)


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _count(kind: Callable[[str], bool], node: LexborNode) -> int:
    return sum(map(kind, node.text(deep=True)))


TOGGLE_WORDS = frozenset(
    {"expand", "collapse", "show", "hide", "toggle", "open", "close", "more", "less"}
)
"""Verbs of a disclosure's control: a label that starts with one says what clicking does."""
TOGGLE_LABEL_WORDS = 4


def drop_open_toggle_labels(content: LexborNode) -> None:
    """The label of a disclosure open by default, when it is a control ("Expand
    description": a few words that start with a verb of showing, no heading); a label that
    names what the block holds ("Example: a two-level cache") is content and stays."""
    for summary in content.css("details[open] > summary"):
        if summary.css_first(_HEADINGS) is not None:
            continue
        words = _visible(summary).casefold().split()
        if not words or (words[0] in TOGGLE_WORDS and len(words) <= TOGGLE_LABEL_WORDS):
            summary.decompose()


def drop_empty_links(content: LexborNode) -> None:
    for a in content.css("a[href]"):
        if a.parent is None or _visible(a) or a.css_first("img") is not None:
            continue
        if a.id or a.attributes.get("name"):
            del a.attrs["href"]  # still a place other pages link to
        else:
            a.decompose()


def _integers(texts: list[str]) -> bool:
    """A column of two or more consecutive integers."""
    if len(texts) < 2 or not all(t.isdigit() for t in texts):
        return False
    numbers = [int(t) for t in texts]
    return all(b == a + 1 for a, b in pairwise(numbers))


def drop_gutter_tables(content: LexborNode) -> None:
    """A table of one row, a column of line numbers beside a cell with the code: the code."""
    for table in content.css("table"):
        rows = table.css("tr")
        if len(rows) != 1 or table.parent is None:
            continue
        cells = [c for c in rows[0].iter() if c.is_element_node and c.tag in ("td", "th")]
        if len(cells) != 2:
            continue
        numbers, code = cells
        if code.css_first("pre") is None or not _integers(numbers.text(deep=True).split()):
            continue
        table.replace_with(code, move=True)


def drop_line_numbers(lines: list[LexborNode]) -> None:
    """Each line opens with its number (Pygments' inline numbers, Doxygen's): the numbers
    go when every line has one and they count up by one."""
    firsts = [_first_text(line) for line in lines]
    if any(f is None for f in firsts):
        return
    found = [f for f in firsts if f is not None]
    if _integers([_visible(f) for f in found]):
        for node in found:
            node.decompose()


def _first_text(node: LexborNode) -> LexborNode | None:
    """The first element of ``node`` with text and no element inside (a line's first
    token); None when text comes before any element."""
    child = node.child
    while child is not None:
        if child.is_text_node:
            if (child.text_content or "").strip():
                return None
        elif child.is_element_node and _visible(child):
            if child.child is not None and any(c.is_element_node for c in child.iter()):
                return _first_text(child)
            return child
        child = child.next
    return None


def pre_lines(pre: LexborNode) -> list[LexborNode]:
    """Line numbers inside a ``<pre>``: the elements that open its lines (after each line
    break in its text), when every non-empty line opens with one."""
    out: list[LexborNode] = []
    at_start = True
    for node in pre.traverse(include_text=True):
        if node.is_text_node:
            text = node.text_content or ""
            if not text:
                continue
            if text.strip() and at_start:
                return []  # a line that opens with text: no gutter
            if text.strip():
                at_start = text.endswith("\n")
            elif "\n" in text:
                at_start = True
            continue
        if at_start and node.is_element_node and _is_leaf(node) and _visible(node):
            out.append(node)
            at_start = False
    return out


def _is_leaf(node: LexborNode) -> bool:
    return not any(c.is_element_node for c in node.iter())


def drop_pre_gutters(content: LexborNode) -> None:
    for pre in content.css("pre"):
        lines = [line.lstrip() for line in (pre.text(deep=True) or "").split("\n")]
        if not all(line[:1].isdigit() for line in lines if line):
            continue  # a line that does not open with a digit: no gutter (most code)
        found = pre_lines(pre)
        if _integers([_visible(n) for n in found]) or _one_line_gutter(found):
            for node in found:
                node.decompose()


def _one_line_gutter(found: list[LexborNode]) -> bool:
    """A one-line listing numbered "1", the number glued to the code after it
    (``<span>1</span>import os``): no token of code is a number run into a word."""
    if len(found) != 1 or _visible(found[0]) != "1":
        return False
    after = found[0].next
    text = ((after.text_content if after.is_text_node else after.text()) if after else "") or ""
    return bool(text) and (text[0].isalpha() or text[0] == "_")


def drop_link_bars(content: LexborNode) -> None:
    """A bar of links side by side that opens or closes the content, with no words of its
    own ("Prev Up Next", "« previous | up | next »"): the site's navigation."""
    kids = [k for k in content.iter() if k.is_element_node]
    for node in {k.mem_id: k for k in kids[:1] + kids[-1:]}.values():
        if _link_bar(node):
            node.decompose()


def _link_bar(node: LexborNode) -> bool:
    if node.css_first(f"li, table, img, pre, {_HEADINGS}") is not None:
        return False  # a list of pages (a toctree) is content
    links = _links(node)
    if len(links) < 2 or not _to_other_places(links):
        return False
    if any(len(_visible(a).split()) > SIDE_LINK_WORDS for a in links):
        return False
    return _outside(str.isalpha, node, links) == 0


PAGE_TOC_LINKS = 3
"""Links to places of the page a block needs to be the page's table of contents."""
PAGE_TOC_SHARE = 0.6
"""Share of its text (letters and digits) a page's table of contents has in its links."""
_TOC_TAGS = frozenset({"ul", "ol", "dl", "div", "nav", "details", "section", "p", "aside"})


def drop_page_tocs(content: LexborNode) -> None:
    """A block of links to places of this page (``href="#id"`` with that id in the
    content), at least ``PAGE_TOC_LINKS``, that holds no prose, code, table or heading
    (but its own title, first in it), has ``PAGE_TOC_SHARE`` of its text (its groups'
    labels aside) in those links, and stands outside the flow of the page: before its
    first section heading or after its last block of prose. That is the
    page's own table of contents (or a jump bar); an index of members inside a section
    (TypeDoc's) is the section's content. The outermost such block goes."""
    jumps = content.css("a[href^='#']")
    if len(jumps) < PAGE_TOC_LINKS:
        return  # most pages: one query
    blocks: dict[int, LexborNode] = {}  # the blocks around links to places of the page
    for a in jumps:
        up = a.parent
        while up is not None and up.mem_id != content.mem_id and up.mem_id not in blocks:
            if up.tag in _TOC_TAGS:
                blocks[up.mem_id] = up
            up = up.parent
    ids: set[str | None] | None = None
    flow: tuple[int, int, dict[int, int]] | None = None
    chosen: dict[int, LexborNode] = {}
    for block in blocks.values():
        if block.css_first("p, pre, table") is not None or any(
            h.tag == "h1" or h.mem_id != _first_element(block) for h in block.css(_HEADINGS)
        ):
            continue  # prose, code, a table, the page's title or a section of the page
        links = block.css("a[href]")
        if len(links) < PAGE_TOC_LINKS:
            continue
        if ids is None:
            ids = {n.id for n in content.css("[id]")}
            ids |= {n.attributes.get("name") for n in content.css("a[name]")}
        targets = [(a.attrs.get("href") or "").strip() for a in links]
        if not all(t.startswith("#") and t[1:] in ids for t in targets):
            continue
        labels = sum(_count(str.isalnum, s) for s in block.css("summary"))
        text = _count(str.isalnum, block) - labels  # a group's label ("Methods") aside
        if not text or sum(_count(str.isalnum, a) for a in links) < PAGE_TOC_SHARE * text:
            continue
        if flow is None:
            flow = _flow(content)
        first_heading, last_prose, position = flow
        start = position[block.mem_id]
        end = start + sum(1 for _ in block.traverse()) - 1
        if start < first_heading or last_prose <= end:
            chosen[block.mem_id] = block
    outermost = []  # found before any goes: what is inside goes with it
    for block in chosen.values():
        up = block.parent
        while up is not None and up.mem_id not in chosen:
            up = up.parent
        if up is None:
            outermost.append(block)
    for block in outermost:
        block.decompose()


def _first_element(node: LexborNode) -> int | None:
    """The ``mem_id`` of the first element in ``node`` that shows text (its title, when it
    opens with one: through a ``<summary>``)."""
    for child in node.traverse():
        if child.mem_id != node.mem_id and child.tag in _HEADING_TAGS:
            return child.mem_id
        if (
            child.is_element_node
            and child.mem_id != node.mem_id
            and _is_leaf(child)
            and _visible(child)
        ):
            return child.mem_id
    return None


def _flow(content: LexborNode) -> tuple[int, int, dict[int, int]]:
    """(position of the first section heading, of the last block of prose, positions of
    all elements) in the content's document order."""
    position: dict[int, int] = {}
    first_heading, last_prose = 1 << 60, -1
    for i, node in enumerate(content.traverse()):
        position[node.mem_id] = i
        if node.tag in _SECTION_HEADINGS and first_heading > i:
            first_heading = i
        if node.tag in _PROSE:
            last_prose = i
    return first_heading, last_prose, position


_SECTION_HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
_PROSE = frozenset({"p", "pre", "table"}) | _SECTION_HEADINGS

"""Main-content extraction: find the article, strip the chrome, normalise code and admonitions.

Works without per-site configuration on the docs generators that exist (Sphinx themes,
MkDocs / Material, Docusaurus, DocBook, rustdoc, mdBook, hand-written pages): the main
content found by landmarks and text density (``main_content``), then removal of what a
reader does not need in a book, found by landmarks, ARIA roles and structure
(``chrome``); the site's template, learned over its pages, cleans the rest when the book
is assembled (``template``). The output is clean HTML for the Markdown converter, plus
the page's title, links and navigation order.

No rule here is keyed to a theme's class list: the site's navigation is a list of pages
in the flow or in a navigation landmark (``_toc_links``); tabs are ARIA's roles or a row of
labels over as many panels; consent banners are overlays that speak of consent; code
lines are block elements, or sibling elements of one shape, inside ``<pre>``;
admonitions are named by the vocabulary of their meaning (``ADMONITION_KINDS``).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrape_api_docs.extract import chrome
from scrape_api_docs.extract.document import Heading, Term
from scrape_api_docs.extract.lang import language_from_attrs
from scrape_api_docs.extract.layout import unwrap_layout_tables
from scrape_api_docs.extract.main_content import find_content, inside
from scrape_api_docs.extract.markdown import MAX_MARKS, image_allowed, link_allowed, mark
from scrape_api_docs.extract.navtree import OutlineEntry, outline
from scrape_api_docs.extract.nodes import adopt, element
from scrape_api_docs.extract.signatures import signature_headings
from scrape_api_docs.urls import Joiner, absolute, hash_route, page_url

# Page chrome anywhere in the document. ``button`` takes copy buttons out of code blocks.
GLOBAL_JUNK = (
    "script, style, noscript, template, link, meta, iframe, object, embed, canvas, "
    "form, button, input, select, textarea, dialog"
)

# Admonitions by the vocabulary of their meaning, not a theme's class list: a block whose
# class names a kind of remark (a whole class token: ``note``, ``warning``...), or that
# says it is one (a class word ``admonition``, ``callout``, ``alert``: the names
# generators and CSS frameworks share), or ARIA's ``role=note``. Words are split at
# ``-``, ``_`` and camelCase, so ``theme-admonition-tip`` and ``admonition_xJq3`` are
# admonitions, ``admonitionHeading_Gvgb`` (a part of one) is not.
ADMONITION_KINDS = frozenset(
    {"note", "notes", "warning", "tip", "caution", "danger", "important", "hint", "info"}
    | {"seealso", "attention", "error", "success", "todo", "example", "abstract", "quote"}
    | {"question", "bug", "failure", "summary"}
)
_ADMONITION_WORDS = ("admonition", "callout", "alert")
_PART_WORDS = frozenset({"heading", "title", "content", "body", "icon", "label", "text"})

_TITLE_WORDS = frozenset({"title", "heading", "label"})
_ADMONITION_BLOCKS = (
    ":is(div, aside, details):is("
    + ", ".join([f".{kind}" for kind in sorted(ADMONITION_KINDS)])
    + ", "
    + ", ".join(f"[class*={word} i]" for word in _ADMONITION_WORDS)
    + "), div[role=note]"
)
"""Blocks with a class of the vocabulary, or a class that holds one of its words
(``_admonition_kind`` then checks that it is a word of it): found in C, in one pass (a
selector per word and tag costs five times as much)."""
_ANY_KIND = re.compile(
    "|".join(sorted(ADMONITION_KINDS | set(_ADMONITION_WORDS), key=len, reverse=True)), re.I
)
_CLASS_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

NAV_LANDMARKS = "nav, [role=navigation], aside"
"""Where a site navigation sits: HTML's and ARIA's navigation landmarks, and ``aside``
(a sidebar: Furo's)."""
_FRAME = frozenset({"nav", "aside", "header", "footer"})
_FRAME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_LIST_TAGS = frozenset({"ul", "ol", "dl"})
PAGE_LIST_LINK_SHARE = 0.9
"""A list in the content is a list of pages (a toctree) when this share of its text is
in links to other pages."""

OVERLAYS = ", ".join(
    ["[role=dialog], [role=alertdialog], [aria-modal=true]"]
    + [f'[style*="position:{how}"], [style*="position: {how}"]' for how in ("fixed", "sticky")]
)
"""What floats over the page: dialogs (ARIA's roles, a modal), fixed or sticky blocks. Not
``[hidden]``: an inactive tab's panel is hidden too, and is content."""
_CONSENT_STEMS = ("cookie", "consent", "gdpr", "privacy")
_MAIN = "main, [role=main]"
CONSENT_WORDS = re.compile(r"\bcookies?\b|\bconsent\b|\bgdpr\b|\bprivacy\b", re.I)
"""The vocabulary of a consent banner: its meaning, in words, not a theme's names."""
_BANNER_MAX_TEXT = 800

# Lexbor checks the open-element stack on every block start tag, so parse time grows
# with the square of nesting depth (100,000 nested <div>s: 30 s). Pages with many block
# tags get their nesting capped first; ordinary pages skip the check (a few str.count).
_BLOCK_TAG_PROBES = ("<div", "<p>", "<p ", "<section", "<li>", "<li ", "<ul", "<ol", "<dl")
_NOT_BLOCK_PROBES = ("</", "<span", "<a ")
"""Tags that are no block's start (end tags, a highlighted listing's spans, links): a
large page has thousands, and fewer scans than ``_BLOCK_TAG_PROBES`` count them."""
_BLOCK_TAG = re.compile(
    r"<(/?)(?:div|p|section|li|ul|ol|dl|dd|blockquote|article|table)[\s>]", re.I
)
_SUSPICIOUS_BLOCK_TAGS = 5000
MAX_NESTING = 512
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*?(/?)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
    | {"track", "wbr"}
)

_WS = re.compile(r"\s+")
_WORD_START = re.compile(r"\w")
_WORD_END = re.compile(r"\w$")


@dataclass
class Extracted:
    title: str
    content_html: str
    base_url: str
    page_title: str = ""
    """The text of ``<title>``."""
    links: list[str] = field(default_factory=list)
    content_links: list[str] = field(default_factory=list)
    toc_links: list[str] = field(default_factory=list)
    toc_outline: list[OutlineEntry] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    code_languages: list[str] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    """The ids ``content_html`` carries a ``markdown.mark`` for, in mark order."""


def limit_nesting(page_html: str, max_depth: int = MAX_NESTING) -> str:
    """Drop start and end tags nested deeper than ``max_depth``; their text stays."""
    tags = page_html.count("<")
    if tags < _SUSPICIOUS_BLOCK_TAGS:
        return page_html  # fewer tags of any kind: one count instead of nine
    others = sum(page_html.count(probe) for probe in _NOT_BLOCK_PROBES)
    if tags - others < _SUSPICIOUS_BLOCK_TAGS:
        return page_html  # a bound of the block tags: what opens no end tag, span or link
    if sum(page_html.count(probe) for probe in _BLOCK_TAG_PROBES) < _SUSPICIOUS_BLOCK_TAGS:
        return page_html
    depth = deepest = 0
    for match in _BLOCK_TAG.finditer(page_html):  # cheap estimate before any rewriting
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        deepest = max(deepest, depth)
    if deepest <= max_depth:
        return page_html
    depth = 0
    dropped: dict[str, int] = {}

    def visit(match: re.Match[str]) -> str:
        nonlocal depth
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or self_closing:
            return match.group(0)
        if closing:
            if dropped.get(name):
                dropped[name] -= 1
                return ""
            depth = max(0, depth - 1)
            return match.group(0)
        if depth >= max_depth:
            dropped[name] = dropped.get(name, 0) + 1
            return ""
        depth += 1
        return match.group(0)

    return _TAG.sub(visit, page_html)


def _text(node: LexborNode) -> str:
    """Visible text of a short element (title, heading, link): inline runs are not split."""
    return _WS.sub(" ", node.text(deep=True, separator="")).strip()


def _classes(node: LexborNode) -> list[str]:
    return (node.attributes.get("class") or "").split()


class _Resolver:
    """urljoin is the slowest step on link-heavy pages: each distinct href is joined once."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._page = base.split("#", 1)[0]
        self.page = page_url(base)
        """This page's URL as the crawl knows it (a hash route is part of it)."""
        self._cache: dict[str, str | None] = {}
        self._join = Joiner(base)

    def __call__(self, href: str) -> str | None:
        href = href.strip()
        path, hash_, fragment = href.partition("#")
        if not path:
            return self._page + hash_ + fragment if hash_ else self._page
        if path in self._cache:
            url = self._cache[path]
        else:
            url = self._cache[path] = self._join(path)
        return url + hash_ + fragment if url and hash_ else url


def _written_hrefs(node: LexborNode) -> dict[str, None]:
    """The distinct link targets under ``node`` as written, in document order."""
    return dict.fromkeys(a.attrs.get("href") or "" for a in node.css("a[href]"))


def _hrefs(node: LexborNode, resolve: _Resolver) -> list[str]:
    """Distinct absolute links under ``node``, in document order."""
    return list(dict.fromkeys(url for url in map(resolve, _written_hrefs(node)) if url))


def _linked_pages(node: LexborNode, resolve: _Resolver) -> list[str]:
    """Distinct pages linked under ``node``, in document order: ``_hrefs`` reduced to
    pages (``page_url``), each place in a page resolved once, not once per fragment."""
    spots = dict.fromkeys(_page_part(href) for href in _written_hrefs(node))
    pages = (page_url(url) for url in map(resolve, spots) if url)
    return list(dict.fromkeys(pages))


def _page_part(href: str) -> str:
    """``href`` without a fragment that names a place (a hash route stays: it is a page)."""
    path, _, fragment = href.strip().partition("#")
    return f"{path}#{fragment}" if hash_route(f"#{fragment}") else path


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    base = tree.css_first("base[href]")
    if base is not None:
        resolved = absolute(url, base.attributes.get("href") or "")
        if resolved:
            return resolved
    return url


def _toc_links(tree: LexborHTMLParser, resolve: _Resolver) -> tuple[list[str], list[OutlineEntry]]:
    """The page's navigation: the pages it lists, in its order, and its nesting
    (``navtree.outline``), found by structure. In order of preference:

    1. Lists of pages in the page's own flow, outside any landmark of the frame (a Sphinx
       toctree, DocBook's table of contents): the pages below this one.
    2. The navigation landmark whose lists name the most other pages of the site (a
       sidebar; its brand link and search are no list), unless the same links are shown
       twice (a bar above and below the page: "index | next | previous").
    3. A navigation of blocks and headings (``_block_navigation``).

    Links are reduced to pages (fragments dropped); a block of in-page anchors only (an
    "on this page" box) lists no other page and does not count.
    """
    in_flow, in_landmarks, navs = _lists_by_place(tree)
    lists = _page_lists(in_flow)
    found = _listed_pages(lists, resolve)
    if _site_pages(found, resolve) >= 2:
        return found, outline(lists, resolve, resolve.page)
    navigations: dict[tuple[int, ...], tuple[list[LexborNode], tuple[str, ...]]] = {}
    for lists in in_landmarks:
        key = tuple(n.mem_id for n in lists)
        if key not in navigations:  # a landmark in a landmark, around the same lists
            navigations[key] = (lists, _raw_targets(lists))
    shown = Counter(raw for _, raw in navigations.values())
    best: tuple[list[LexborNode], list[str]] | None = None
    # Most links first: URLs are resolved until no other navigation can list more pages.
    for lists, raw in sorted(navigations.values(), key=lambda nav: -len(nav[1])):
        if best is not None and len(raw) <= len(best[1]):
            break
        if shown[raw] > 1:
            continue  # shown twice (above and below the page): a bar of links, no tree
        pages = _listed_pages(lists, resolve)
        if _site_pages(pages, resolve) >= 2 and (best is None or len(pages) > len(best[1])):
            best = (lists, pages)
    if best is not None:
        return best[1], outline(best[0], resolve, resolve.page)
    return _block_navigation(navs, resolve)


def _raw_targets(nodes: list[LexborNode]) -> tuple[str, ...]:
    """The distinct link targets under ``nodes`` as written, fragments dropped (a bound on
    the pages they list, and what tells a bar shown twice)."""
    found = (href for node in nodes for href in _written_hrefs(node))
    return tuple(dict.fromkeys(href.strip().partition("#")[0] for href in found))


def _listed_pages(nodes: list[LexborNode], resolve: _Resolver) -> list[str]:
    """The other pages the links under ``nodes`` go to, in document order."""
    found = (page for node in nodes for page in _linked_pages(node, resolve))
    return list(dict.fromkeys(page for page in found if page != resolve.page))


def _site_pages(pages: list[str], resolve: _Resolver) -> int:
    """How many of ``pages`` are on this page's site (its host)."""
    host = urlsplit(resolve.page).netloc
    return sum(urlsplit(page).netloc == host for page in pages)


def _lists_by_place(
    tree: LexborHTMLParser,
) -> tuple[list[LexborNode], list[list[LexborNode]], list[LexborNode]]:
    """The page's outer lists (no entry's sublist), in one walk up from each list: those
    in its flow (outside the frame's landmarks), and for each navigation landmark
    (``NAV_LANDMARKS``) that holds some, its lists; and every navigation landmark; all in
    document order."""
    body = tree.body
    if body is None:
        return [], [], []
    in_flow: list[LexborNode] = []
    landmarks: dict[int, list[LexborNode]] = {}
    navs: list[LexborNode] = []
    for node in body.css("ul, ol, dl, nav, [role=navigation]"):
        if node.tag == "nav" or node.attrs.get("role") == "navigation":
            navs.append(node)
        if node.tag not in _LIST_TAGS:
            continue
        framed = False
        navigations: list[int] = []
        up = node.parent
        while up is not None:
            tag = up.tag
            if tag in _LIST_TAGS:
                break  # an entry's sublist
            role = up.attrs.get("role") if tag not in _FRAME and up.is_element_node else None
            if tag in _FRAME or role in _FRAME_ROLES:
                framed = True
                if tag in ("nav", "aside") or role == "navigation":
                    navigations.append(up.mem_id)
            up = up.parent
        else:
            if not framed:
                in_flow.append(node)
            for landmark in navigations:
                landmarks.setdefault(landmark, []).append(node)
    return in_flow, list(landmarks.values()), navs


def _page_lists(lists: list[LexborNode]) -> list[LexborNode]:
    """Of ``lists`` (in the page's flow), those made of links that leave the page and
    nothing else (a table of contents): every entry opens with a link, not all of them to
    places in pages, and nearly all their text is those links."""
    out: list[LexborNode] = []
    for node in lists:
        first = node.css_first("li, dt")
        if first is None or _opening_link(first) is None:
            continue  # most lists: an item of prose first
        entries = node.css("li, dt")
        opening = [_opening_link(e) for e in entries]
        if not entries or any(a is None for a in opening):
            continue
        top = [a for e, a in zip(entries, opening, strict=True) if _list_of(e) == node.mem_id]
        if all("#" in (a.attrs.get("href") or "") for a in top if a is not None):
            continue  # entries that are all places in pages (an index of terms), not pages
        text = len(_WS.sub("", node.text(deep=True)))
        links = [a for a in node.css("a[href]") if _leaves(a.attrs.get("href") or "")]
        linked = sum(len(_WS.sub("", a.text(deep=True))) for a in links)
        if text and linked >= PAGE_LIST_LINK_SHARE * text:
            out.append(node)
    return out


def _leaves(href: str) -> bool:
    """Whether a link goes to another page (not to a place of this one)."""
    href = href.strip()
    return bool(href) and not href.startswith("#")


def _list_of(entry: LexborNode) -> int | None:
    """The ``mem_id`` of the list an entry belongs to."""
    up = entry.parent
    while up is not None and up.tag not in _LIST_TAGS:
        up = up.parent
    return up.mem_id if up is not None else None


def _opening_link(entry: LexborNode) -> LexborNode | None:
    """The link an entry opens with (through inline wrappers), if it opens with one."""
    node: LexborNode | None = entry
    while node is not None:
        child = node.child
        while child is not None and child.is_text_node and not (child.text_content or "").strip():
            child = child.next
        if child is None or not child.is_element_node:
            return None
        if child.tag == "a" and child.attrs.get("href") is not None:
            return child
        if child.tag not in ("span", "strong", "em", "b", "code", "p", "div"):
            return None
        node = child
    return None


def _block_navigation(
    navs: list[LexborNode], resolve: _Resolver
) -> tuple[list[str], list[OutlineEntry]]:
    """A site navigation made of blocks and headings, not lists (VitePress' sidebar): of
    the navigation landmarks ``navs``, the one without list items that lists this page and
    the most other pages (at least two), nested by its shape (``navtree.outline``)."""
    best: tuple[list[str], LexborNode] | None = None
    for node in navs:
        if node.css_first("li, dt") is not None:
            continue
        urls = _linked_pages(node, resolve)
        pages = [u for u in urls if u != resolve.page]
        if resolve.page in urls and len(pages) >= 2 and (best is None or len(pages) > len(best[0])):
            best = (pages, node)
    if best is None:
        return [], []
    return best[0], outline([best[1]], resolve, resolve.page)


def _drop_cookie_banners(tree: LexborHTMLParser) -> None:
    """Cookie and consent banners: a block that floats over the page (``OVERLAYS``) or
    stands beside the page's ``<main>`` landmark, outside it, that speaks of consent
    (``CONSENT_WORDS``), short and without a section heading; never a whole section.

    The page about ``http.cookies`` keeps its section on cookies (in the main content,
    headings). Only those few blocks are read, never the whole page: most pages cost a
    selector and the text of the blocks beside their main landmark.
    """
    body = tree.body
    if body is None:
        return
    beside = _beside_main(body) if tree.css_first(_MAIN) is not None else []
    candidates = {n.mem_id: n for n in beside}
    for node in tree.css(OVERLAYS):
        candidates.setdefault(node.mem_id, node)
    # Outermost first (the blocks beside main, then overlays in document order); a block
    # inside one that goes is gone with it, and is not read again.
    gone: set[int] = set()
    for node in candidates.values():
        if node.mem_id in gone or node.tag in ("section", "article", "main", "body", "html"):
            continue
        words = node.text(deep=True).lower()
        if not any(stem in words for stem in _CONSENT_STEMS):
            continue  # most blocks: no word of consent at all
        text = _text(node)
        if (
            len(text) <= _BANNER_MAX_TEXT
            and CONSENT_WORDS.search(text)
            and node.css_first("h1, h2, h3") is None
        ):
            gone.update(n.mem_id for n in candidates.values() if inside(n, node))
            node.decompose()


def _beside_main(body: LexborNode) -> list[LexborNode]:
    """The blocks of ``<body>`` that neither are nor hold its main landmark."""
    return [
        child
        for child in body.iter()
        if child.is_element_node
        and child.tag != "main"
        and child.attributes.get("role") != "main"
        and child.css_first(_MAIN) is None
    ]


def _sort_asides(content: LexborNode) -> None:
    """An ``<aside>`` in the content is tangential to it: a sidebar or drawer of links
    goes; a remark made of prose stays (TypeDoc's "Inherited from ..."), a labelled one
    (``aria-label``, ``role=note``: Starlight's note boxes) as an admonition. Link density
    tells them apart, not the theme's class names."""
    for aside in reversed(content.css("aside")):
        if aside.parent is None or "admonition" in _classes(aside):
            continue
        text = _text(aside)
        linked = sum(len(_text(a)) for a in aside.css("a"))
        if not text or linked * 2 >= len(text) or aside.css_first("nav") is not None:
            aside.decompose()
            continue
        label = (aside.attributes.get("aria-label") or "").strip()
        if not label and aside.attributes.get("role") != "note":
            continue
        label = label or "Note"
        first = aside.child
        while first is not None and not first.is_element_node:
            first = first.next
        if first is not None and _text(first).casefold() == label.casefold():
            first.decompose()  # a visible title that repeats the label
        aside.replace_with(_admonition(aside, label), move=True)


_LINE_BLOCKS = frozenset({"div", "p", "li"})
"""Block elements: inside a listing, each one is a line of its own whatever its class."""


def _line_elements(pre: LexborNode) -> set[int]:
    """The elements that draw a listing's lines (``mem_id``), by shape, not by name: the
    children of the listing (or of the one element it wraps, ``<code>``) when there are
    two or more, all of one tag and one class, with no text between them, not even a line
    break (Prism's ``token-line``s: a line each, drawn as blocks by CSS).
    Tokens of one line differ in class (keyword, name) or have text between them."""
    box = pre
    while True:
        kids = [c for c in box.iter() if c.is_element_node]
        loose = "".join(c.text_content or "" for c in box.iter(include_text=True) if c.is_text_node)
        if len(kids) == 1 and not loose.strip():
            box = kids[0]
            continue
        break
    if len(kids) < 2 or loose.strip() or "\n" in loose or kids[0].tag in ("br", "a"):
        return set()  # text between them, or lines already broken in the text
    shape = (kids[0].tag, kids[0].attributes.get("class"))
    if any((k.tag, k.attributes.get("class")) != shape for k in kids):
        return set()
    return {k.mem_id for k in kids}


def _code_text(pre: LexborNode) -> str:
    """Text of a code block with line structure kept: ``<br>``, a block element per line
    (``_LINE_BLOCKS``), or sibling elements of one shape that are its lines
    (``_line_elements``)."""
    if pre.css_first("br, div, p, li") is None:
        lines = _line_elements(pre)
        if not lines:
            return (pre.text(deep=True) or "").strip("\n")
    else:
        lines = _line_elements(pre)
    parts: list[str] = []

    def walk(node: LexborNode) -> None:
        child = node.child
        while child is not None:
            if child.is_text_node:
                parts.append(child.text_content or "")
            elif child.tag == "br":
                parts.append("\n")
            elif child.is_element_node:
                line_like = child.tag in _LINE_BLOCKS or child.mem_id in lines
                if line_like and parts and not parts[-1].endswith("\n"):
                    parts.append("\n")
                walk(child)
                if line_like and parts and not parts[-1].endswith("\n"):
                    parts.append("\n")
            child = child.next

    walk(pre)
    return "".join(parts).strip("\n")


def _code_language(pre: LexborNode) -> str | None:
    code = pre.css_first("code")
    candidates = [code] if code is not None else []
    candidates.append(pre)
    node = pre.parent
    for _ in range(4):  # Sphinx: div.highlight-python3 > div.highlight > pre
        if node is None:
            break
        candidates.append(node)
        node = node.parent
    for i, candidate in enumerate(candidates):
        lang = language_from_attrs(dict(candidate.attributes), allow_bare=i <= 1)
        if lang:
            return lang
    return None


def _line_blocks_to_pre(content: LexborNode) -> None:
    """A listing drawn as one ``<div class="line">`` per line, without ``<pre>`` (Doxygen's
    fragments, some highlighters): a block that opens with such lines is code.
    Its other children (Doxygen's hidden tooltips) follow it as they are.

    Kept by name, as a word of meaning, not a theme's list: outside ``<pre>`` nothing in
    the markup says "code" (the monospace font is CSS), and a run of one-line sibling
    ``div``s is as often a list of facts as a listing; the class word ``line`` is what
    says each is a line of a listing. Inside ``<pre>`` lines are found by shape
    (``_line_elements``)."""
    seen: set[int] = set()
    for line in content.css("div.line"):
        block = line.parent
        if block is None or block.tag != "div" or block.mem_id in seen:
            continue
        seen.add(block.mem_id)
        children = [c for c in block.iter() if c.is_element_node]
        lines = [c for c in children if c.tag == "div" and "line" in _classes(c)]
        if not lines or children[0].mem_id != lines[0].mem_id:
            continue
        chrome.drop_line_numbers(lines)
        text = "\n".join(c.text(deep=True, separator="").replace("\xa0", " ") for c in lines)
        if not text.strip():
            continue
        fresh = element(block, "pre", text=text)
        for child in lines:
            child.decompose()
        block.insert_before(fresh, move=True)
        block.unwrap()


def _normalise_code(content: LexborNode) -> list[str]:
    _line_blocks_to_pre(content)
    chrome.drop_gutter_tables(content)
    chrome.drop_pre_gutters(content)
    languages: list[str] = []
    for pre in content.css("pre"):
        if pre.parent is not None and pre.parent.tag == "pre":
            continue
        lang = _code_language(pre)
        text = _code_text(pre)
        code = element(
            pre, "code", attrs={"class": f"language-{lang}"} if lang else None, text=text
        )
        fresh = element(pre, "pre")
        fresh.insert_child(code, move=True)
        # Ids in the code (a listing's line anchors) stay, as empty spans before it.
        ids = [pre.id, *(n.id for n in pre.css("[id]"))]
        for anchor in filter(None, ids):
            pre.insert_before(element(pre, "span", attrs={"id": anchor}), move=True)
        pre.replace_with(fresh, move=True)
        if lang and lang not in languages:
            languages.append(lang)
    return languages


def _class_words(token: str) -> list[str]:
    return [w.lower() for w in _CLASS_WORD.findall(token)]


def _admonition_kind(node: LexborNode) -> bool:
    if node.attributes.get("role") == "note":
        return True
    names = node.attributes.get("class") or ""
    if _ANY_KIND.search(names) is None:
        return False  # most blocks: one search instead of splitting every class
    for token in names.split():
        if token.lower() in ADMONITION_KINDS:
            return True
        words = _class_words(token)
        if not _PART_WORDS.intersection(words) and any(
            w.startswith(_ADMONITION_WORDS) for w in words
        ):
            return True
    return False


def _title_node(node: LexborNode) -> LexborNode | None:
    """The admonition's title: its first element (or the first of that one's, down to a
    few levels: Asciidoctor's table) when it is a ``<summary>``, a heading, a block whose
    class words say title/heading/label, or a short block that names a kind ("Note:")."""
    first: LexborNode | None = node
    for _ in range(5):
        child = first.child if first is not None else None
        while child is not None and not child.is_element_node:
            child = child.next
        if child is None:
            return None
        if child.tag == "summary" or child.tag in _HEADING_TAGS:
            return child
        if _TITLE_WORDS.intersection(w for t in _classes(child) for w in _class_words(t)):
            return child
        text = _text(child)
        if child.tag in ("p", "div", "span", "strong", "b") and (
            text.rstrip(":").casefold() in ADMONITION_KINDS
        ):
            return child
        first = child
    return None


def _admonition_title(node: LexborNode) -> str:
    title_node = _title_node(node)
    if title_node is None and node.css_first("table th") is not None:
        title_node = node.css_first("table th")  # DocBook's table-laid admonitions
    if title_node is not None:
        title = _text(title_node)
        title_node.decompose()
        if title.casefold() in ADMONITION_KINDS:
            return title.capitalize()  # "tip", "TIP" (VitePress): "Tip"
        if title:
            return title[:1].upper() + title[1:] if title.islower() else title
    words = [w for t in _classes(node) for w in _class_words(t)]
    for word in words:
        if word in ADMONITION_KINDS:
            return word.capitalize()
    kinds = [c for c in _classes(node) if c not in ("admonition", "theme-admonition", "alert")]
    for kind in kinds:
        if kind.isalpha():
            return kind.capitalize()  # the block's own name for itself ("callout")
    return "Note"


def _normalise_admonitions(content: LexborNode) -> None:
    for node in reversed(content.css(_ADMONITION_BLOCKS)):
        if node.parent is None or not _admonition_kind(node):
            continue
        title = _admonition_title(node)
        for img in node.css("img"):  # DocBook's note.png icons
            img.decompose()
        node.replace_with(_admonition(node, title), move=True)


def _admonition(node: LexborNode, title: str) -> LexborNode:
    """``node``'s content as a quote that opens with its title in bold."""
    quote = adopt(element(node, "blockquote"), node)
    first = quote.child
    title_line = _bold_line(node, title)
    if first is not None:
        first.insert_before(title_line, move=True)
    else:
        quote.insert_child(title_line, move=True)
    return quote


def _bold_line(near: LexborNode, text: str) -> LexborNode:
    """``<p><strong>text</strong></p>``."""
    line = element(near, "p")
    line.insert_child(element(near, "strong", text=text), move=True)
    return line


def _normalise_tabs(content: LexborNode) -> None:
    """Tab sets become one labelled block per tab (inactive tabs included), in order.

    Found by structure: ARIA's ``role=tablist`` with its ``role=tab``s, each matched to its
    panel by ``aria-controls`` or, failing that, to the ``role=tabpanel``s beside the list
    in order; or the shape of a tab set without roles: a row of two or more ``<label>``s
    and nothing else (the labels of radio buttons, gone with the other controls), followed
    by as many sibling panels, or by one block that holds as many."""
    for tablist in content.css("[role=tablist]"):
        labels = tablist.css("[role=tab]")
        if tablist.parent is not None and labels:
            _label_panels(tablist, labels, _aria_panels(content, tablist, labels))
    for row in _label_rows(content):
        labels = [c for c in row.iter() if c.is_element_node]
        panels = _siblings_after(row)
        if len(panels) == 1 and len(labels) > 1:
            panels = [c for c in panels[0].iter() if c.is_element_node]
        _label_panels(row, labels, panels)


def _aria_panels(
    content: LexborNode, tablist: LexborNode, tabs: list[LexborNode]
) -> list[LexborNode]:
    by_id = [(t.attributes.get("aria-controls") or "").strip() for t in tabs]
    if all(by_id):
        found = [content.css_first(f'[id="{html.escape(i)}"]') for i in by_id]
        if all(found):
            return [p for p in found if p is not None]
    box = tablist.parent
    for _ in range(3):  # the panels sit beside the list, or beside a wrapper of it
        if box is None:
            break
        panels = [p for p in box.css("[role=tabpanel]") if not inside(p, tablist)]
        if panels:
            return panels
        box = box.parent
    return []


def _label_rows(content: LexborNode) -> list[LexborNode]:
    rows: dict[int, LexborNode] = {}
    for label in content.css("label"):
        row = label.parent
        if row is None or row.mem_id in rows:
            continue
        kids = [c for c in row.iter() if c.is_element_node]
        loose = "".join(c.text_content or "" for c in row.iter(include_text=True) if c.is_text_node)
        if len(kids) >= 2 and all(k.tag == "label" for k in kids) and not loose.strip():
            rows[row.mem_id] = row
    return list(rows.values())


def _siblings_after(node: LexborNode) -> list[LexborNode]:
    out: list[LexborNode] = []
    after = node.next
    while after is not None:
        if after.is_element_node:
            out.append(after)
        after = after.next
    return out


def _label_panels(tablist: LexborNode, labels: list[LexborNode], panels: list[LexborNode]) -> None:
    """Each panel is preceded by its tab's label, in bold; the row of tabs goes."""
    if not labels or len(labels) != len(panels):
        return
    names = [_text(label) for label in labels]
    for name, panel in zip(names, panels, strict=True):
        panel.insert_before(_bold_line(panel, name), move=True)
    tablist.decompose()


# Links and images whose URL starts or ends with a space, tab or line break (CSS escapes).
_SPACED_URLS = ", ".join(
    f'{tag}[{name}{where}"{space}"]'
    for tag, name in (("a", "href"), ("img", "src"))
    for where in ("^=", "$=")
    for space in (" ", "\\9 ", "\\a ", "\\d ")
)


def _trim_urls(content: LexborNode) -> None:
    """``href=" https://..."``: browsers drop the spaces around a URL; the Markdown
    converter would keep them (and make a relative link of it). Found by one selector, in
    C: a regex over every page's HTML cost 18 ms on a large page, 16% of its extraction."""
    for node in content.css(_SPACED_URLS):
        name = "href" if node.tag == "a" else "src"
        node.attrs[name] = (node.attributes.get(name) or "").strip()


def _space_badges(content: LexborNode) -> None:
    """A styled inline code element glued to a word (TypeDoc's ``<code class="tsd-tag">``
    badges: "Optional" before a name, "Const" after a title) is a separate word on screen
    (its margin); a space keeps it one in the text. Not a badge after a heading's text:
    there the glue is what tells the book's title check that it is not part of the name."""
    for code in content.css("code[class]"):
        parent = code.parent
        if parent is None or parent.tag == "pre":
            continue
        after, before = code.next, code.prev
        if after is not None and _WORD_START.match(_inline_text(after)):
            code.insert_after(" ")
        if parent.tag in _HEADING_TAGS:
            continue
        if before is not None and _WORD_END.search(_inline_text(before)):
            code.insert_before(" ")


def _inline_text(node: LexborNode) -> str:
    if node.is_text_node:
        return node.text_content or ""
    return node.text(deep=True) if node.tag in _INLINE_TAGS else ""


def _drop_icons(content: LexborNode) -> None:
    """Inline SVG that draws nothing on its own or is hidden from readers: an icon from a
    sprite (``<use href>`` only) or ``aria-hidden``. A drawing (a diagram) stays."""
    for svg in content.css("svg"):
        if svg.parent is None:
            continue
        drawn = svg.css_first("path, rect, circle, ellipse, line, polyline, polygon, text, image")
        if svg.attributes.get("aria-hidden") == "true" or drawn is None:
            svg.decompose()


def _fix_images(content: LexborNode) -> None:
    for img in content.css("img"):
        attrs = img.attributes
        if not attrs.get("src") or (attrs.get("src") or "").startswith("data:"):
            lazy = attrs.get("data-src") or attrs.get("data-original")
            if lazy:
                img.attrs["src"] = lazy


def _drop_unsafe_urls(content: LexborNode) -> None:
    """Links the URL rule refuses (``javascript:``, even entity-encoded: the parser has
    decoded it) keep their text only; images it refuses become their alt text."""
    for a in content.css("a[href]"):
        if not link_allowed(a.attrs.get("href") or ""):
            a.unwrap()
    for img in content.css("img[src]"):
        if not image_allowed(img.attrs.get("src") or ""):
            img.replace_with(img.attrs.get("alt") or "")


_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_INLINE_TAGS = frozenset({"span", "a", "em", "strong", "b", "i", "code", "var"})
_CODE_TAGS = frozenset({"pre", "code", "kbd", "samp"})
_CONTAINERS = frozenset(
    {"div", "section", "article", "main", "header", "aside", "figure", "details", "summary"}
    | {"p", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody"}
    | {"tfoot", "tr", "td", "th", "caption"}
    | _HEADING_TAGS
)
"""Blocks a mark goes into, down to the first line of text they show."""


def _mark_targets(content: LexborNode, taken: set[str]) -> list[str]:
    """Every element of the content with an id (or an ``<a name>``) that no heading has
    taken gets a ``markdown.mark`` at the start of the first line of the block it belongs
    to, whatever the generator's markup: a ``<div id>`` entry, a ``<span id>`` in a
    paragraph, an ``<a name>`` in a heading, a term's paragraph. The Markdown then tells
    where each id sits. Returns the ids in mark order."""
    ids: list[str] = []
    seen = set(taken)
    for el in content.css("[id], a[name]"):
        anchor = el.id or el.attributes.get("name")
        if not anchor or anchor in seen or el.tag in _HEADING_TAGS:
            continue
        if len(ids) >= MAX_MARKS:
            break
        seen.add(anchor)
        text = mark(len(ids))
        node, inside = _mark_place(el, content)
        if not inside:
            node.insert_before(text)
        elif node.child is not None:
            node.child.insert_before(text)
        else:
            node.insert_child(text)
        ids.append(anchor)
    return ids


def _mark_place(el: LexborNode, content: LexborNode) -> tuple[LexborNode, bool]:
    """(node, True: at its start / False: just before it) for ``el``'s mark. Code stays
    verbatim, so an id inside code is marked before the outermost code element."""
    code: LexborNode | None = None
    node: LexborNode | None = el
    while node is not None and node is not content:
        if node.tag in _CODE_TAGS:
            code = node
        node = node.parent
    if code is not None:
        return code, False
    if el.tag in _VOID:
        return el, False
    node = el
    while True:  # down through the blocks that open el, to its first line of text
        child = node.child
        while child is not None and child.is_text_node and not (child.text_content or "").strip():
            child = child.next
        if child is None or not child.is_element_node or child.tag not in _CONTAINERS:
            return node, True
        node = child


def _headings(content: LexborNode) -> list[Heading]:
    out: list[Heading] = []
    for node in content.css("h1, h2, h3, h4, h5, h6"):
        text = _text(node)
        if text:
            anchor = node.id
            if not anchor and node.parent is not None and node.parent.tag == "section":
                anchor = node.parent.id
            out.append(Heading(int((node.tag or "h1")[1]), text, anchor))
    return out


def _page_title(tree: LexborHTMLParser) -> str:
    node = tree.css_first("title")
    return _text(node) if node is not None else ""


def _title(page_title: str, headings: list[Heading]) -> str:
    """The page's title as one page tells it; the book checks it against the site's other
    pages (``extract.template``)."""
    for heading in headings:
        if heading.level == 1:
            return heading.text
    return page_title or (headings[0].text if headings else "")


def extract(page_html: str, url: str, *, want_content_links: bool = False) -> Extracted:
    """Everything the rest of the pipeline needs from one page's HTML.

    ``want_content_links`` adds the links of the main content alone (the start page's
    reading order falls back to them when it has no navigation).
    """
    tree = LexborHTMLParser(limit_nesting(page_html))
    page_title = _page_title(tree)
    base = _base_url(tree, url)
    resolve = _Resolver(base)
    # Pages linked, fragments dropped (hash routes are pages and stay): discovery needs no
    # more, and a reference page with hundreds of "#anchor" links then costs the crawl
    # loop a few dozen entries.
    links = _linked_pages(tree.root, resolve) if tree.root is not None else []
    toc, toc_outline = _toc_links(tree, resolve)
    for node in tree.css(GLOBAL_JUNK):
        node.decompose()
    _drop_cookie_banners(tree)
    # The frame's landmarks go before the content is looked for: what is left to weigh
    # is the page's own text (an index page of links beside a footer of prose).
    frame = tree.body or tree.root
    if frame is not None:
        _sort_asides(frame)
        chrome.drop_chrome(frame)
    content = find_content(tree)
    # Code first: a highlighted listing is hundreds of elements, one text afterwards, and
    # every rule below walks the content again.
    languages = _normalise_code(content)
    for summary in content.css("summary"):
        if summary.css_first("h1, h2, h3, h4, h5, h6") is not None:
            summary.unwrap()  # rustdoc: <summary><h3>impl ...</h3></summary>
    for header in content.css("header"):
        if header.css_first("h1, h2") is None:
            header.decompose()
        else:
            header.unwrap()
    chrome.drop_permalinks(content)
    chrome.drop_page_tocs(content)
    chrome.drop_heading_chrome(content)
    chrome.drop_link_bars(content)
    unwrap_layout_tables(content)
    _normalise_admonitions(content)
    chrome.drop_open_toggle_labels(content)
    _normalise_tabs(content)
    terms = signature_headings(content)
    _drop_icons(content)
    chrome.drop_empty_links(content)
    _space_badges(content)
    _fix_images(content)
    _trim_urls(content)
    _drop_unsafe_urls(content)
    headings = _headings(content)
    marked = _mark_targets(content, {h.anchor for h in headings if h.anchor})
    return Extracted(
        title=_title(page_title, headings),
        content_html=content.html or "",
        base_url=base,
        page_title=page_title,
        links=links,
        content_links=_hrefs(content, resolve) if want_content_links else [],
        toc_links=toc,
        toc_outline=toc_outline,
        headings=headings,
        terms=terms,
        code_languages=languages,
        marked=marked,
    )

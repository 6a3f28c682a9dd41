"""Which element of a page holds its main content, by structure, not by a theme's names.

1. Landmarks: the elements the web's standards give for "the main content of this page":
   HTML's ``<main>`` and ``<article>``, ARIA's ``role=main``, schema.org's
   ``itemprop=articleBody``. Of those that hold a fair share of the page's text, the one
   with the most text of its own (text outside links: navigation is nearly all links) is
   taken, then the landmark inside it that holds most of that text (or of all its text:
   an index page is nearly all links), as long as there is one (MkDocs Material's
   ``<article>`` inside a ``<main>`` that also holds both sidebars).
2. A page without landmarks (hand-written layouts, DocBook, Asciidoctor, Doxygen): from
   ``<body>`` down into the child block that holds most of the text of its parent, while
   what is left beside it is chrome, not content (and not below the parent of a
   heading: that is the level of the content's sections): a landmark of the frame (header,
   navigation, footer, aside), or a block with no paragraph of prose that is mostly
   links (a sidebar, a menu) or has little text and no section heading (a footer line).
   A page title (``<h1>``) in that frame, above a content that has none, is carried
   into it (Asciidoctor's ``#header``).

What is left of the site's frame in the element chosen (a banner, bars, a footer) goes
later: by landmark and ARIA role in ``content``, and by repetition across the site's
pages when the book is assembled (``extract.template``).
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrape_api_docs.extract.nodes import element

MAIN_LANDMARKS = "[itemprop=articleBody], [role=main], main, article"
INNER_SHARE = 0.5
"""An inner landmark is taken when it holds at least this share of its container's text."""
CHILD_SHARE = 0.5
"""A page without landmarks: a child block is gone into when it holds this share of its
parent's own text..."""
BESIDE_SHARE = 0.2
"""...and every block beside it is frame: a landmark of it, or no prose and either mostly
links or less than this share of its text and no section heading (``_chrome_beside``)."""
LINKS_SHARE = 0.5
"""A block beside the chosen one with at least this much of its text in links is
navigation, whatever its size."""


def chars(node: LexborNode) -> int:
    """Characters of text in ``node``, white space left out (markup indents it)."""
    return _chars(node.text(deep=True))


def _chars(text: str) -> int:
    return len(text) - sum(map(text.count, _SPACES))


_SPACES = (" ", "\n", "\t", "\r", "\xa0")


def own_text(node: LexborNode) -> int:
    """Characters of text in ``node`` outside links, white space left out."""
    total = chars(node)
    if total == 0:
        return 0
    return total - _chars("".join(a.text(deep=True) for a in node.css("a")))


def find_content(tree: LexborHTMLParser) -> LexborNode:
    body = tree.body
    if body is None:
        return tree.root  # type: ignore[return-value]
    total = max(len(body.text(deep=True)), 1)
    floor = max(40, total // 10)
    landmarks = [n for n in tree.css(MAIN_LANDMARKS) if len(n.text(deep=True)) >= floor]
    if not landmarks:
        title = tree.css_first("title")
        return _densest_block(body, _clean(title.text()) if title is not None else "")
    if len(landmarks) == 1:
        return landmarks[0]  # most pages: nothing to weigh
    sizes = {n.mem_id: (own_text(n), chars(n)) for n in landmarks}
    best = max(landmarks, key=lambda n: sizes[n.mem_id])
    while True:
        inner = [n for n in landmarks if n.mem_id != best.mem_id and inside(n, best)]
        if not inner:
            return best
        pick = max(inner, key=lambda n: sizes[n.mem_id])
        (own, text), (outer_own, outer_text) = sizes[pick.mem_id], sizes[best.mem_id]
        # Its share of the text outside links (beside a big navigation), or of all the
        # text (an index page, nearly all links, beside a footer of prose).
        if own < INNER_SHARE * outer_own and text < INNER_SHARE * outer_text:
            return best
        best = pick


def inside(node: LexborNode, outer: LexborNode) -> bool:
    """Whether ``node`` is a descendant of ``outer``."""
    up = node.parent
    while up is not None:
        if up.mem_id == outer.mem_id:
            return True
        up = up.parent
    return False


def _densest_block(body: LexborNode, page_title: str) -> LexborNode:
    node = body
    while True:
        kids = [k for k in node.iter() if k.is_element_node]
        if any(k.tag in _HEADING_TAGS or k.tag in _CONTENT_TAGS for k in kids):
            return node  # a heading's or a paragraph's parent: the content's own level
        sized = [(own_text(k), k) for k in kids]
        sized = [(size, k) for size, k in sized if size > 0 or k.css_first("a") is not None]
        if not sized:
            return node
        size, best = max(sized, key=lambda pair: pair[0])
        if size == 0 or size < CHILD_SHARE * sum(s for s, _ in sized):
            return node
        if best.tag not in _CONTAINERS:
            return node  # a list, a custom element: content, not a wrapper of it
        title: LexborNode | None = None
        before = True
        for other_size, other in sized:
            if other.mem_id == best.mem_id:
                before = False
            elif not _chrome_beside(other, other_size, size):
                return node
            elif before and title is None:
                title = other if other.tag == "h1" else other.css_first("h1")
                title = title or _named_title(other, page_title)
        if title is not None and best.css_first("h1") is None:
            _carry(title, best)
        node = best


def _named_title(frame: LexborNode, page_title: str) -> LexborNode | None:
    """A block of the frame whose text is how ``<title>`` names the page, less the site's
    name ("Widgetry: wg_widget Struct Reference"; Doxygen's ``div.title``), as an
    ``<h1>``."""
    for node in [frame, *frame.css("div, span, p, strong, b")]:
        text = _clean(node.text(deep=True))
        if len(text) < _TITLE_MIN or text == page_title or node.css_first("a") is not None:
            continue
        if page_title.endswith(text) or page_title.startswith(text):
            return element(frame, "h1", text=text)
    return None


_TITLE_MIN = 4


def _clean(text: str) -> str:
    return " ".join(text.split())


def _carry(title: LexborNode, content: LexborNode) -> None:
    """The page's title, set in the frame above the content (Asciidoctor's ``#header``,
    Doxygen's ``div.header``), opens the content (a copy: the frame is left behind)."""
    first = content.child
    if first is not None:
        first.insert_before(title)
    else:
        content.insert_child(title)


_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_CONTENT_TAGS = frozenset({"p", "pre", "table", "dl", "blockquote", "figure", "img"})
_CONTAINERS = frozenset(
    {"div", "section", "article", "main", "header", "footer", "aside", "nav", "center"}
    | {"font", "form"}
)
"""What may hold the content; blocks of other kinds are content."""
_BLOCK_TAGS = frozenset({"p", "pre", "table", "dl", "dt", "dd", "ul", "ol", "blockquote"})
_SECTION_HEADING = "h2, h3, h4, h5, h6"
_FRAME_TAGS = frozenset({"header", "nav", "footer", "aside"})
_FRAME_ROLES = frozenset({"banner", "navigation", "contentinfo", "complementary", "search"})
"""HTML's and ARIA's landmarks for what frames the content."""
PROSE_WORDS = 12
"""A paragraph with this many words outside links is content, wherever it is."""


def _chrome_beside(node: LexborNode, size: int, content: int) -> bool:
    """Whether a block beside the content is the site's frame (a sidebar, a menu, a short
    footer line) rather than more of the page's content (a title, a paragraph)."""
    if node.tag in _FRAME_TAGS or node.attributes.get("role") in _FRAME_ROLES:
        return True
    for para in [node] if node.tag == "p" else node.css("p"):
        words = len(para.text(deep=True).split())
        linked = sum(len(a.text(deep=True).split()) for a in para.css("a"))
        if words - linked >= PROSE_WORDS:
            return False
    # A page title (h1) in the frame is weighed apart: it goes with the content.
    title = sum(chars(h) for h in ([node] if node.tag == "h1" else node.css("h1")))
    text, size = chars(node) - title, size - title
    if text > 0 and (text - size) >= LINKS_SHARE * text:
        return True  # mostly links: navigation, even under a heading ("In this section")
    if node.tag in _BLOCK_TAGS or node.css_first(_SECTION_HEADING) is not None:
        return False  # a section of its own, a paragraph, a listing
    return size < BESIDE_SHARE * content

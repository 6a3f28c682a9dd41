"""Navigation nesting read from the navigation's shape (``extract.navtree.outline``), on
navigations made of blocks and headings rather than nested lists: VitePress' sidebar as
VitePress builds it (tests/fixtures/corpus/vitepress) and a hand-made page shaped like a
bigger one (groups, an entry with children, a group without a page, a deeper level)."""

from __future__ import annotations

from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from scrape_api_docs.extract.navtree import SELF, OutlineEntry, outline
from scrape_api_docs.urls import absolute

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
SITE = "http://docs.test/"


def read(page_html: str, selector: str, page: str) -> list[OutlineEntry]:
    tree = LexborHTMLParser(page_html)
    url = SITE + page
    return outline(tree.css(selector), lambda href: absolute(url, href), url)


def test_vitepress_sidebar_nests_its_pages_under_their_group() -> None:
    page_html = (CORPUS / "vitepress" / "quickstart.html").read_text()
    got = read(page_html, "aside nav", "quickstart.html")
    assert got == [
        (0, "", "Guide"),
        (1, SITE + "index.html", ""),
        (1, SITE + "installation.html", ""),
        (1, SELF, ""),
        (1, SITE + "configuration.html", ""),
        (1, SITE + "caching.html", ""),
        (1, SITE + "changelog.html", ""),
    ]


def item(inner: str, children: str = "") -> str:
    """One entry as VitePress writes it: its head in ``div.item``, its children in
    ``div.items``."""
    kids = f'<div class="items">{children}</div>' if children else ""
    return f'<div class="entry"><div class="item"><span></span>{inner}</div>{kids}</div>'


def link(href: str, text: str, tag: str = "p") -> str:
    return f'<a href="{href}"><{tag} class="text">{text}</{tag}></a>'


SIDEBAR = (
    "<nav>"
    + "<section>"
    + item(
        "<h2>Guide</h2>",
        item(link("intro.html", "Intro"))
        + item(
            link("api/index.html", "API", "h3"),
            item(link("api/core.html", "Core")) + item(link("api/store.html", "Store")),
        )
        + item(link("only-child.html", "Parent", "h3"), item(link("child.html", "Child"))),
    )
    + "</section><section>"
    + item("<h2>Reference</h2>", item(link("cli.html", "CLI")) + item(link("faq.html", "FAQ")))
    + "</section></nav>"
)


def test_blocks_nest_as_the_sidebar_does() -> None:
    got = read(f"<body>{SIDEBAR}</body>", "nav", "cli.html")
    assert got == [
        (0, "", "Guide"),
        (1, SITE + "intro.html", ""),
        (1, SITE + "api/index.html", ""),
        (2, SITE + "api/core.html", ""),
        (2, SITE + "api/store.html", ""),
        (1, SITE + "only-child.html", ""),  # one child, deeper than its parent's link
        (2, SITE + "child.html", ""),
        (0, "", "Reference"),
        (1, SELF, ""),
        (1, SITE + "faq.html", ""),
    ]


def test_headings_hold_the_links_after_them_and_plain_links_stay_flat() -> None:
    page_html = (
        "<body><nav><h3>Guides</h3><a href='a.html'>A</a><a href='b.html'>B</a>"
        "<h3>Reference</h3><h4>CLI</h4><a href='c.html'>C</a><h3>More</h3></nav>"
        "<div id='bar'><a href='a.html'>A</a> | <a href='b.html'>B</a> | "
        "<span><a href='c.html'>C</a></span></div></body>"
    )
    assert read(page_html, "nav", "x.html") == [
        (0, "", "Guides"),
        (1, SITE + "a.html", ""),
        (1, SITE + "b.html", ""),
        (0, "", "Reference"),
        (1, "", "CLI"),
        (2, SITE + "c.html", ""),
        (0, SELF, ""),  # a navigation landmark that does not list the page: it goes last
    ]
    assert read(page_html, "#bar", "b.html") == [
        (0, SITE + "a.html", ""),
        (0, SELF, ""),
        (0, SITE + "c.html", ""),
    ]


# Lists nested as most generators nest them: parts told from pages.

BASE = "https://docs.example/guide/start.html"


def _outline(nav_html: str) -> list[tuple[int, str, str]]:
    tree = LexborHTMLParser(f"<html><body>{nav_html}</body></html>")
    return outline(tree.css("nav"), lambda href: absolute(BASE, href), BASE)


def test_a_category_that_links_to_its_first_child_is_a_part() -> None:
    entries = _outline(
        """<nav><ul>
        <li><a href="start.html">Start</a></li>
        <li><a href="api/a.html">API</a>
          <ul><li><a href="api/a.html">A</a></li><li><a href="api/b.html">B</a></li></ul></li>
        </ul></nav>"""
    )
    assert entries == [
        (0, SELF, ""),
        (0, "", "API"),
        (1, "https://docs.example/guide/api/a.html", ""),
        (1, "https://docs.example/guide/api/b.html", ""),
    ]


def test_a_page_linked_again_elsewhere_in_the_navigation_but_not_below_it_is_a_page() -> None:
    # "API" is linked twice in the block, but not under its own entry: its children are
    # other pages, so it is a page with children, not a part.
    entries = _outline(
        """<nav><ul>
        <li><a href="start.html">Start</a></li>
        <li><a href="api/index.html">API</a>
          <ul><li><a href="api/a.html">A</a></li></ul></li>
        <li><a href="faq.html">FAQ</a>
          <ul><li><a href="api/index.html">See the API</a></li></ul></li>
        </ul></nav>"""
    )
    api = "https://docs.example/guide/api/index.html"
    assert (0, api, "") in entries
    assert (0, "https://docs.example/guide/faq.html", "") in entries
    assert (1, api, "") in entries
    assert not any(url == "" for _, url, _ in entries)

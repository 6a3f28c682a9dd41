"""``navtree.outline``: how a navigation's entries nest, parts told from pages."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from scrape_api_docs.extract.navtree import SELF, outline
from scrape_api_docs.urls import absolute

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

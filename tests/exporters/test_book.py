"""The shared book model and the Markdown book, over a real page store."""

from __future__ import annotations

import io
from pathlib import Path

from scrape_api_docs.exporters.book import Book, top_heading_level
from scrape_api_docs.exporters.markdown_book import write_markdown_book
from scrape_api_docs.extract.document import Document
from scrape_api_docs.extract.order import PageRef, reading_order
from scrape_api_docs.storage.pages import SqlitePageStore

BASE = "https://docs.example.org/guide/"


def doc(path: str, title: str, markdown: str, toc: list[str] | None = None) -> Document:
    url = BASE + path
    return Document(url=url, final_url=url, title=title, markdown=markdown, toc_links=toc or [])


def test_reading_order_follows_nested_navigation() -> None:
    refs = [
        PageRef("s", ("a", "b")),
        PageRef("b", ()),
        PageRef("a", ("a1", "a2")),
        PageRef("a2", ()),
        PageRef("orphan", ()),
        PageRef("a1", ("s", "a", "a1", "a2", "b")),  # a full sidebar does not reorder
    ]
    assert reading_order(refs, "s") == ["s", "a", "a1", "a2", "b", "orphan"]


def test_reading_order_without_navigation_is_crawl_order() -> None:
    refs = [PageRef(k, ()) for k in ("s", "x", "y")]
    assert reading_order(refs, "s") == ["s", "x", "y"]


def test_start_page_content_links_order_when_it_has_no_navigation() -> None:
    refs = [
        PageRef("s", (), ("https://h/c", "https://h/b")),
        PageRef("https://h/b", ()),
        PageRef("https://h/c", ()),
    ]
    assert reading_order(refs, "s") == ["s", "https://h/c", "https://h/b"]


def test_heading_shift_leaves_code_alone(tmp_path: Path) -> None:
    book = Book(SqlitePageStore(tmp_path / "empty.sqlite"), BASE)
    text = "# Title\n\n```python\n# a comment\n```\n\n## Sub"
    assert book.render_body(text, 1) == "## Title\n\n```python\n# a comment\n```\n\n### Sub"


def test_heading_shift_on_every_heading_line(tmp_path: Path) -> None:
    """Every line that opens with 1-6 ``#`` and a space moves, the first line and a heading
    right below an empty one ("#" alone) included; levels stay within 1..6; other lines
    ("#tag", "####### seven") do not."""
    book = Book(SqlitePageStore(tmp_path / "empty.sqlite"), BASE)
    text = "# A\n#\n## B\n#tag\n####### seven\n###### Six"
    assert book.render_body(text, 1) == "## A\n#\n### B\n#tag\n####### seven\n###### Six"
    assert book.render_body(text, -3) == "# A\n#\n# B\n#tag\n####### seven\n### Six"
    assert top_heading_level("text\n## B\n#tag\n####### seven") == 2
    assert top_heading_level("# A") == 1


def test_book_in_reading_order_with_links_rewritten(tmp_path: Path) -> None:
    store = SqlitePageStore(tmp_path / "pages.sqlite")
    store.add(
        doc(
            "",
            "Guide",
            "# Guide\n\nStart with [setup](https://docs.example.org/guide/setup.html#install).",
            toc=[BASE + "setup.html", BASE + "usage/index.html"],
        )
    )
    store.add(
        doc(
            "usage/index.html",
            "Usage",
            "# Usage\n\nSee [the guide](https://docs.example.org/guide/) and "
            "[elsewhere](https://other.example.com/x).\n\n```md\n[not a link](https://docs.example.org/guide/)\n```",
        )
    )
    store.add(doc("setup.html", "Setup [beta]", "Install it.\n\n## Install\n\nRun it."))
    book = Book(store, BASE)
    out = io.StringIO()
    write_markdown_book(book, out)
    text = out.getvalue()
    assert text.startswith("# Guide\n\nSource: <https://docs.example.org/guide/>\n\n## Contents\n")
    assert "- [Guide](#index)\n- [Setup \\[beta\\]](#setup)\n- [Usage](#usage-index)\n" in text
    positions = [text.index(f'<a id="{a}"></a>') for a in ("index", "setup", "usage-index")]
    assert positions == sorted(positions)
    assert "[setup](#setup)" in text and "[the guide](#index)" in text
    assert "[elsewhere](https://other.example.com/x)" in text
    assert "[not a link](https://docs.example.org/guide/)" in text  # code blocks are verbatim
    # A page without its own top heading gets its title; its h2 stays below the chapter.
    assert (
        "## Setup \\[beta\\]\n\nSource: <https://docs.example.org/guide/setup.html>\n\nInstall it.\n\n### Install"
        in text
    )
    store.close()

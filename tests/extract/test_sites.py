"""Each fixture docs site, crawled over HTTP into a Markdown book, against its golden file.

``expect.json`` beside each site says what must survive extraction (paragraphs, table
cells, admonitions, code lines, definition terms), what must not (navigation, footers,
permalinks, cookie banners, scripts), the code languages, and the reading order. The
golden ``book.md`` pins the whole output; regenerate it after a deliberate change with
``UPDATE_GOLDEN=1 make test`` and review the diff.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from scrape_api_docs.exporters.book import Book
from scrape_api_docs.exporters.markdown_book import write_markdown_book
from scrape_api_docs.urls import canonical
from tests.conftest import FIXTURE_SITES, CrawlFn
from tests.support.server import TestServer

SITES = sorted(p.parent.name for p in FIXTURE_SITES.glob("*/expect.json"))
STABLE_BASE = "http://docs.test"


def load_expect(name: str) -> dict[str, Any]:
    return json.loads((FIXTURE_SITES / name / "expect.json").read_text())


async def build_book(
    name: str, site_server: Callable[[str], TestServer], crawl: CrawlFn
) -> tuple[str, Book, TestServer]:
    server = site_server(name)
    start = server.url("/" + load_expect(name)["start"])
    _, store = await crawl(start)
    book = Book(store, start)
    out = io.StringIO()
    write_markdown_book(book, out)
    return out.getvalue().replace(server.base, STABLE_BASE), book, server


@pytest.mark.parametrize("name", SITES)
async def test_site_matches_golden_book(name: str, site_server: Any, crawl: CrawlFn) -> None:
    text, _, _ = await build_book(name, site_server, crawl)
    golden = FIXTURE_SITES / name / "book.md"
    if os.environ.get("UPDATE_GOLDEN") == "1" or not golden.exists():
        golden.write_text(text, encoding="utf-8")
        if os.environ.get("UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {golden} was missing and has been written: review it")
    expected = golden.read_text(encoding="utf-8")
    actual_file = golden.with_name("book.actual.md")
    if text != expected:
        actual_file.write_text(text, encoding="utf-8")  # for `diff`; ignored by git
    assert text == expected


@pytest.mark.parametrize("name", SITES)
async def test_site_keeps_content_and_drops_chrome(
    name: str, site_server: Any, crawl: CrawlFn
) -> None:
    text, _, _ = await build_book(name, site_server, crawl)
    expect = load_expect(name)
    missing = [s for s in expect["must_contain"] if s not in text]
    assert not missing, f"content lost: {missing}"
    leaked = [s for s in expect["must_not_contain"] if s in text]
    assert not leaked, f"boilerplate kept: {leaked}"


@pytest.mark.parametrize("name", SITES)
async def test_site_code_languages(name: str, site_server: Any, crawl: CrawlFn) -> None:
    text, _, _ = await build_book(name, site_server, crawl)
    fences = set(re.findall(r"^\s*```(\S+)", text, re.M))
    assert set(load_expect(name)["code_languages"]) <= fences


@pytest.mark.parametrize("name", SITES)
async def test_site_reading_order(name: str, site_server: Any, crawl: CrawlFn) -> None:
    _, book, server = await build_book(name, site_server, crawl)  # paths from the site root
    expected = [canonical(server.url("/" + path)) for path in load_expect(name)["reading_order"]]
    assert [ref.key for ref in book.chapters][: len(expected)] == expected

"""JavaScript rendering for real: Debian's Chromium (headless shell and full browser), the single-page docs fixture on
127.0.0.1, crawled to golden Markdown; "auto" against static and dynamic sites; late
content and a selector to wait for."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.errors import ScrapingFailedError
from scrape_api_docs.exporters.book import Book
from scrape_api_docs.exporters.markdown_book import write_markdown_book
from scrape_api_docs.storage.pages import SqlitePageStore
from scrape_api_docs.urls import canonical
from tests.conftest import FIXTURE_SITES, CrawlFn
from tests.support.server import Reply, TestServer
from tests.support.spa import REFERENCE_ROUTE, SPA, START, serve_spa

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)
STABLE_BASE = "http://docs.test"


def book_text(store: SqlitePageStore, start: str, server: TestServer) -> str:
    out = io.StringIO()
    write_markdown_book(Book(store, start), out)
    return out.getvalue().replace(server.base, STABLE_BASE)


def check_golden(text: str, golden: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1" or not golden.exists():
        golden.write_text(text, encoding="utf-8")
        if os.environ.get("UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {golden} was missing and has been written: review it")
    if text != golden.read_text(encoding="utf-8"):
        golden.with_name("book.actual.md").write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def keys(store: SqlitePageStore, server: TestServer) -> set[str]:
    return {ref.key.removeprefix(server.base) for ref in store.refs()}


@pytest.mark.parametrize("browser", ["chromium-headless-shell", "chromium"])
async def test_spa_rendered_crawl_matches_golden(
    browser: str, site_server: Any, crawl: CrawlFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same golden book from the headless shell (found first) and the full browser."""
    path = shutil.which(browser)
    if path is None:
        pytest.skip(f"{browser} is not installed (make test installs it as root)")
    monkeypatch.setenv("SCRAPER_BROWSER_PATH", path)
    server = serve_spa(site_server)
    start = server.url(START)
    # A page may take the full browser over 5 s (the fixture's limit) when another
    # Chromium test shares the two cores: the limit is not what this test is about.
    result, store = await crawl(start, render_javascript="always", timeout=30.0)
    assert result.stats.errors == 0, result.stats.error_reasons
    assert result.stats.rendered == result.stats.processed == 8
    text = book_text(store, start, server)
    check_golden(text, SPA / "book.md")
    # Every page, reached through client-side links only: history routes, hash routes.
    assert keys(store, server) == {
        "/docs",
        "/docs/guide/install",
        "/docs/guide/config",
        "/docs/api/client",
        "/docs/reference#/overview",
        "/docs/reference#/errors",
        "/docs/reference#/limits",
        "/docs/changelog.html",
    }
    assert r"Set visibility\_timeout to the longest time" in text  # lazy, loaded on scroll
    assert "A payload may be at most 1 MiB of JSON." in text  # a hash route's page
    for chrome in ("Copyright Tern", "Search the Tern docs", "Loading", "needs JavaScript"):
        assert chrome not in text
    # The bundle came once for the whole crawl (kept in memory), the beacon (a POST) and
    # the font and image were never requested.
    assert len(server.hits_for("/assets/app.js")) == 1
    assert len(server.hits_for("/data/nav.json")) == 1
    for never in ("/collect", "/assets/inter.woff2", "/img/architecture.png"):
        assert server.hits_for(never) == []


async def test_spa_static_crawl_has_no_content(site_server: Any, crawl: CrawlFn) -> None:
    """What the fixture is for: without a browser there is nothing to read, and the empty
    shell is not written as a page (the quality gate: the crawl has nothing)."""
    server = serve_spa(site_server)
    start = server.url(START)
    with pytest.raises(ScrapingFailedError, match="no content \\(an app shell\\)"):
        await crawl(start)


async def test_auto_renders_only_the_app_pages(site_server: Any, crawl: CrawlFn) -> None:
    server = serve_spa(site_server)
    start = server.url(START)
    result, store = await crawl(start, render_javascript="auto")
    assert result.stats.errors == 0
    assert result.stats.processed == 8
    assert result.stats.rendered == 7  # all but the static changelog
    # Same book as rendering every page.
    assert book_text(store, start, server) == (SPA / "book.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["plain", "docusaurus"])
async def test_auto_leaves_static_sites_static(name: str, site_server: Any, crawl: CrawlFn) -> None:
    """Docusaurus is server-rendered: its HTML has the content, so nothing is rendered."""
    server = site_server(name)
    start = server.url("/index.html")
    result, store = await crawl(start, render_javascript="auto")
    assert result.stats.rendered == 0
    golden = (FIXTURE_SITES / name / "book.md").read_text(encoding="utf-8")
    assert book_text(store, start, server) == golden


async def test_client_side_redirect_counts_as_a_redirect(site_server: Any, crawl: CrawlFn) -> None:
    """/docs/reference/ sends the browser on to #/overview: stored once, under the URL asked
    for, and the link to #/overview found on the next pages is not crawled again."""
    server = serve_spa(site_server)
    start = server.url(REFERENCE_ROUTE)
    result, store = await crawl(start, render_javascript="always")
    assert result.stats.errors == 0
    assert keys(store, server) == {
        "/docs/reference",
        "/docs/reference#/errors",
        "/docs/reference#/limits",
    }
    doc = store.get(canonical(start))
    assert doc is not None and doc.final_url == start + "#/overview"
    assert "This reference lists every exception Tern raises" in doc.markdown


LATE_PAGE = """<!doctype html><html><head><title>Late</title></head><body>
<main><h1>Late</h1><div id="slot">Loading…</div></main>
<script>
setTimeout(() => {
  document.getElementById("slot").innerHTML =
    '<p id="late">This paragraph appears one and a half seconds after the page loaded.</p>';
}, 1500);
</script></body></html>"""


async def test_wait_for_selector_waits_for_late_content(server: TestServer, crawl: CrawlFn) -> None:
    """No request announces this content (a timer), so only the selector finds it."""
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    server.route("/late.html", Reply(body=LATE_PAGE))
    start = server.url("/late.html")
    # Read before the timer: "Loading…" and nothing else, which the quality gate refuses.
    with pytest.raises(ScrapingFailedError, match="no content"):
        await crawl(start, render_javascript="always", use_sitemaps=False)
    _, patient = await crawl(
        start, render_javascript="always", use_sitemaps=False, wait_for_selector="#late"
    )
    doc = patient.get(canonical(start))
    assert doc is not None and "one and a half seconds after the page loaded" in doc.markdown


SCROLL_PAGE = """<!doctype html><html><head><title>Feed</title></head><body>
<main><h1>Feed</h1><p>The first entry of the feed, always there.</p>
<div style="height: 4000px"></div><div id="more"></div></main>
<script>
window.addEventListener("scroll", () => {
  const bottom = window.scrollY + window.innerHeight >= document.body.scrollHeight - 10;
  const more = document.getElementById("more");
  if (bottom && !more.textContent) {
    more.innerHTML = "<p>An older entry, added when the reader reached the bottom.</p>";
  }
});
</script></body></html>"""

STILL_PAGE = """<!doctype html><html><head><title>Still</title></head><body>
<main><h1>Still</h1><div style="height: 4000px"></div><p id="where">not read yet</p></main>
<script>
setInterval(() => {
  document.getElementById("where").textContent = "Read at scroll offset " + window.scrollY + ".";
}, 10);
</script></body></html>"""


async def test_scroll_listeners_get_their_content_and_still_pages_are_not_scrolled(
    server: TestServer, crawl: CrawlFn
) -> None:
    """A page listening for scroll events is scrolled to its bottom (content added then is
    read); a page that reacts to nothing of the kind is read where it is, unscrolled."""
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    server.route("/feed.html", Reply(body=SCROLL_PAGE))
    server.route("/still.html", Reply(body=STILL_PAGE))
    for path, expected in (
        ("/feed.html", "An older entry, added when the reader reached the bottom."),
        ("/still.html", "Read at scroll offset 0."),
    ):
        start = server.url(path)
        _, store = await crawl(start, render_javascript="always", use_sitemaps=False)
        doc = store.get(canonical(start))
        assert doc is not None and expected in doc.markdown, doc and doc.markdown

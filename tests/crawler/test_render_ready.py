"""Rendered pages are read when they are ready, not when their network went quiet: apps
that draw their content from a timer, over animation frames, or after a WebSocket failed,
in ``always`` and ``auto`` mode; an app whose content only comes over a WebSocket (refused
while crawling) is reported, never written empty."""

from __future__ import annotations

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.extract.jsdetect import detect_javascript
from scrape_api_docs.urls import canonical
from tests.conftest import CrawlFn
from tests.support.server import TestServer
from tests.support.spa import LAST_WORDS, READY_APPS, serve_ready_apps

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)
MODES = ["always", "auto"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["/timer.html", "/frames.html", "/live.html"])
async def test_app_is_read_once_drawn(
    path: str, mode: str, server: TestServer, crawl: CrawlFn
) -> None:
    serve_ready_apps(server)
    start = server.url(path)
    result, store = await crawl(start, render_javascript=mode, use_sitemaps=False)
    assert result.stats.errors == 0, result.stats.error_reasons
    assert result.stats.rendered == 1
    doc = store.get(canonical(start))
    assert doc is not None
    assert "Paragraph 1 of the guide" in doc.markdown
    assert LAST_WORDS in doc.markdown, doc.markdown[-300:]


@pytest.mark.parametrize("mode", MODES)
async def test_app_fed_only_by_a_websocket_is_reported_not_written_empty(
    mode: str, server: TestServer, crawl: CrawlFn
) -> None:
    serve_ready_apps(server)
    start = server.url("/socket-index.html")
    result, store = await crawl(start, render_javascript=mode, use_sitemaps=False)
    assert store.get(canonical(server.url("/socket-only.html"))) is None
    assert store.get(canonical(start)) is not None
    assert result.stats.errors == 1
    assert result.stats.error_reasons == {"content over WebSocket": 1}


@pytest.mark.parametrize("path", sorted(READY_APPS))
def test_every_ready_app_shell_is_sent_to_the_browser(path: str) -> None:
    """``auto`` mode: each shell is recognised by its structure (an empty mount point, no
    text, a script), whatever its framework."""
    verdict = detect_javascript(READY_APPS[path])
    assert verdict.javascript, verdict.reasons

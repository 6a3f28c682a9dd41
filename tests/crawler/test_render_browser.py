"""The browser's life: a crash in the middle of a crawl is recovered from, memory past the
bound restarts it between pages, and no browser at all fails a crawl at once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import BrowserUnavailable, find_browser, require_browser
from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.crawler.render import Renderer
from scrape_api_docs.errors import ScrapingFailedError
from scrape_api_docs.jobs.pipeline import crawl_site
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import SqlitePageStore
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.spa import START, serve_spa

needs_browser = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)
PAGES = 12

APP_PAGE = """<!doctype html><html><head><title>…</title></head><body><main id="app"></main>
<script>
const n = Number(location.pathname.match(/(\\d+)/)[1]);
fetch(`/data/${n}.json`).then((r) => r.json()).then((d) => {
  document.title = d.title;
  const links = d.links.map((k) => `<li><a href="/docs/p${k}.html">Page ${k}</a></li>`).join("");
  document.getElementById("app").innerHTML =
    `<h1>${d.title}</h1><p>${d.text}</p><nav><ul>${links}</ul></nav>`;
});
</script></body></html>"""


def serve_app(server: TestServer, delay: float) -> None:
    """PAGES client-rendered pages, /docs/p0 ... linking onwards; each data fetch is slow
    enough that several pages are open in the browser at any moment."""
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    for n in range(PAGES):
        server.route(f"/docs/p{n}.html", Reply(body=APP_PAGE))

    def data(req: RequestInfo) -> Reply:
        n = int(req.path.rsplit("/", 1)[1].removesuffix(".json"))
        links = [k for k in (2 * n + 1, 2 * n + 2) if k < PAGES]
        body = (
            f'{{"title": "Page {n}", "links": {links}, '
            f'"text": "Rendered text of page number {n}, from its data file."}}'
        )
        return Reply(body=body, content_type="application/json", delay=delay)

    for n in range(PAGES):
        server.route(f"/data/{n}.json", data)


def config(start: str, **overrides: Any) -> CrawlConfig:
    values: dict[str, Any] = {
        "rate_limit": None,
        "timeout": 15.0,
        "cache_enabled": False,
        "use_sitemaps": False,
        "render_javascript": "always",
    }
    values.update(overrides)
    return CrawlConfig(start_url=start, **values)


@needs_browser
async def test_browser_killed_mid_crawl_is_relaunched_and_the_crawl_completes(
    server: TestServer, tmp_path: Path
) -> None:
    serve_app(server, delay=0.3)
    renderer = Renderer(pages_open=4)
    killed: list[int] = []

    def kill_after_three(event: CrawlEvent, stats: CrawlStats) -> None:
        if event.kind == "page" and stats.processed == 3 and not killed:
            assert renderer.pid is not None
            killed.append(renderer.pid)
            os.kill(renderer.pid, signal.SIGKILL)

    store = SqlitePageStore(tmp_path / "pages.sqlite")
    try:
        result = await crawl_site(
            config(server.url("/docs/p0.html")),
            settings=Settings(data_dir=tmp_path),
            store=store,
            policy=NetworkPolicy(allow_private=True),
            listener=kill_after_three,
            renderer=renderer,
        )
        assert killed, f"the browser was never killed: {result.stats}"
        assert result.stats.errors == 0, result.stats.error_reasons
        assert result.stats.processed == result.stats.rendered == PAGES
        texts = [store.get(ref.key).markdown for ref in store.refs()]  # type: ignore[union-attr]
        assert all("Rendered text of page number" in text for text in texts)
        assert renderer.restarts["crash"] == 1
        assert renderer.pid not in (None, killed[0])
        status, reason = renderer.health()
        assert status == "degraded" and "crashed 1 time" in reason
    finally:
        store.close()
        await renderer.close()


@needs_browser
async def test_memory_past_the_bound_restarts_the_browser_between_pages(
    site_server: Any, tmp_path: Path
) -> None:
    server = serve_spa(site_server)
    # Always over the bound; one page at a time, so restarts come after pages 3 and 6.
    renderer = Renderer(pages_open=1, memory_limit_mb=1, check_every=3)
    store = SqlitePageStore(tmp_path / "pages.sqlite")
    try:
        result = await crawl_site(
            config(server.url(START)),
            settings=Settings(data_dir=tmp_path),
            store=store,
            policy=NetworkPolicy(allow_private=True),
            renderer=renderer,
        )
        assert result.stats.errors == 0 and result.stats.rendered == 8
        assert renderer.restarts["memory"] == 2
        assert renderer.restarts["crash"] == 0
        assert renderer.memory is not None and renderer.memory > 1024 * 1024
        assert renderer.health()[0] == "healthy"
    finally:
        store.close()
        await renderer.close()


async def test_no_browser_fails_the_crawl_at_once_with_the_reason(
    server: TestServer, tmp_path: Path
) -> None:
    serve_app(server, delay=0)
    store = SqlitePageStore(tmp_path / "pages.sqlite")
    began = time.monotonic()
    with pytest.raises(ScrapingFailedError) as failure:
        await crawl_site(
            config(server.url("/docs/p0.html"), render_javascript="auto"),
            settings=Settings(data_dir=tmp_path, browser_path="/nonexistent/chromium"),
            store=store,
            policy=NetworkPolicy(allow_private=True),
        )
    store.close()
    assert time.monotonic() - began < 5
    message = failure.value.message
    assert "JavaScript rendering (auto) needs a browser" in message
    assert "SCRAPER_BROWSER_PATH=/nonexistent/chromium is not executable" in message
    assert server.hits == []  # failed before the first request
    renderer = Renderer("/nonexistent/chromium")
    status, reason = renderer.health()
    assert status == "unavailable" and "/nonexistent/chromium" in reason


def test_a_browser_playwright_downloaded_is_found_when_the_system_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for build in ("chromium-999", "chromium-1187"):
        binary = tmp_path / build / "chrome-linux64" / "chrome"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    assert find_browser() == str(tmp_path / "chromium-1187" / "chrome-linux64" / "chrome")
    assert find_browser("/nonexistent/chromium") is None  # a configured path is not replaced
    # Its headless shell, once downloaded too, comes first (as on PATH).
    shell = tmp_path / "chromium_headless_shell-1187" / "chrome-linux" / "headless_shell"
    shell.parent.mkdir(parents=True)
    shell.write_text("#!/bin/sh\n")
    shell.chmod(0o755)
    assert find_browser() == str(shell)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))
    with pytest.raises(BrowserUnavailable, match="no chromium on PATH"):
        require_browser()

"""What a tab's browser may keep: scripts and stylesheets the crawl fetched once are its
to reuse (it does not parse and compile them again for every page), while fetch/XHR
answers are asked for each time, through the crawl's router. On both browsers."""

from __future__ import annotations

import shutil

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.render import Renderer
from tests.support.server import Reply, TestServer

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)
PAGES = 4
PAGE = """<!doctype html><html><head><title>Page</title>
<link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head>
<body><main id="app"></main></body></html>"""
APP = """fetch("/data.json").then((r) => r.json()).then((d) => {
  document.getElementById("app").innerHTML = `<h1>${document.title}</h1><p>${d.text}</p>`;
});"""


@pytest.mark.parametrize("browser", ["chromium-headless-shell", "chromium"])
async def test_a_tab_keeps_scripts_and_stylesheets_and_asks_again_for_fetched_data(
    browser: str, server: TestServer
) -> None:
    path = shutil.which(browser)
    if path is None:
        pytest.skip(f"{browser} is not installed (make test installs it as root)")
    server.route("/app.js", Reply(body=APP, content_type="text/javascript"))
    server.route("/style.css", Reply(body="main { color: #222; }", content_type="text/css"))
    server.route(
        "/data.json",
        Reply(body='{"text": "Text from the data file."}', content_type="application/json"),
    )
    for n in range(PAGES):
        server.route(f"/p{n}.html", Reply(body=PAGE))
    renderer = Renderer(path, pages_open=1)  # one tab: one browser context, one cache
    try:
        async with HttpFetcher(NetworkPolicy(allow_private=True), FetcherOptions()) as fetcher:
            session = renderer.session(fetcher)
            try:
                for n in range(PAGES):
                    rendered = await session.render(server.url(f"/p{n}.html"))
                    assert "<p>Text from the data file.</p>" in rendered.html
            finally:
                await session.close()
    finally:
        await renderer.close()
    stats = session.stats
    # Fetched: the four documents, the script, the stylesheet and the data, once each.
    assert stats.requests == PAGES + 3, stats
    # Asked for again by the browser: the data on every later page, and nothing else
    # (through Playwright's routing, the script and stylesheet were asked for each time).
    assert stats.from_memory == PAGES - 1, stats
    for asked in ("/app.js", "/style.css", "/data.json"):
        assert len(server.hits_for(asked)) == 1
    # The full browser asks for /favicon.ico on every page: an image, so never fetched.
    assert not server.hits_for("/favicon.ico")

"""A real ``scrape-docs serve`` on 127.0.0.1 for each test module, and a small docs site on
loopback for it to crawl."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.api.test_live_server import LiveServer
from tests.support.server import Reply, TestServer
from tests.support.sites import no_robots, page, serve_pages

PAGES = {
    "/docs/": ["/docs/install.html", "/docs/usage.html", "/docs/api.html"],
    "/docs/install.html": ["/docs/", "/docs/usage.html"],
    "/docs/usage.html": ["/docs/", "/docs/api.html"],
    "/docs/api.html": ["/docs/"],
}
FAST = {"rate_limit": 10, "cache_enabled": False}
"""Job options for the fixture site: the fastest rate the API accepts, no page cache (each
test's job crawls for real)."""


@dataclass
class Site:
    server: TestServer

    @property
    def docs(self) -> str:
        return self.server.url("/docs/")

    @property
    def slow(self) -> str:
        """A site of 30 pages that answer after 0.3 s each: a job that runs for seconds."""
        return self.server.url("/slow/")


def _slow_pages(server: TestServer) -> None:
    paths = [f"/slow/p{i:02d}.html" for i in range(30)]
    server.route("/slow/", Reply(body=page("Slow docs", paths)))
    for path in paths:
        server.route(path, Reply(body=page(path, ["/slow/"]), delay=0.3))


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = TestServer().start()
    serve_pages(server, PAGES)
    _slow_pages(server)
    no_robots(server)
    yield Site(server)
    server.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("client") / "data")
    try:
        yield server.start()
    finally:
        server.cleanup()

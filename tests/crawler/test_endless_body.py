"""A response that never ends (security checklist case 18): the crawler stops reading at
its size cap, long before any time limit, and the crawl goes on."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from tests.conftest import CrawlFn
from tests.support.server import Reply, TestServer
from tests.support.sites import no_robots, serve_pages


@pytest.mark.checklist(18)
async def test_an_endless_body_is_stopped_at_the_size_cap(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    sent = itertools.count()

    def endless() -> Iterator[bytes]:
        yield b"<html><body><p>"
        while True:
            next(sent)
            yield b"a" * 65536

    serve_pages(server, {"/": ["/endless.html"]})
    server.route("/endless.html", lambda _req: Reply(body=endless()))
    began = time.monotonic()
    result, store = await crawl(server.url("/"), max_body_bytes=1024 * 1024, timeout=60)
    assert time.monotonic() - began < 30  # the size cap stopped it, not the 60 s timeout
    assert result.stats.error_reasons["body too large"] == 1
    assert len(store) == 1  # the start page; the crawl finished
    time.sleep(0.5)
    stopped_at = next(sent)
    time.sleep(0.5)
    assert next(sent) == stopped_at + 1  # the server is no longer writing: the connection closed

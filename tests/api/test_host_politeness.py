"""A host's request budget is shared by every job of the service: two jobs crawling one site
at ``rate_limit`` 2 reach it at about 2 requests/s together, not 4."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
from typing import Any

from tests.api.conftest import wait_for_status
from tests.api.test_jobs import FAST, submit, ts
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import page

PAGES = 5
RATE = 2.0


def timed_site(server: TestServer) -> list[tuple[float, str]]:
    """``/a/`` and ``/b/`` each link to ``PAGES`` pages; every answer notes when it came."""
    hits: list[tuple[float, str]] = []
    lock = threading.Lock()

    def noted(reply: Reply) -> Any:
        def route(info: RequestInfo) -> Reply:
            with lock:
                hits.append((time.monotonic(), info.path))
            return reply

        return route

    server.route("/robots.txt", noted(Reply(404, "", content_type="text/plain")))
    for part in ("a", "b"):
        links = [f"/{part}/p{i}.html" for i in range(PAGES)]
        server.route(f"/{part}/index.html", noted(Reply(body=page(part, links))))
        for link in links:
            server.route(link, noted(Reply(body=page(link))))
    return hits


async def test_two_jobs_on_one_host_share_its_rate(api: Any, server: TestServer) -> None:
    hits = timed_site(server)
    options = {"rate_limit": RATE, "cache_enabled": False}
    async with api(**FAST, workers=2) as (_, client):
        jobs = await asyncio.gather(
            submit(client, server.url("/a/index.html"), options=options),
            submit(client, server.url("/b/index.html"), options=options),
        )
        finished = [await wait_for_status(client, job_id, timeout=120) for job_id in jobs]
    for done in finished:
        assert done["status"] == "completed", done
        assert done["statistics"]["pages_processed"] == PAGES + 1
    # The two jobs really ran at once (else sharing proves nothing).
    first, second = ((ts(d["started_at"]), ts(d["completed_at"])) for d in finished)
    assert first[0] < second[1] and second[0] < first[1], finished

    times = sorted(t for t, _ in hits)
    a = [t for t, path in hits if path.startswith("/a/")]
    b = [t for t, path in hits if path.startswith("/b/")]
    assert len(a) == len(b) == PAGES + 1
    # Together at the rate of one: n requests need (n - 1) slots of 1/RATE seconds. Alone,
    # each at RATE, they would take about half as long. A quarter off for a busy machine.
    spread = times[-1] - times[0]
    assert spread >= 0.75 * (len(times) - 1) / RATE, (spread, hits)
    # And evenly, not in pairs: most gaps are a whole slot (two independent limiters would
    # make half of them close to zero).
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert statistics.median(gaps) >= 0.7 / RATE, gaps

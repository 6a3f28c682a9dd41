"""Two processes crawling one host share its rate through Redis: two ``scrape-docs scrape``
runs at 10 requests/s each, started together against one loopback site, are spaced as
one crawl at 10 requests/s (alone, each process would keep its own budget and the site
would see up to 20/s, requests of the two often milliseconds apart)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from tests.api.test_live_server import CLI, cli_env
from tests.support.redis_servers import drop_prefix, new_prefix, shared_redis_or_skip
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import page

PAGES = 16
RATE = 10.0


def test_two_processes_on_one_host_share_its_rate(server: TestServer, tmp_path: Path) -> None:
    url = shared_redis_or_skip()
    prefix = new_prefix()
    seen: list[tuple[float, str]] = []
    lock = threading.Lock()
    paths = [f"/docs/p{i:02d}.html" for i in range(PAGES)]

    # The two processes start a second or more apart on a loaded machine: each one's first
    # request (the index) waits, up to 60 s, for the other's, so their crawls overlap.
    both_started = threading.Barrier(2, timeout=60)

    def answer(title: str, links: list[str], together: bool = False) -> object:
        def reply(request: RequestInfo) -> Reply:
            if together:
                both_started.wait()
            with lock:
                seen.append((time.monotonic(), request.headers.get("user-agent", "")))
            return Reply(body=page(title, links, "Some text about this part. " * 10))

        return reply

    server.route("/docs/", answer("Docs", paths, together=True))  # type: ignore[arg-type]
    for path in paths:
        server.route(path, answer(path, ["/docs/"]))  # type: ignore[arg-type]

    env = cli_env(tmp_path / "data", SCRAPER_REDIS_URL=url, SCRAPER_REDIS_PREFIX=prefix)
    runs = [
        subprocess.Popen(
            [
                *CLI,
                "scrape",
                server.url("/docs/"),
                "--rate-limit",
                str(RATE),
                "--no-cache",
                "--no-robots",
                "--user-agent",
                f"agent-{name}",
                "-o",
                str(tmp_path / f"{name}.md"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in ("a", "b")
    ]
    try:
        outputs = [run.communicate(timeout=120)[0].decode(errors="replace") for run in runs]
    finally:
        for run in runs:
            run.kill()
        drop_prefix(url, prefix)
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len(seen) == 2 * (PAGES + 1)

    times = sorted(at for at, _ in seen)
    first_b = min(at for at, agent in seen if agent.startswith("agent-b"))
    last_b = max(at for at, agent in seen if agent.startswith("agent-b"))
    a_while_b = [at for at, agent in seen if agent.startswith("agent-a") and first_b < at < last_b]
    assert len(a_while_b) >= 4, "the two crawls hardly overlapped: nothing shared to check"
    # One slot every 1/RATE s for the host, whichever process takes it: no second of the
    # run saw more than RATE requests, give or take a few a loaded machine delayed into it
    # (unshared, the two crawls together send about twice RATE in their common seconds).
    busiest = max(sum(1 for at in times if t <= at < t + 1.0) for t in times)
    assert busiest <= RATE + 3, [(round(at - times[0], 3), agent[-1]) for at, agent in sorted(seen)]

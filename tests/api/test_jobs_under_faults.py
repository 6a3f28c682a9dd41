"""Jobs under faults the other tests leave out (security checklist case 25): a job whose
server dies on every attempt ends ``failed`` at the attempt limit instead of running
forever, and a full queue answers 429 in the error envelope, never 500."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.jobs.job_runner import MAX_ATTEMPTS
from tests.api.conftest import assert_envelope, wait_for_status
from tests.api.test_live_server import (
    LiveServer,
    finished,
    job_row,
    job_when,
    slow_site,
    submit,
)
from tests.support.server import Reply, TestServer
from tests.support.sites import page


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live(data_dir)`` starts ``scrape-docs serve`` on it; all are cleaned up after."""
    servers: list[LiveServer] = []

    def start(data_dir: Path) -> LiveServer:
        servers.append(LiveServer(data_dir))
        return servers[-1].start()

    yield start
    for started in servers:
        started.cleanup()


@pytest.mark.checklist(25)
def test_a_job_killed_on_every_attempt_fails_at_the_attempt_limit(
    live: Callable[..., LiveServer], server: TestServer, tmp_path: Path
) -> None:
    slow_site(server, pages=40, delay=0.2)
    data_dir = tmp_path / "data"
    job_id = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        running = live(data_dir)
        with running.client() as client:
            if attempt == 1:
                job_id = submit(
                    client, server.url("/docs/"), options={"rate_limit": 5, "cache_enabled": False}
                )
            job = job_when(
                client,
                job_id,
                lambda j, n=attempt: any(f"(attempt {n})" in x["message"] for x in j["logs"]),
                30,
            )
            assert job["status"] == "running", job
        running.signal(signal.SIGKILL)  # the crash, mid-crawl, every time
        running.wait_exit(10)
        assert job_row(data_dir, job_id)["attempts"] == attempt

    last = live(data_dir)
    with last.client() as client:
        job = job_when(client, job_id, finished, 30)
    assert job["status"] == "failed", job
    assert job["error_message"] == f"gave up after {MAX_ATTEMPTS} attempts", job
    assert job_row(data_dir, job_id)["attempts"] == MAX_ATTEMPTS  # not started a 4th time


@pytest.mark.checklist(25)
async def test_a_full_queue_answers_429_and_takes_jobs_again_once_it_drains(
    api: Any, server: TestServer
) -> None:
    release = threading.Event()

    def held(_req: Any) -> Reply:
        release.wait(30)
        return Reply(body=page("held", [], "Answered once the test lets it go."))

    server.route("/robots.txt", Reply(404, b"", content_type="text/plain"))
    server.route("/held.html", held)
    body = {"url": server.url("/held.html"), "options": {"cache_enabled": False}}
    try:
        async with api(workers=1, max_queued_jobs=2) as (_, client):
            running = await client.post("/api/v1/scrape", json=body)
            assert running.status_code == 202, running.text
            await wait_until_hit(server, "/held.html")  # the one worker is busy with it
            queued = [await client.post("/api/v1/scrape", json=body) for _ in range(2)]
            assert [r.status_code for r in queued] == [202, 202], [r.text for r in queued]

            full = await client.post("/api/v1/scrape", json=body)
            error = assert_envelope(full, 429, "RATE_LIMIT_EXCEEDED")
            assert "queue is full" in error["message"], error
            listed = (await client.get("/api/v1/jobs")).json()["pagination"]["total"]
            assert listed == 3  # the refused submission left no job behind

            release.set()
            for response in (running, *queued):
                job_id = response.json()["job_id"]
                await wait_for_status(client, job_id, ("completed",), timeout=60)
            again = await client.post("/api/v1/scrape", json=body)
            assert again.status_code == 202, again.text
    finally:
        release.set()


async def wait_until_hit(server: TestServer, path: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not server.hits_for(path):
        assert loop.time() < deadline, f"nothing fetched {path} in {timeout} s"
        await asyncio.sleep(0.05)

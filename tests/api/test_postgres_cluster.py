"""Scale-out on PostgreSQL: one API process (``scrape-docs serve --no-workers``) and two
worker processes (``scrape-docs worker``) on one PostgreSQL database, the queue being
procrastinate and the pages in the database. Jobs complete; a cancel through the API stops
the job on its worker within 2 s (checked at the site); a SIGKILLed worker's job is taken
up by the other and completes once (no duplicate pages, one set of artifacts, one
``completed`` webhook with its idempotency id); a job that kills its worker every time
ends ``failed`` after ``SCRAPER_JOB_MAX_ATTEMPTS``; SIGTERM hands the running job back
and the worker exits within its grace period. Skipped, saying why, without PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.api.test_live_server import (
    LiveServer,
    WebhookReceiver,
    finished,
    job_when,
    slow_site,
    submit,
    wait_until,
    webhooks,  # noqa: F401 - the receiver fixture
)
from tests.api.test_two_processes import Worker
from tests.support import postgres
from tests.support.server import TestServer

LEASE = 15.0
"""Long enough that a heartbeat delayed on a busy machine never loses a live worker its
job (with two attempts allowed, that would fail the job); a SIGKILLed worker on this
machine is seen gone at once (its pid), without waiting for its lease."""


class Cluster:
    def __init__(self, tmp_path: Path, url: str) -> None:
        self.url = url
        self.data_dir = tmp_path / "data"  # artifacts: a folder every process here shares
        self.env = {
            "SCRAPER_DATABASE_URL": url,
            "SCRAPER_JOB_LEASE_SECONDS": str(LEASE),
            "SCRAPER_JOB_MAX_ATTEMPTS": "2",
            "SCRAPER_QUEUE_POLL_SECONDS": "0.2",
        }
        self.api = LiveServer(self.data_dir, args=["--no-workers"], env=self.env).start(90)
        self.workers: list[Worker] = []

    def start_workers(self, count: int) -> None:
        """``count`` worker processes, started side by side (each takes seconds to import
        the package; on a busy machine tens of seconds)."""
        with ThreadPoolExecutor(count) as pool:
            started = list(
                pool.map(lambda _: Worker(self.data_dir, concurrency=2, env=self.env), range(count))
            )
        self.workers.extend(started)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(postgres.libpq(self.url), autocommit=True) as db:
            return list(db.execute(sql, args).fetchall())  # type: ignore[arg-type]

    def row(self, job_id: str) -> dict[str, Any]:
        [(status, worker_id, attempts)] = self.query(
            "SELECT status, worker_id, attempts FROM jobs WHERE id = %s", job_id
        )
        return {"status": status, "worker_id": worker_id, "attempts": attempts}

    def holder(self, job_id: str) -> Worker | None:
        """The worker process running the job (its id is ``host:pid:...``)."""
        worker_id = self.row(job_id)["worker_id"]
        if not worker_id:
            return None
        pid = int(worker_id.split(":")[1])
        return next((w for w in self.workers if w.process.pid == pid), None)

    def cleanup(self) -> None:
        for each in self.workers:
            each.cleanup()
        self.api.cleanup()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with postgres.database() as url:
        made = Cluster(tmp_path, url)
        try:
            yield made
        finally:
            made.cleanup()


def held(cluster: Cluster, job_id: str, attempt: int) -> Callable[[], Worker | None]:
    def probe() -> Worker | None:
        row = cluster.row(job_id)
        if row["status"] != "running" or row["attempts"] != attempt:
            return None
        return cluster.holder(job_id)

    return probe


def test_jobs_complete_and_cancel_across_processes(cluster: Cluster, server: TestServer) -> None:
    cluster.start_workers(2)
    slow_site(server, pages=40, delay=0.2)
    with cluster.api.client() as client:
        small = [
            submit(client, server.url("/docs/"), options={"max_pages": 3, "cache_enabled": False})
            for _ in range(4)
        ]
        for job_id in small:
            done = job_when(client, job_id, finished, 60)
            assert done["status"] == "completed", done
            assert [e["filename"] for e in done["exports"]] == ["output.md"]
            assert client.get(done["exports"][0]["url"]).status_code == 200
            assert cluster.row(job_id)["worker_id"] is None  # lease released
        # Job numbers from the sequence; the pages in the database, none in files.
        seqs = [s for (s,) in cluster.query("SELECT seq FROM jobs ORDER BY seq")]
        assert seqs == [1, 2, 3, 4]
        assert not list((cluster.data_dir / "jobs").glob("*/pages.sqlite"))
        # procrastinate recorded each job as succeeded.
        library = cluster.query("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")
        assert library == [("succeeded", 4)]

        # Cancel, through the API process, a job a worker process runs.
        slow = submit(
            client, server.url("/docs/"), options={"rate_limit": 5, "cache_enabled": False}
        )
        job_when(client, slow, lambda j: j["statistics"]["pages_processed"] >= 2, 60)
        response = client.delete(f"/api/v1/jobs/{slow}")
        cancelled_at = time.monotonic()
        assert response.status_code == 200, response.text
        time.sleep(max(0.0, cancelled_at + 2.0 - time.monotonic()))
        hits = len(server.hits)
        time.sleep(2.0)
        assert len(server.hits) == hits, "the site still saw requests 2 s after the cancel"
        assert client.get(f"/api/v1/jobs/{slow}").json()["status"] == "cancelled"
        wait_until(lambda: cluster.row(slow)["worker_id"] is None, 10, "the release")
    for each in cluster.workers:
        assert each.process.poll() is None, each.log()


@pytest.mark.timeout(300)
def test_kill_poison_and_sigterm_across_workers(
    cluster: Cluster,
    server: TestServer,
    webhooks: WebhookReceiver,  # noqa: F811 - the fixture imported above
) -> None:
    # Five workers: one stops on SIGTERM, one is SIGKILLed, two are killed by the poison
    # job; the last one recovers it.
    cluster.start_workers(5)
    paths = slow_site(server, pages=30, delay=0.05)
    with cluster.api.client() as client:
        # SIGKILL mid-job: the other worker takes the job up and completes it once.
        job_id = submit(
            client,
            server.url("/docs/"),
            options={"rate_limit": 4, "cache_enabled": False},
            webhook_url=webhooks.url,
            webhook_secret="s3cret-signing-key-0123456789",
        )
        job_when(client, job_id, lambda j: j["statistics"]["pages_processed"] >= 5, 60)
        victim = wait_until(held(cluster, job_id, 1), 10, "the job's holder")
        victim.kill()
        before = {
            url for (url,) in cluster.query("SELECT url FROM pages WHERE job_id = %s", job_id)
        }
        assert 5 <= len(before) < len(paths)
        job = job_when(client, job_id, finished, 90)
        logs = [line["message"] for line in job["logs"]]
        assert job["status"] == "completed", (job["error_message"], logs[-10:])
        assert job["statistics"]["pages_processed"] == len(paths)
        assert any("(attempt 2)" in line["message"] for line in job["logs"]), job["logs"]
        assert [e["filename"] for e in job["exports"]] == ["output.md"]
        [(pages, keys)] = cluster.query(
            "SELECT count(*), count(DISTINCT key) FROM pages WHERE job_id = %s", job_id
        )
        assert pages == keys == len(paths)
        assert cluster.query("SELECT count(*) FROM artifacts WHERE job_id = %s", job_id) == [(1,)]
        assert all(len(server.hits_for(path)) in (1, 2) for path in paths)
        wait_until(lambda: webhooks.events("completed"), 15, "the completed webhook")
        time.sleep(1.0)  # time for a duplicate to show up, if there were one
        [done] = webhooks.events("completed")
        assert done.delivery_id == f"{job_id}:completed"

        # A job that kills its worker every time: failed after two attempts.
        poison = submit(
            client, server.url("/docs/"), options={"rate_limit": 2, "cache_enabled": False}
        )
        for attempt in (1, 2):
            wait_until(held(cluster, poison, attempt), 30, f"attempt {attempt}").kill()
        job = job_when(client, poison, finished, 60)
        assert job["status"] == "failed", job
        assert job["error_message"] == "gave up after 2 attempts"
        assert cluster.row(poison)["attempts"] == 2

        # SIGTERM: the worker stops claiming, hands its job back and exits in its grace
        # period; another worker completes the job.
        last = submit(
            client, server.url("/docs/"), options={"rate_limit": 4, "cache_enabled": False}
        )
        job_when(client, last, lambda j: j["statistics"]["pages_processed"] >= 3, 60)
        stopping = wait_until(held(cluster, last, 1), 10, "the job's holder")
        signalled = time.monotonic()
        stopping.process.terminate()
        stopping.process.wait(20)
        assert time.monotonic() - signalled < 20
        assert "handed back" in stopping.log() or cluster.row(last)["attempts"] >= 2
        job = job_when(client, last, finished, 90)
        assert job["status"] == "completed", job
        assert job["statistics"]["pages_processed"] == len(paths)

"""Scale-out on PostgreSQL: API processes (``scrape-docs serve --no-workers``) and worker
processes (``scrape-docs worker``) on one PostgreSQL database, the queue being procrastinate
and the pages in the database. Jobs complete; a cancel through the API stops the job on its
worker within 2 s (checked at the site); a job that kills its worker every time ends
``failed`` after ``SCRAPER_JOB_MAX_ATTEMPTS``; SIGTERM: the worker claims nothing new, a job
it runs finishes within the grace period or is handed back (queued again, the attempt not
counted) and resumed by another worker, and the process exits within
``SCRAPER_WORKER_GRACE_SECONDS``. (A worker SIGKILLed mid-job, with Redis and S3 as well:
tests/scale/test_cluster.py.) Skipped, saying why, without PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.api.test_live_server import (
    finished,
    job_when,
    slow_site,
    submit,
    wait_until,
)
from tests.support import postgres
from tests.support.cluster import Cluster
from tests.support.processes import Worker
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import page

LEASE = 15.0
"""Long enough that a heartbeat delayed on a busy machine never loses a live worker its
job (with two attempts allowed, that would fail the job); a SIGKILLed worker on this
machine is seen gone at once (its pid), without waiting for its lease."""
GRACE = 12.0
"""SCRAPER_WORKER_GRACE_SECONDS: a stopping worker lets its jobs finish for 7 s of it."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with postgres.database() as url:
        env = {
            "SCRAPER_JOB_LEASE_SECONDS": str(LEASE),
            "SCRAPER_JOB_MAX_ATTEMPTS": "2",
            "SCRAPER_QUEUE_POLL_SECONDS": "0.2",
            "SCRAPER_WORKER_GRACE_SECONDS": str(GRACE),
        }
        made = Cluster(tmp_path, url, env)
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
    cluster.start(replicas=1, workers=2)
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


class Holders:
    """Which worker processes held each job, sampled from the jobs table every 50 ms in a
    thread (a job's holder is cleared when it ends)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.seen: dict[str, set[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with (
            contextlib.suppress(psycopg.OperationalError),  # the database dropped (a failure)
            psycopg.connect(postgres.libpq(self.cluster.url), autocommit=True) as db,
        ):
            while not self._stop.wait(0.05):
                rows = db.execute("SELECT id, worker_id FROM jobs WHERE worker_id IS NOT NULL")
                for job_id, worker_id in rows.fetchall():
                    self.seen.setdefault(job_id, set()).add(int(worker_id.split(":")[1]))

    def stop(self) -> dict[str, set[int]]:
        self._stop.set()
        self._thread.join(5)
        return self.seen


def gated(gate: threading.Event, title: str, links: list[str]) -> Callable[[RequestInfo], Reply]:
    """A page that answers only once ``gate`` is set (at most 60 s)."""

    def reply(_: RequestInfo) -> Reply:
        gate.wait(60)
        return Reply(body=page(title, links, f"{title} waited for the test to let it answer."))

    return reply


@pytest.mark.timeout(300)
def test_poison_job_and_sigterm_across_workers(cluster: Cluster, server: TestServer) -> None:
    # Three workers: two are killed by the poison job, the last one fails it, then stops on
    # SIGTERM while a fourth takes over.
    cluster.start(replicas=1, workers=3, concurrency=3)
    paths = slow_site(server, pages=30, delay=0.05)
    with cluster.api.client() as client:
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

        # SIGTERM. The last worker runs a long job and a short one, with a slot free.
        [stopping] = [w for w in cluster.workers if w.process.poll() is None]
        short_gate, long_gate = threading.Event(), threading.Event()
        server.route("/short/", Reply(body=page("Short", ["/short/gate.html"], "The start.")))
        server.route("/short/gate.html", gated(short_gate, "Gate", ["/short/"]))
        server.route(paths[-1], gated(long_gate, "Last page", ["/docs/"]))
        holders = Holders(cluster)
        hits_before = {path: len(server.hits_for(path)) for path in paths}  # the poison's
        long = submit(
            client, server.url("/docs/"), options={"rate_limit": 4, "cache_enabled": False}
        )
        short = submit(client, server.url("/short/"), options={"cache_enabled": False})
        job_when(client, long, lambda j: j["statistics"]["pages_processed"] >= 3, 60)
        wait_until(lambda: server.hits_for("/short/gate.html"), 30, "the short job at its gate")
        assert cluster.holder(long) is cluster.holder(short) is stopping
        other = Worker(cluster.data_dir, 2, cluster.env)
        cluster.workers.append(other)

        stopping.terminate()
        signalled = time.monotonic()
        # (the log only says when the signal was seen; what happened is read from the
        # database below)
        wait_until(lambda: "stopping: no new jobs" in stopping.log(), 10, "the signal seen")
        after = [
            submit(
                client,
                server.url("/short/"),
                options={"cache_enabled": False, "rate_limit": 2},
            )
            for _ in range(3)
        ]
        short_gate.set()  # the short job can finish now, within the grace period
        stopping.wait_exit(GRACE + 10)
        exited = time.monotonic() - signalled
        assert exited <= GRACE, f"exited {exited:.1f}s after SIGTERM, past its {GRACE}s"
        assert stopping.process.returncode == 0, stopping.log()[-3000:]

        # The short job: completed by the stopping worker, before it exited.
        assert cluster.row(short) == {"status": "completed", "worker_id": None, "attempts": 1}
        # The long one: handed back, its attempt not counted; nobody runs it but the
        # other worker (or it waits for it).
        row = cluster.row(long)
        assert (row["status"], row["attempts"]) in (("queued", 0), ("running", 1)), row
        assert cluster.worker_of(row["worker_id"]) in (None, other), row
        [(ref,)] = cluster.query("SELECT queue_ref FROM jobs WHERE id = %s", long)
        events = [
            kind
            for (kind,) in cluster.query(
                "SELECT type::text FROM procrastinate_events WHERE job_id = %s ORDER BY id", ref
            )
        ]
        assert "deferred_for_retry" in events, events  # back in the library's queue too
        before = {u for (u,) in cluster.query("SELECT url FROM pages WHERE job_id = %s", long)}
        assert 3 <= len(before) < len(paths)
        long_gate.set()

        done = [job_when(client, job_id, finished, 90) for job_id in (long, *after)]
        assert [j["status"] for j in done] == ["completed"] * 4, done
        seen = holders.stop()
    # Resumed by the other worker: every page once, the stored ones not fetched again.
    assert done[0]["statistics"]["pages_processed"] == len(paths)
    assert cluster.row(long)["attempts"] == 1  # two runs, one attempt counted
    assert any(
        line["message"] == "worker stopping; job handed back to the queue"
        for line in done[0]["logs"]
    )
    [(pages, keys)] = cluster.query(
        "SELECT count(*), count(DISTINCT key) FROM pages WHERE job_id = %s", long
    )
    assert pages == keys == len(paths)
    fetched = {path: len(server.hits_for(path)) - hits_before[path] for path in paths}
    stored = {url.removeprefix(server.base) for url in before}
    assert all(fetched[path] == 1 for path in stored), fetched
    assert all(fetched[path] in (1, 2) for path in paths), fetched
    # Who ran what: the stopping worker took nothing after its signal.
    assert seen[short] == {stopping.pid}
    assert seen[long] == {stopping.pid, other.pid}
    for job_id in after:
        assert seen[job_id] == {other.pid}, seen
        assert cluster.row(job_id)["attempts"] == 1

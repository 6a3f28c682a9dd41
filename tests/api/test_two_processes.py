"""The API and the job workers as two processes on one SQLite database: ``scrape-docs serve
--no-workers`` takes the requests, ``scrape-docs worker`` runs the jobs. Jobs complete,
cancel (a stored request the worker sees at its heartbeat) and recover (a SIGKILLed
worker's job is taken up by the next worker) across them."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.test_live_server import (
    finished,
    job_row,
    job_when,
    slow_site,
    submit,
    wait_until,
)
from tests.support.processes import LiveServer, Worker, api_replica
from tests.support.server import TestServer


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[LiveServer, Callable[[], Worker]]]:
    """An API-only server on ``tmp_path/data``, and a way to start workers on it."""
    data_dir = tmp_path / "data"
    api = api_replica(data_dir, timeout=30)
    workers: list[Worker] = []

    def start_worker() -> Worker:
        workers.append(Worker(data_dir))
        return workers[-1]

    yield api, start_worker
    for each in workers:
        each.cleanup()
    api.cleanup()


def test_jobs_run_in_the_worker_process_and_cancel_across_processes(
    processes: tuple[LiveServer, Callable[[], Worker]], server: TestServer
) -> None:
    api, start_worker = processes
    slow_site(server, pages=40, delay=0.2)
    with api.client() as client:
        # The API alone runs nothing: the job waits for a worker.
        small = submit(
            client, server.url("/docs/"), options={"max_pages": 3, "cache_enabled": False}
        )
        time.sleep(1.5)
        assert client.get(f"/api/v1/jobs/{small}").json()["status"] == "queued"

        worker = start_worker()
        # Two processes on one SQLite file: write-ahead logging (readers never block the
        # writer), set by the engine on every connection and recorded in the file.
        with contextlib.closing(sqlite3.connect(api.data_dir / "scraper.db")) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        done = job_when(client, small, finished, 60)
        assert done["status"] == "completed", done
        assert [e["filename"] for e in done["exports"]] == ["output.md"]
        assert client.get(done["exports"][0]["url"]).status_code == 200
        assert job_row(api.data_dir, small)["worker_id"] is None  # lease released

        # Cancel, through the API process, a job the worker process runs.
        slow = submit(
            client, server.url("/docs/"), options={"rate_limit": 5, "cache_enabled": False}
        )
        job_when(client, slow, lambda j: j["statistics"]["pages_processed"] >= 2, 60)
        response = client.delete(f"/api/v1/jobs/{slow}")
        cancelled_at = time.monotonic()
        assert response.status_code == 200, response.text
        assert client.get(f"/api/v1/jobs/{slow}").json()["status"] == "cancelled"
        time.sleep(max(0.0, cancelled_at + 2.0 - time.monotonic()))
        hits = len(server.hits)
        time.sleep(2.0)
        assert len(server.hits) == hits, "the site still saw requests 2 s after the cancel"
        assert client.get(f"/api/v1/jobs/{slow}").json()["status"] == "cancelled"
        wait_until(lambda: job_row(api.data_dir, slow)["worker_id"] is None, 10, "the release")
    assert worker.process.poll() is None, worker.log()


def test_a_killed_workers_job_is_completed_once_by_the_next_worker(
    processes: tuple[LiveServer, Callable[[], Worker]], server: TestServer
) -> None:
    api, start_worker = processes
    paths = slow_site(server, pages=40, delay=0.05)
    with api.client() as client:
        job_id = submit(
            client, server.url("/docs/"), options={"rate_limit": 8, "cache_enabled": False}
        )
        first = start_worker()
        job_when(client, job_id, lambda j: j["statistics"]["pages_processed"] >= 6, 60)
        first.kill()
        row = job_row(api.data_dir, job_id)
        assert (row["status"], row["attempts"]) == ("running", 1)  # as the killed worker left it

        second = start_worker()  # its start-up recovery sees the first one is gone
        job = job_when(client, job_id, finished, 90)
        assert job["status"] == "completed", job
        assert job["statistics"]["pages_processed"] == len(paths)
        assert any("(attempt 2)" in line["message"] for line in job["logs"]), job["logs"]
        assert [e["filename"] for e in job["exports"]] == ["output.md"]
        assert job_row(api.data_dir, job_id)["attempts"] == 2
        assert all(len(server.hits_for(path)) in (1, 2) for path in paths)

        # A conversion is queued work too: asked for while no worker runs, it waits (it
        # used to be a task of the API process, lost with it, ``processing`` forever),
        # and the next worker builds it.
        second.cleanup()
        response = client.post(
            f"/api/v1/exports/{job_id}/convert", json={"target_format": "markdown"}
        )
        assert response.status_code == 202, response.text
        url = f"/api/v1/exports/conversions/{response.json()['conversion_id']}"
        time.sleep(1.5)
        assert client.get(url).json()["status"] == "processing"
        start_worker()
        done = wait_until(
            lambda: (c := client.get(url).json())["status"] != "processing" and c,
            60,
            "the conversion",
        )
        assert done["status"] == "completed", done
        assert done["export"]["filename"] == "output.md"

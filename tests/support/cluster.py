"""A cluster on 127.0.0.1 for the scale-out tests: a throwaway PostgreSQL database (the job
state and procrastinate's queue), optionally the shared Redis under a prefix of the test's
own and a moto S3 bucket, with API replicas (``serve --no-workers``) and ``scrape-docs
worker`` processes started on it, side by side, and read straight from the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from tests.support import postgres
from tests.support.processes import LiveServer, Worker, api_replica


class Cluster:
    def __init__(self, tmp_path: Path, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.data_dir = tmp_path / "data"  # without S3, artifacts: a folder shared by all
        self.env = {"SCRAPER_DATABASE_URL": url, **env}
        self.replicas: list[LiveServer] = []
        self.workers: list[Worker] = []

    @property
    def api(self) -> LiveServer:
        return self.replicas[0]

    def start(self, replicas: int = 0, workers: int = 0, concurrency: int = 2) -> None:
        """``replicas`` API processes and ``workers`` worker processes, all started at once
        (each takes seconds to import the package; on a busy machine tens of seconds)."""
        with ThreadPoolExecutor(replicas + workers) as pool:
            apis = [pool.submit(api_replica, self.data_dir, self.env, 90) for _ in range(replicas)]
            runners = [
                pool.submit(Worker, self.data_dir, concurrency, self.env) for _ in range(workers)
            ]
        errors = []
        for future in apis:
            try:
                self.replicas.append(future.result())
            except Exception as exc:
                errors.append(exc)
        for each in runners:
            try:
                self.workers.append(each.result())
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(postgres.libpq(self.url), autocommit=True) as db:
            return list(db.execute(sql, args).fetchall())  # type: ignore[arg-type]

    def row(self, job_id: str) -> dict[str, Any]:
        [(status, worker_id, attempts)] = self.query(
            "SELECT status, worker_id, attempts FROM jobs WHERE id = %s", job_id
        )
        return {"status": status, "worker_id": worker_id, "attempts": attempts}

    def worker_of(self, worker_id: str | None) -> Worker | None:
        """The worker process a worker id names (``host:pid:...``)."""
        if not worker_id:
            return None
        pid = int(worker_id.split(":")[1])
        return next((w for w in self.workers if w.pid == pid), None)

    def holder(self, job_id: str) -> Worker | None:
        """The worker process running the job now."""
        return self.worker_of(self.row(job_id)["worker_id"])

    def cleanup(self) -> None:
        with ThreadPoolExecutor(max(1, len(self.workers) + len(self.replicas))) as pool:
            list(pool.map(lambda p: p.cleanup(), [*self.workers, *self.replicas]))

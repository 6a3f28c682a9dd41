"""PostgreSQL restarting mid-run (on a server of this test's own, never the shared one): an
API process and a worker process on it, a job running; while the database is down the
health check answers 200 ``degraded`` naming the database, every other endpoint a 503 in
the error envelope (never a 500 or a traceback); once it is back, both processes
reconnect by themselves: health is ``healthy`` again and the job completes, as does a new
one. Skipped, saying why, where a PostgreSQL server cannot be started here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.api.test_live_server import finished, job_when, slow_site, submit
from tests.support.own_postgres import OwnPostgres
from tests.support.processes import LiveServer, Worker, wait_until
from tests.support.server import TestServer


def _health(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v1/system/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_api_and_worker_ride_out_a_postgres_restart(tmp_path: Path, server: TestServer) -> None:
    database = OwnPostgres()
    api: LiveServer | None = None
    worker: Worker | None = None
    try:
        database.start()
        env = {
            "SCRAPER_DATABASE_URL": database.url,
            "SCRAPER_QUEUE_POLL_SECONDS": "0.5",
            "SCRAPER_JOB_LEASE_SECONDS": "10",
        }
        data_dir = tmp_path / "data"
        api = LiveServer(data_dir, args=["--no-workers"], env=env).start(90)
        worker = Worker(data_dir, concurrency=1, env=env)
        slow_site(server, pages=8, delay=0.25)
        options = {"rate_limit": 10, "cache_enabled": False, "max_pages": 9}
        with api.client() as client:
            job_id = submit(client, server.url("/docs/"), options=options)
            job_when(client, job_id, lambda job: job["status"] == "running", 60)

            database.stop()
            health = _health(client)
            assert health["status"] == "degraded", health
            assert health["dependencies"]["database"] == "unhealthy", health
            assert "database" in health["details"], health
            # (the job's own view may still come from this replica's view cache)
            for method, path in (
                ("GET", "/api/v1/jobs"),
                ("GET", "/api/v1/jobs/job_0123456789abcdef"),
                ("POST", "/api/v1/scrape"),
                ("GET", "/api/v1/system/stats"),
            ):
                body = {"url": server.url("/docs/")} if method == "POST" else None
                down = client.request(method, path, json=body)
                assert down.status_code == 503, (path, down.status_code, down.text)
                error = down.json()["error"]
                assert error["code"] == "SERVICE_UNAVAILABLE", error
                assert "database" in error["message"] and error["request_id"], error
                assert "Traceback" not in down.text
                assert down.headers.get("retry-after"), down.headers

            # The worker meets the outage too: its heartbeat (every second) or its queue's
            # listening connection says so in its log.
            wait_until(
                lambda: any(
                    event in worker.log() for event in ("heartbeat_failed", "queue_listen_lost")
                ),
                20,
                "the worker to meet the outage",
                interval=0.2,
            )
            database.start()
            wait_until(
                lambda: _health(client)["status"] == "healthy",
                20,
                "the health check to see the database back",
                interval=0.2,
            )
            first = job_when(client, job_id, finished, 60)
            assert first["status"] == "completed", (first["error_message"], first["logs"])
            second = submit(client, server.url("/docs/"), options=options)
            assert job_when(client, second, finished, 60)["status"] == "completed"
        assert worker.process.poll() is None, worker.log()
    except BaseException:
        if api is not None:
            print(api.log_tail(60))
        if worker is not None:
            print(worker.log()[-6000:])
        print(database.log()[-3000:])
        raise
    finally:
        if worker is not None:
            worker.cleanup()
        if api is not None:
            api.cleanup()
        database.cleanup()

"""Metrics that add up across processes: an API-only server and two ``scrape-docs worker``
processes, each worker serving its own Prometheus metrics (``--metrics-port``). The
per-process counters sum to the cluster's totals; the queue depth and the busy workers
are counted in the database, the same from every process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_live_server import (
    finished,
    job_when,
    slow_site,
    submit,
    wait_until,
)
from tests.support.processes import Worker, api_replica
from tests.support.server import TestServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


@contextlib.contextmanager
def workers_with_metrics(data_dir: Path, count: int) -> Iterator[list[str]]:
    """``count`` workers (concurrency 1) on ``data_dir``, each with metrics on a free port;
    yields their metrics URLs."""
    workers: list[Worker] = []
    try:
        for _ in range(count):
            workers.append(Worker(data_dir, 1, args=["--metrics-port", "0"], timeout=30))
        yield [each.metrics_url for each in workers]
    finally:
        for each in workers:
            each.terminate()
        for each in workers:
            each.cleanup()


def test_worker_metrics_add_up_across_processes(tmp_path: Path, server: TestServer) -> None:
    slow_site(server, pages=4, delay=0.3)
    data_dir = tmp_path / "data"
    api = api_replica(data_dir, timeout=30)
    try:
        with workers_with_metrics(data_dir, 2) as urls, api.client() as client:
            assert httpx.get(urls[0].replace("/metrics", "/other"), timeout=5).status_code == 404
            options = {"cache_enabled": False, "rate_limit": 10}
            jobs = [submit(client, server.url("/docs/"), options=options) for _ in range(3)]
            # While jobs run: the database's view, the same from the API and every worker.
            wait_until(
                lambda: (
                    samples(f"{api.base_url}/api/v1/system/metrics")[("scraper_active_workers", ())]
                    == 2
                ),
                60,
                "both workers to hold a job",
            )
            during = [samples(url) for url in urls]
            assert all(s[("scraper_queue_depth", ())] <= 1 for s in during)
            assert sum(s[("scraper_worker_busy", ())] for s in during) >= 1

            done = [job_when(client, job_id, finished, 90) for job_id in jobs]
            assert [job["status"] for job in done] == ["completed"] * 3
            pages = sum(job["statistics"]["pages_processed"] for job in done)
            assert pages == 3 * 5

            each = [samples(url) for url in urls]
            cluster = samples(f"{api.base_url}/api/v1/system/metrics")
        completed = ("scraper_jobs_total", (("status", "completed"),))
        # Per process: each worker's own counts, which add up to the cluster's.
        assert sum(s.get(completed, 0) for s in each) == 3
        assert all(s.get(completed, 0) >= 1 for s in each), "one worker ran every job"
        assert sum(s[("scraper_pages_scraped_total", ())] for s in each) == pages
        assert sum(s[("scraper_cache_misses_total", ())] for s in each) == pages
        assert [s[("scraper_worker_slots", ())] for s in each] == [1, 1]
        assert cluster.get(completed, 0) == 0  # the API process ran none
        assert cluster[("scraper_worker_slots", ())] == 0
        # The cluster's, from the database: the same wherever read.
        for view in (*each, cluster):
            assert view[("scraper_jobs_stored", (("status", "completed"),))] == 3
            assert view[("scraper_queue_depth", ())] == 0
            assert view[("scraper_active_workers", ())] == 0
    finally:
        api.cleanup()

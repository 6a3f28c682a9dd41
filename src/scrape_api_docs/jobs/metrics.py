"""Prometheus metrics, in a registry per service instance (so tests can run several).

The names are the API design's: ``scraper_jobs_total{status}`` (jobs this process
finished, by final status), ``scraper_pages_scraped_total``, ``scraper_cache_hit_rate``.

Across processes (API replicas, ``scrape-docs worker`` processes on many machines) every
process serves its own metrics: the API at ``/api/v1/system/metrics``, a worker on
``--metrics-port`` (``serve_metrics``); Prometheus scrapes each, and queries add them up.
Not prometheus_client's multiprocess mode: that shares files on one machine only, and
workers run on many. Two kinds of series:

- this process's: counters (``scraper_jobs_total``, ``scraper_pages_scraped_total``,
  ``scraper_cache_hits_total``, ``scraper_cache_misses_total``) and the gauges
  ``scraper_worker_slots`` / ``scraper_worker_busy``; ``sum()`` them over processes
  (the cluster's hit rate: ``sum(hits) / (sum(hits) + sum(misses))``; the gauge
  ``scraper_cache_hit_rate`` is this process's);
- the cluster's, read from the database at scrape time (``refresh_from_database``):
  ``scraper_jobs_stored{status}``, ``scraper_queue_depth``, ``scraper_active_workers``
  (worker processes holding a job's lease); every process reports the same value, so
  ``max()`` them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import async_sessionmaker

from scrape_api_docs.storage.repositories import JobRepository, QueueRepository, now

STATUSES = ("queued", "running", "completed", "failed", "cancelled")


class _WithoutCreated(Collector):
    """The registry's families without their ``*_created`` samples (the time each counter
    and histogram was made): not part of the design's metrics, and prometheus_client's
    switch for them is process-wide."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self.registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "scraper_jobs_stored",
            "Jobs in the database, by status",
            ["status"],
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "scraper_jobs",
            "Jobs this process finished, by final status",
            ["status"],
            registry=self.registry,
        )
        self.pages = Counter("scraper_pages_scraped", "Pages scraped", registry=self.registry)
        self.cache_hits = Counter("scraper_cache_hits", "Page cache hits", registry=self.registry)
        self.cache_misses = Counter(
            "scraper_cache_misses", "Page cache misses", registry=self.registry
        )
        self.cache_hit_rate = Gauge(
            "scraper_cache_hit_rate", "Cache hit rate since start", registry=self.registry
        )
        self.queue_depth = Gauge(
            "scraper_queue_depth", "Jobs waiting (whole cluster)", registry=self.registry
        )
        self.active_workers = Gauge(
            "scraper_active_workers",
            "Worker processes holding a job's lease (whole cluster)",
            registry=self.registry,
        )
        self.worker_slots = Gauge(
            "scraper_worker_slots", "Jobs this process can run at once", registry=self.registry
        )
        self.worker_busy = Gauge(
            "scraper_worker_busy", "Jobs this process is running", registry=self.registry
        )
        self.request_latency = Histogram(
            "scraper_request_duration_seconds",
            "API request latency",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

        self._hits = 0
        self._misses = 0

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (no ``*_created`` series)."""
        return generate_latest(_WithoutCreated(self.registry))

    def page_done(self, from_cache: bool) -> None:
        self.pages.inc()
        if from_cache:
            self._hits += 1
            self.cache_hits.inc()
        else:
            self._misses += 1
            self.cache_misses.inc()
        self.cache_hit_rate.set(self._hits / (self._hits + self._misses))


async def refresh_from_database(metrics: Metrics, sessions: async_sessionmaker[Any]) -> None:
    """The cluster's gauges, counted in the database now (every process sees the same)."""
    async with sessions() as session:
        counts = await JobRepository(session).count_by_status()
        busy = await QueueRepository(session).busy_workers(now())
    for status in STATUSES:
        metrics.jobs.labels(status).set(counts.get(status, 0))
    metrics.queue_depth.set(counts.get("queued", 0))
    metrics.active_workers.set(busy)


async def serve_metrics(
    host: str, port: int, exposition: Callable[[], Awaitable[bytes]]
) -> asyncio.Server:
    """A minimal HTTP server for ``GET /metrics`` (a worker process has no API): each
    scrape awaits ``exposition()``. Anything else gets 404; one request per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target, *_ = [*head.split(b"\r\n", 1)[0].split(b" "), b"", b""]
            path = target.split(b"?", 1)[0]
            if method in (b"GET", b"HEAD") and path == b"/metrics":
                body, status = await exposition(), b"200 OK"
                kind = CONTENT_TYPE_LATEST.encode()
            else:
                body, status, kind = b"not found\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\ncontent-type: "
                + kind
                + b"\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + (body if method != b"HEAD" else b"")
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)

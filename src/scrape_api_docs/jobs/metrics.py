"""Prometheus metrics, in a registry per service instance (so tests can run several).

The names are the API design's: ``scraper_jobs_total{status}`` (jobs this process
finished, by final status), ``scraper_pages_scraped_total``, ``scraper_cache_hit_rate``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


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
        self.queue_depth = Gauge("scraper_queue_depth", "Jobs waiting", registry=self.registry)
        self.active_workers = Gauge(
            "scraper_active_workers", "Workers running a job", registry=self.registry
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

"""The Redis parts between processes (each client here stands for a process of its own):
events and changes cross buses in order, the page cache is shared by workers, limits
and the cache keep the crawl going while Redis is down, and the bus reconnects by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scrape_api_docs.api.ratelimit import build_request_limits
from scrape_api_docs.crawler.cache import CachedPage, build_page_cache
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.crawler.ratelimit import build_host_limits
from scrape_api_docs.jobs.events import EventBus, LogEntry, LogEvent, build_event_bus
from scrape_api_docs.jobs.pipeline import crawl_site
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import SqlitePageStore
from tests.support.processes import until
from tests.support.redis_servers import OwnRedis, redis_settings
from tests.support.server import TestServer
from tests.support.sites import serve_pages


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with redis_settings(tmp_path) as shared:
        yield shared


def line(text: str) -> LogEvent:
    return LogEvent(
        data=LogEntry(timestamp=datetime(2026, 12, 7, tzinfo=UTC), level="info", message=text)
    )


async def test_events_and_changes_cross_processes_in_order(settings: Settings) -> None:
    worker, replica = build_event_bus(settings), build_event_bus(settings)
    try:
        heard_here: list[frozenset[str]] = []
        heard_there: list[frozenset[str]] = []
        worker.on_changes(heard_here.append)
        replica.on_changes(heard_there.append)
        async with replica.subscribe("job_a") as stream:
            await stream.ready()
            sent = [line(f"line {i}") for i in range(200)]
            for event in sent:
                await worker.publish("job_a", event)
            async with asyncio.timeout(5):
                got = [await anext(stream) for _ in sent]
            assert got == sent
        await until(lambda: bool(getattr(replica, "connected", False)), 5)
        worker.announce_changes(["job_a"])
        await until(lambda: heard_there == [frozenset({"job_a"})], 5)
        assert heard_here == [frozenset({"job_a"})]  # at once, and never twice
        await asyncio.sleep(0.1)
        assert heard_here == [frozenset({"job_a"})]
    finally:
        await worker.aclose()
        await replica.aclose()


async def test_a_second_job_on_another_worker_hits_the_shared_page_cache(
    settings: Settings, server: TestServer, tmp_path: Path
) -> None:
    serve_pages(server, {"/docs/": ["/docs/a", "/docs/b"], "/docs/a": [], "/docs/b": []})
    config = CrawlConfig(
        start_url=server.url("/docs/"), rate_limit=None, cache_enabled=True, timeout=5.0
    )
    stats = []
    for worker in ("one", "two"):  # two data folders: nothing shared on disk
        own = settings.model_copy(update={"data_dir": tmp_path / worker})
        store = SqlitePageStore(tmp_path / f"{worker}.sqlite")
        try:
            result = await crawl_site(
                config, settings=own, store=store, policy=NetworkPolicy(allow_private=True)
            )
        finally:
            store.close()
        stats.append(result.stats)
    assert stats[0].cache_hits == 0 and stats[0].processed == 3
    assert stats[1].cache_hits == 3 and stats[1].processed == 3
    assert len(server.hits_for("/docs/a")) == 1  # the second job did not fetch it again


async def test_page_entries_expire(settings: Settings) -> None:
    cache = build_page_cache(settings.model_copy(update={"redis_page_cache_days": 1.0}))
    try:
        await cache.put(CachedPage("k", "u", "u", {}, b"body", 1.0))
        ttl = await cache.client.ttl(f"{settings.redis_prefix}:page:k")  # type: ignore[attr-defined]
        assert 86_000 < ttl <= 86_400
    finally:
        await cache.aclose()


async def test_while_redis_is_down_limits_and_cache_keep_the_crawl_going(tmp_path: Path) -> None:
    own = OwnRedis().start()
    settings = Settings(data_dir=tmp_path, redis_url=own.url)  # type: ignore[arg-type]
    hosts, requests, cache = (
        build_host_limits(settings),
        build_request_limits(settings),
        build_page_cache(settings),
    )
    bus: EventBus = build_event_bus(settings)
    try:
        crawl = hosts.for_crawl(rate=100.0)
        await crawl.acquire("docs.example")
        async with bus.subscribe("job_a") as stream:
            await stream.ready()
            own.stop()
            assert await crawl.acquire("docs.example") > 0  # this process's table instead
            assert (await requests.consume("key:a")).wait == 0  # let through
            assert await cache.get("missing") is None
            await cache.put(CachedPage("k", "u", "u", {}, b"x", 1.0))  # dropped, no error
            own.start()
            await until(lambda: bus.connected, 15)  # type: ignore[attr-defined]
            await stream.ready()
            await bus.publish("job_a", line("after the restart"))
            async with asyncio.timeout(5):
                assert await anext(stream) == line("after the restart")
        crawl.close()
    finally:
        await hosts.aclose()
        await requests.aclose()
        await cache.aclose()
        await bus.aclose()
        own.stop()

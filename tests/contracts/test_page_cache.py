"""The page cache's contract, run against every implementation ("embedded": a SQLite
file worked on by a thread of its own; "redis": shared by every worker). Every call is
awaited; none blocks the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scrape_api_docs.crawler.cache import CACHE_FILE, CachedPage, PageCache, build_page_cache
from scrape_api_docs.settings import Settings
from tests.support.redis_servers import redis_settings

BODY = b"<html><body>" + b"<p>cached text</p>" * 5000 + b"</body></html>"


@pytest.fixture(params=["embedded", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "embedded":
        yield Settings(data_dir=tmp_path / "data")
        return
    assert request.param == "redis"
    with redis_settings(tmp_path) as settings:
        yield settings


@pytest.fixture
async def cache(settings: Settings) -> AsyncIterator[PageCache]:
    opened = build_page_cache(settings)
    try:
        yield opened
    finally:
        await opened.aclose()


def page(key: str = "http://docs.example/a", stored_at: float = 1000.0) -> CachedPage:
    headers = {"etag": '"v1"', "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT"}
    return CachedPage(key, key, key + "?final", headers, BODY, stored_at)


async def test_get_put_and_replace(cache: PageCache) -> None:
    assert await cache.get("http://docs.example/a") is None
    await cache.put(page())
    got = await cache.get("http://docs.example/a")
    assert got == page()
    assert got.validators() == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT",
    }
    newer = CachedPage(got.key, got.url, got.final_url, {}, b"new body", 2000.0)
    await cache.put(newer)
    assert await cache.get(got.key) == newer
    assert (await cache.get(got.key)).validators() == {}  # type: ignore[union-attr]
    assert await cache.get("http://docs.example/b") is None


async def test_touch_makes_a_page_fresh_again(cache: PageCache) -> None:
    await cache.put(page(stored_at=1000.0))
    stale = await cache.get("http://docs.example/a")
    assert stale is not None and not stale.is_fresh(ttl=60, now=2000.0)
    await cache.touch("http://docs.example/a", 1990.0)
    fresh = await cache.get("http://docs.example/a")
    assert fresh is not None and fresh.is_fresh(ttl=60, now=2000.0)
    assert fresh.body == BODY  # touching keeps the body
    await cache.touch("http://docs.example/missing", 1990.0)  # nothing to touch: no error
    assert await cache.get("http://docs.example/missing") is None


async def test_pages_outlive_the_cache_object(settings: Settings) -> None:
    first = build_page_cache(settings)
    await first.put(page())
    await first.aclose()
    second = build_page_cache(settings)
    try:
        assert await second.get("http://docs.example/a") == page()
    finally:
        await second.aclose()


async def test_a_waiting_cache_never_blocks_the_event_loop(
    cache: PageCache, settings: Settings
) -> None:
    """Another writer holds the cache file's lock; the loop must go on running (here: the
    task that releases the lock) while a put waits for it. Done on the loop, the put would
    hold the loop until SQLite's busy timeout and fail with "database is locked"."""
    if not (settings.cache_dir / CACHE_FILE).exists():
        pytest.skip("this implementation keeps no local file to lock")
    holder = sqlite3.connect(settings.cache_dir / CACHE_FILE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    ticks = 0

    async def release_later() -> None:
        nonlocal ticks
        for _ in range(5):
            await asyncio.sleep(0.01)
            ticks += 1
        holder.execute("COMMIT")

    releaser = asyncio.create_task(release_later())
    try:
        await cache.put(page())
        await releaser
    finally:
        releaser.cancel()
        holder.close()
    assert ticks == 5
    assert await cache.get("http://docs.example/a") == page()

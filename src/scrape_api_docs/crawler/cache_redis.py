"""The page cache in Redis, shared by every worker (``SCRAPER_REDIS_URL``).

Same entries as the SQLite cache (``cache.py``): one hash ``<prefix>:page:<key>`` per page
(URL, final URL, headers as JSON, body zlib-compressed off the event loop, stored_at), so a
second job over a site, on any worker, revalidates or reuses what the first fetched.
Freshness is the crawler's rule (``CachedPage.is_fresh``) as embedded; besides, an entry
expires ``redis_page_cache_days`` after it was last stored or touched, which bounds what
the cache holds (with Redis's own ``maxmemory`` policy).

While Redis is away the cache misses (``get`` answers None, writes are dropped): a crawl
fetches instead of failing.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable

import structlog

from scrape_api_docs.crawler.cache import CachedPage
from scrape_api_docs.redis_link import Redis, RedisError

log = structlog.get_logger("page_cache")
OFF_LOOP = 64 * 1024
"""Bodies at least this large are (de)compressed in a thread, not on the event loop."""

TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'stored_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


async def _off_loop_if_large(fn: Callable[..., bytes], data: bytes, *args: int) -> bytes:
    if len(data) >= OFF_LOOP:
        return await asyncio.to_thread(fn, data, *args)
    return fn(data, *args)


class RedisPageCache:
    def __init__(self, client: Redis, prefix: str, ttl_seconds: float) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = max(1, int(ttl_seconds))
        self._touch = client.register_script(TOUCH)
        self.failures = 0

    def _key(self, key: str) -> str:
        return f"{self.prefix}:page:{key}"

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 100 == 0:
            log.warning("page_cache_unavailable", error=type(exc).__name__)

    async def get(self, key: str) -> CachedPage | None:
        try:
            entry: dict[bytes, bytes] = await self.client.hgetall(self._key(key))  # type: ignore[assignment]
        except RedisError as exc:
            self._failed(exc)
            return None
        if not entry:
            return None
        try:
            body = await _off_loop_if_large(zlib.decompress, entry[b"body"])
            return CachedPage(
                key,
                entry[b"url"].decode(),
                entry[b"final_url"].decode(),
                json.loads(entry[b"headers"]),
                body,
                float(entry[b"stored_at"]),
            )
        except (KeyError, ValueError, zlib.error):  # half an entry (another writer): a miss
            return None

    async def put(self, page: CachedPage) -> None:
        body = await _off_loop_if_large(zlib.compress, page.body, 1)
        name = self._key(page.key)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(name)
                pipe.hset(
                    name,
                    mapping={
                        "url": page.url,
                        "final_url": page.final_url,
                        "headers": json.dumps(page.headers),
                        "body": body,
                        "stored_at": repr(page.stored_at),
                    },
                )
                pipe.expire(name, self.ttl)
                await pipe.execute()
        except RedisError as exc:
            self._failed(exc)

    async def touch(self, key: str, stored_at: float | None = None) -> None:
        try:
            await self._touch(
                keys=[self._key(key)], args=[repr(stored_at or time.time()), self.ttl]
            )
        except RedisError as exc:
            self._failed(exc)

    async def aclose(self) -> None:
        await self.client.aclose()


async def cached_bytes(client: Redis, prefix: str) -> int:
    """What the cache's entries take in Redis (``MEMORY USAGE`` of each, listed by SCAN
    in batches: never one long blocking call); 0 while Redis is away."""
    total = 0
    try:
        batch: list[bytes] = []
        async for name in client.scan_iter(match=f"{prefix}:page:*", count=1000):
            batch.append(name)
            if len(batch) >= 500:
                total += await _memory(client, batch)
                batch = []
        if batch:
            total += await _memory(client, batch)
    except RedisError as exc:
        log.warning("page_cache_size_unavailable", error=type(exc).__name__)
        return 0
    return total


async def _memory(client: Redis, names: list[bytes]) -> int:
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.memory_usage(name)
        sizes = await pipe.execute()
    return sum(int(size or 0) for size in sizes)

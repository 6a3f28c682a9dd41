"""A persistent page cache keyed by canonical URL (SQLite file, bodies zlib-compressed).

Within the TTL a cached page is served with no request at all; past it the crawler
revalidates with ETag / Last-Modified and a 304 reuses the stored body.

The cache is async (``PageCache``): the crawler awaits it, and the embedded SQLite
implementation does its work (SQLite, zlib) in a thread of its own, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from scrape_api_docs.settings import Settings

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    final_url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    stored_at REAL NOT NULL
)
"""


@dataclass
class CachedPage:
    key: str
    url: str
    final_url: str
    headers: dict[str, str]
    body: bytes
    stored_at: float

    def is_fresh(self, ttl: float, now: float) -> bool:
        return now - self.stored_at < ttl

    def validators(self) -> dict[str, str]:
        """Conditional request headers this entry can be revalidated with."""
        out: dict[str, str] = {}
        if etag := self.headers.get("etag"):
            out["If-None-Match"] = etag
        if modified := self.headers.get("last-modified"):
            out["If-Modified-Since"] = modified
        return out


class PageCache(Protocol):
    """The crawler awaits every call: an implementation never blocks the event loop."""

    async def get(self, key: str) -> CachedPage | None: ...

    async def put(self, page: CachedPage) -> None: ...

    async def touch(self, key: str, stored_at: float | None = None) -> None:
        """The page is fresh again as of ``stored_at`` (default: now)."""
        ...

    async def aclose(self) -> None: ...


CACHE_FILE = "pages.sqlite"


def build_page_cache(settings: Settings) -> PageCache:
    """The page cache ``settings`` pick: Redis, shared by every worker, when
    ``SCRAPER_REDIS_URL`` is set (``cache_redis.py``), else a SQLite file in
    ``settings.cache_dir``."""
    if settings.redis_url is not None:
        from scrape_api_docs.crawler.cache_redis import RedisPageCache
        from scrape_api_docs.redis_link import connect

        return RedisPageCache(
            connect(settings), settings.redis_prefix, settings.redis_page_cache_days * 86_400
        )
    return SqlitePageCache(settings.cache_dir / CACHE_FILE)


async def page_cache_bytes(settings: Settings, redis: Any = None) -> int:
    """What the page cache ``settings`` pick holds, measured where it lives: its entries in
    Redis (through ``redis``, a client of the caller's, else one opened for this), else
    the SQLite file (and its write-ahead log)."""
    if settings.redis_url is not None:
        from scrape_api_docs.crawler.cache_redis import cached_bytes
        from scrape_api_docs.redis_link import connect

        if redis is not None:
            return await cached_bytes(redis, settings.redis_prefix)
        client = connect(settings)
        try:
            return await cached_bytes(client, settings.redis_prefix)
        finally:
            await client.aclose()
    path = settings.cache_dir / CACHE_FILE

    def size() -> int:
        wal = path.with_name(path.name + "-wal")
        return sum(p.stat().st_size for p in (path, wal) if p.exists())

    return await asyncio.to_thread(size)


class SqlitePageCache:
    """A SQLite file, worked on by one thread of its own: the event loop only waits for
    it (compressing a body and writing it are never done on the loop). One thread also
    means one connection used in order, so no lock is needed."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="page-cache")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def get(self, key: str) -> CachedPage | None:
        return await self._run(self._get, key)

    async def put(self, page: CachedPage) -> None:
        await self._run(self._put, page)

    async def touch(self, key: str, stored_at: float | None = None) -> None:
        await self._run(self._touch, key, stored_at or time.time())

    async def aclose(self) -> None:
        await self._run(self._db.close)
        self._thread.shutdown(wait=False)

    def _get(self, key: str) -> CachedPage | None:
        row = self._db.execute(
            "SELECT url, final_url, headers, body, stored_at FROM pages WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        url, final_url, headers, body, stored_at = row
        return CachedPage(
            key, url, final_url, json.loads(headers), zlib.decompress(body), stored_at
        )

    def _put(self, page: CachedPage) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?)",
            (
                page.key,
                page.url,
                page.final_url,
                json.dumps(page.headers),
                zlib.compress(page.body, 1),
                page.stored_at,
            ),
        )

    def _touch(self, key: str, stored_at: float) -> None:
        self._db.execute("UPDATE pages SET stored_at = ? WHERE key = ?", (stored_at, key))

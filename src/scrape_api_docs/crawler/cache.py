"""A persistent page cache keyed by canonical URL (SQLite file, bodies zlib-compressed).

Within the TTL a cached page is served with no request at all; past it the crawler
revalidates with ETag / Last-Modified and a 304 reuses the stored body.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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
    def get(self, key: str) -> CachedPage | None: ...

    def put(self, page: CachedPage) -> None: ...

    def touch(self, key: str, stored_at: float) -> None: ...


class SqlitePageCache:
    """Safe to share between the event loop and worker threads (one lock, WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedPage | None:
        with self._lock:
            row = self._db.execute(
                "SELECT url, final_url, headers, body, stored_at FROM pages WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        url, final_url, headers, body, stored_at = row
        return CachedPage(
            key, url, final_url, json.loads(headers), zlib.decompress(body), stored_at
        )

    def put(self, page: CachedPage) -> None:
        blob = zlib.compress(page.body, 1)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?)",
                (
                    page.key,
                    page.url,
                    page.final_url,
                    json.dumps(page.headers),
                    blob,
                    page.stored_at,
                ),
            )

    def touch(self, key: str, stored_at: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE pages SET stored_at = ? WHERE key = ?", (stored_at or time.time(), key)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

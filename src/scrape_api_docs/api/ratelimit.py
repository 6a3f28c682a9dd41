"""Per-caller request limits: a token bucket per API key (or client address).

``RequestLimits`` is the interface the API spends requests through (``consume``: the
quota, whether the request may go ahead or not, for the ``X-RateLimit-*`` headers);
``RequestLimiter`` is the one-process implementation, ``RedisRequestLimiter``
(``ratelimit_redis.py``) the one shared by replicas; ``build_request_limits`` picks one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from scrape_api_docs.settings import Settings


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Quota:
    """One request's standing: the budget, what is left of it, seconds until it is full
    again, and (when refused) seconds until the next request may go ahead."""

    limit: int
    remaining: int
    reset: int
    wait: float

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` (``Reset`` in seconds from now), and ``Retry-After`` when
        refused."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if self.wait:
            out["Retry-After"] = str(self.retry_after)
        return out

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.wait))

    @classmethod
    def of_bucket(cls, capacity: float, rate: float, tokens: float, wait: float) -> Quota:
        """The quota of a bucket of ``capacity`` refilled at ``rate`` a second, holding
        ``tokens`` after this request (every implementation answers through this)."""
        return cls(
            limit=int(capacity),
            remaining=int(tokens),
            reset=math.ceil((capacity - tokens) / rate),
            wait=wait,
        )


class RequestLimits(Protocol):
    async def consume(self, identity: str) -> Quota:
        """Counts the request if ``identity`` may make it now; its quota either way."""
        ...

    async def aclose(self) -> None:
        """Let go of connections (the process is stopping)."""
        ...


class RequestLimiter:
    """``per_minute`` requests a minute per identity, in bursts of up to ``per_minute``.

    Buckets that have refilled completely carry no information and are dropped once there
    are more than ``max_buckets``, so a flood of client addresses cannot grow memory
    without bound.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 10_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}

    async def consume(self, identity: str) -> Quota:
        return self.take(identity)

    def check(self, identity: str) -> float:
        """0 when the request may go ahead (and counts it), else the seconds until it may."""
        return self.take(identity).wait

    def take(self, identity: str) -> Quota:
        """Counts the request if it may go ahead; its quota either way."""
        now = self.clock()
        bucket = self._buckets.get(identity)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._prune(now)
            bucket = self._buckets[identity] = _Bucket(self.capacity, now)
        bucket.tokens = min(
            self.capacity, bucket.tokens + max(0.0, now - bucket.updated) * self.rate
        )
        bucket.updated = now
        wait = 0.0
        if bucket.tokens >= 1:
            bucket.tokens -= 1
        else:
            wait = (1 - bucket.tokens) / self.rate
        return Quota.of_bucket(self.capacity, self.rate, bucket.tokens, wait)

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= self.max_buckets:
            # Still full of active callers: forget the least recently seen half.
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in by_age[: len(by_age) // 2]:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)

    async def aclose(self) -> None:
        return None


def build_request_limits(settings: Settings) -> RequestLimits:
    """The per-caller limits ``settings`` asks for: in Redis for every replica when
    ``SCRAPER_REDIS_URL`` is set (``ratelimit_redis.py``), else this process's buckets."""
    if settings.redis_url is not None:
        from scrape_api_docs.api.ratelimit_redis import RedisRequestLimiter
        from scrape_api_docs.redis_link import connect

        return RedisRequestLimiter(
            connect(settings), settings.redis_prefix, settings.requests_per_minute
        )
    return RequestLimiter(settings.requests_per_minute)

"""Per-caller request limits: a token bucket per API key (or client address)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


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

    def check(self, identity: str) -> float:
        """0 when the request may go ahead (and counts it), else the seconds until it may."""
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
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

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

"""Per-host politeness: a token bucket of ``rate`` requests/s, Crawl-delay, Retry-After pauses.

The bucket holds one token (no bursts): each request reserves the next free slot, so
concurrent workers on one host are spaced evenly. Reservations are computed from the
injected clock, which is how the tests check spacing without timing anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from scrape_api_docs.crawler.clock import Clock


@dataclass
class _HostSlot:
    interval: float
    next_free: float = 0.0
    paused_until: float = 0.0
    semaphore: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))


class HostRateLimiter:
    def __init__(self, clock: Clock, *, rate: float | None, concurrency: int = 8) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive, or None for no limit")
        self.clock = clock
        self.rate = rate
        self.concurrency = concurrency
        self._hosts: dict[str, _HostSlot] = {}

    def _slot(self, host: str) -> _HostSlot:
        slot = self._hosts.get(host)
        if slot is None:
            interval = 1.0 / self.rate if self.rate else 0.0
            slot = _HostSlot(interval, semaphore=asyncio.Semaphore(self.concurrency))
            self._hosts[host] = slot
        return slot

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        """robots.txt Crawl-delay can only slow a host down, never speed it up."""
        slot = self._slot(host)
        slot.interval = max(slot.interval, seconds)

    def pause(self, host: str, seconds: float) -> None:
        """Retry-After on 429/503: the whole host waits, not just the URL that got it."""
        slot = self._slot(host)
        slot.paused_until = max(slot.paused_until, self.clock.now() + seconds)

    def interval(self, host: str) -> float:
        return self._slot(host).interval

    def reserve(self, host: str) -> float:
        """Reserve the next request slot for ``host``; return the time it may start."""
        slot = self._slot(host)
        start = max(self.clock.now(), slot.next_free, slot.paused_until)
        slot.next_free = start + slot.interval
        return start

    async def acquire(self, host: str) -> float:
        """Wait for this host's next slot; return the (clock) time the request starts."""
        start = self.reserve(host)
        await self.clock.sleep(start - self.clock.now())
        return start

    def semaphore(self, host: str) -> asyncio.Semaphore:
        """Bounded concurrency per host, on top of the rate."""
        return self._slot(host).semaphore

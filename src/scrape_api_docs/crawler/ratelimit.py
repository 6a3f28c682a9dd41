"""Per-host politeness: a token bucket of ``rate`` requests/s, Crawl-delay, Retry-After pauses.

The bucket holds one token (no bursts): each request reserves the next free slot, so
concurrent workers on one host are spaced evenly. Reservations are computed from the
injected clock, which is how the tests check spacing without timing anything.

A host's budget belongs to the host, not to one crawl: ``HostLimits`` (built once per
process, ``build_host_limits``) is shared by every crawl, and each crawl takes its view of
it with ``for_crawl(rate=...)`` (``close()`` when done). Two jobs on one host therefore
share its slots instead of doubling the request rate. The rule when crawls on one host ask
for different rates: the host's slot spacing is the largest of the intervals (1/rate) of
the crawls currently using it and its robots.txt Crawl-delay, so every crawl on a host is
held to the slowest rate any of them asked for (a crawl with no limit adds none). A
Retry-After pause holds the host for every crawl. The concurrency cap stays per crawl.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Protocol

from scrape_api_docs.crawler.clock import Clock, SystemClock
from scrape_api_docs.settings import Settings


class HostLimiter(Protocol):
    """One crawl's view of the per-host politeness."""

    async def acquire(self, host: str) -> float:
        """Wait for this host's next slot; return the (clock) time the request starts."""
        ...

    def pause(self, host: str, seconds: float) -> None:
        """Retry-After on 429/503: the whole host waits, not just the URL that got it."""
        ...

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        """robots.txt Crawl-delay can only slow a host down, never speed it up."""
        ...

    def interval(self, host: str) -> float:
        """Seconds between two requests to ``host`` now (for every crawl using it)."""
        ...

    def semaphore(self, host: str) -> asyncio.Semaphore:
        """Bounded concurrency per host for this crawl, on top of the rate."""
        ...

    def close(self) -> None:
        """The crawl is over: its rate no longer counts for the hosts it used."""
        ...


class HostLimits(Protocol):
    """The per-host budget of every crawl in the process (or, in Redis, the fleet)."""

    def for_crawl(self, *, rate: float | None, concurrency: int = 8) -> HostLimiter: ...

    async def aclose(self) -> None:
        """Let go of connections (the process is stopping)."""
        ...


@dataclass
class _Host:
    crawl_delay: float = 0.0
    next_free: float = 0.0
    paused_until: float = 0.0
    users: dict[int, float] = field(default_factory=dict)
    """Crawl -> its interval, for the crawls using the host now."""

    def spacing(self) -> float:
        return max(self.crawl_delay, max(self.users.values(), default=0.0))


class SharedHostLimits:
    """Embedded ``HostLimits``: one table of hosts in this process."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._hosts: dict[str, _Host] = {}
        self._ids = itertools.count(1)

    def for_crawl(self, *, rate: float | None, concurrency: int = 8) -> HostRateLimiter:
        return HostRateLimiter(self.clock, rate=rate, concurrency=concurrency, shared=self)

    def _join(self, host: str, crawl: int, interval: float) -> _Host:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = _Host()
        slot.users[crawl] = interval
        return slot

    def _leave(self, host: str, crawl: int) -> None:
        slot = self._hosts.get(host)
        if slot is not None:
            slot.users.pop(crawl, None)
            if not slot.users:
                slot.crawl_delay = 0.0  # the next crawl reads robots.txt again
        # Hosts nobody uses and nothing is owed to are forgotten: memory stays bounded by
        # the hosts in use.
        now = self.clock.now()
        idle = [
            name
            for name, known in self._hosts.items()
            if not known.users and known.next_free <= now and known.paused_until <= now
        ]
        for name in idle:
            del self._hosts[name]

    async def aclose(self) -> None:
        return None

    def new_id(self) -> int:
        return next(self._ids)

    def hosts_in_use(self) -> int:
        """Hosts remembered: used by a crawl now, or still owed a wait."""
        return len(self._hosts)


class HostRateLimiter:
    """A crawl's ``HostLimiter`` on ``shared`` (by default a table of its own)."""

    def __init__(
        self,
        clock: Clock,
        *,
        rate: float | None,
        concurrency: int = 8,
        shared: SharedHostLimits | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive, or None for no limit")
        self.shared = shared if shared is not None else SharedHostLimits(clock)
        self.clock = self.shared.clock
        self.rate = rate
        self.concurrency = concurrency
        self._interval = 1.0 / rate if rate else 0.0
        self._id = self.shared.new_id()
        self._hosts: dict[str, _Host] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    def _slot(self, host: str) -> _Host:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = self.shared._join(host, self._id, self._interval)
        return slot

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        slot = self._slot(host)
        slot.crawl_delay = max(slot.crawl_delay, seconds)

    def pause(self, host: str, seconds: float) -> None:
        slot = self._slot(host)
        slot.paused_until = max(slot.paused_until, self.clock.now() + seconds)

    def interval(self, host: str) -> float:
        return self._slot(host).spacing()

    def reserve(self, host: str) -> float:
        """Reserve the next request slot for ``host``; return the time it may start."""
        slot = self._slot(host)
        start = max(self.clock.now(), slot.next_free, slot.paused_until)
        slot.next_free = start + slot.spacing()
        return start

    async def acquire(self, host: str) -> float:
        start = self.reserve(host)
        await self.clock.sleep(start - self.clock.now())
        return start

    def semaphore(self, host: str) -> asyncio.Semaphore:
        semaphore = self._semaphores.get(host)
        if semaphore is None:
            semaphore = self._semaphores[host] = asyncio.Semaphore(self.concurrency)
        return semaphore

    def close(self) -> None:
        for host in self._hosts:
            self.shared._leave(host, self._id)
        self._hosts.clear()


def build_host_limits(settings: Settings) -> HostLimits:
    """The per-host budget ``settings`` asks for: held in Redis for every worker when
    ``SCRAPER_REDIS_URL`` is set (``ratelimit_redis.py``), else this process's table."""
    if settings.redis_url is not None:
        from scrape_api_docs.crawler.ratelimit_redis import RedisHostLimits
        from scrape_api_docs.redis_link import connect

        return RedisHostLimits(connect(settings), settings.redis_prefix)
    return SharedHostLimits()

"""Per-host politeness shared by every worker: the host table in Redis (``SCRAPER_REDIS_URL``).

Same rules as ``SharedHostLimits`` (``ratelimit.py``), held across processes: a host's next
free slot, its Retry-After pause and its Crawl-delay live in the hash
``<prefix>:host:<host>``, the crawls using it (with their intervals) in
``<prefix>:host:<host>:crawls``. Reserving a slot is one Lua script (atomic: two workers
never get the same slot). Times come from the injected clock; the default is the wall
clock (``time.time()``), comparable between machines kept in time by NTP.

The interface's synchronous calls (``pause``, ``set_crawl_delay``, ``interval``, a crawl
joining or leaving a host) answer from this process's own table at once, exactly as
embedded, and their writes go to Redis in order before this process's next reservation.
A crawl that dies without ``close()`` stops counting once its entry is ``CRAWL_TTL``
seconds old (each reservation renews it). While Redis is away, reservations fall back to
this process's table (politeness per process) and the crawl goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from scrape_api_docs.crawler.clock import Clock
from scrape_api_docs.crawler.ratelimit import HostRateLimiter, SharedHostLimits
from scrape_api_docs.redis_link import Redis, RedisError

log = structlog.get_logger("ratelimit")
CRAWL_TTL = 300.0
"""Seconds a crawl counts on a host after its last reservation (a crashed worker's rate
stops holding the host back after this)."""
KEY_TTL = 86_400
"""Seconds Redis keeps a host nobody reserved a slot of (memory stays bounded)."""

_SPACING = """
local spacing = tonumber(redis.call('HGET', KEYS[1], 'crawl_delay') or '0')
local crawls = redis.call('HGETALL', KEYS[2])
for i = 1, #crawls, 2 do
  local value = crawls[i + 1]
  local cut = string.find(value, ' ')
  local interval = tonumber(string.sub(value, 1, cut - 1))
  local expires = tonumber(string.sub(value, cut + 1))
  if expires < now then
    redis.call('HDEL', KEYS[2], crawls[i])
  elseif interval > spacing then
    spacing = interval
  end
end
"""

RESERVE = (
    """
local now = tonumber(ARGV[1])
local expires = string.format('%.17g', now + tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. expires)
"""
    + _SPACING
    + """
local start = math.max(now, tonumber(redis.call('HGET', KEYS[1], 'next_free') or '0'),
                       tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0'))
redis.call('HSET', KEYS[1], 'next_free', string.format('%.17g', start + spacing))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {string.format('%.17g', start), string.format('%.17g', spacing)}
"""
)
"""KEYS: host, crawls. ARGV: now, crawl id, its interval, CRAWL_TTL, KEY_TTL."""

JOIN = """
local now = tonumber(ARGV[1])
local expires = string.format('%.17g', now + tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. expires)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""

RAISE = """
local field = ARGV[1]
local value = tonumber(ARGV[2])
if value > tonumber(redis.call('HGET', KEYS[1], field) or '0') then
  redis.call('HSET', KEYS[1], field, string.format('%.17g', value))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
"""KEYS: host. ARGV: field (paused_until or crawl_delay), value, KEY_TTL: only ever up."""

LEAVE = """
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[1], 'crawl_delay', '0')
end
return 1
"""


class RedisHostLimits:
    """``HostLimits`` held in Redis for every worker; ``aclose()`` when done."""

    def __init__(self, client: Redis, prefix: str, clock: Clock | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.local = SharedHostLimits(clock or WallClock())
        self.clock = self.local.clock
        self.process = f"{time.time_ns():x}-{id(self):x}"
        self._reserve = client.register_script(RESERVE)
        self._join = client.register_script(JOIN)
        self._raise = client.register_script(RAISE)
        self._leave = client.register_script(LEAVE)
        self._writes: list[Callable[[], Awaitable[object]]] = []
        self._writing: asyncio.Lock | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.fallbacks = 0
        """Reservations made in this process's table because Redis did not answer."""

    def for_crawl(self, *, rate: float | None, concurrency: int = 8) -> RedisHostLimiter:
        return RedisHostLimiter(self, rate=rate, concurrency=concurrency)

    def keys(self, host: str) -> list[str]:
        base = f"{self.prefix}:host:{host}"
        return [base, f"{base}:crawls"]

    def write(self, call: Callable[[], Awaitable[object]]) -> None:
        """Send ``call`` to Redis soon, and before this process's next reservation (in
        order)."""
        self._writes.append(call)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self.flush())

    async def flush(self) -> None:
        if self._writing is None:
            self._writing = asyncio.Lock()
        async with self._writing:
            while self._writes:
                call = self._writes.pop(0)
                try:
                    await call()
                except RedisError as exc:
                    log.warning("host_limits_not_written", error=type(exc).__name__)

    async def aclose(self) -> None:
        await self.flush()
        await self.client.aclose()


class WallClock:
    """Unix time: the one clock processes on several machines share."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


class RedisHostLimiter:
    """One crawl's view: this process's table answers at once, Redis holds the slots."""

    def __init__(self, shared: RedisHostLimits, *, rate: float | None, concurrency: int) -> None:
        self.shared = shared
        self.clock = shared.clock
        self.local = HostRateLimiter(
            shared.clock, rate=rate, concurrency=concurrency, shared=shared.local
        )
        self.rate = rate
        self.concurrency = concurrency
        self.id = f"{shared.process}-{self.local._id}"
        self._interval = repr(1.0 / rate if rate else 0.0)
        self._joined: set[str] = set()

    def _use(self, host: str) -> list[str]:
        keys = self.shared.keys(host)
        if host not in self._joined:
            self._joined.add(host)
            now = repr(self.clock.now())
            args: list[str | float] = [now, self.id, self._interval, repr(CRAWL_TTL), KEY_TTL]
            self.shared.write(lambda: self.shared._join(keys=keys, args=args))
        return keys

    def set_crawl_delay(self, host: str, seconds: float) -> None:
        self.local.set_crawl_delay(host, seconds)
        keys = self._use(host)
        args: list[str | float] = ["crawl_delay", repr(float(seconds)), KEY_TTL]
        self.shared.write(lambda: self.shared._raise(keys=keys[:1], args=args))

    def pause(self, host: str, seconds: float) -> None:
        self.local.pause(host, seconds)
        keys = self._use(host)
        args: list[str | float] = ["paused_until", repr(self.clock.now() + seconds), KEY_TTL]
        self.shared.write(lambda: self.shared._raise(keys=keys[:1], args=args))

    def interval(self, host: str) -> float:
        """This process's view (the crawls here, the Crawl-delay seen here)."""
        self._use(host)
        return self.local.interval(host)

    async def acquire(self, host: str) -> float:
        keys = self._use(host)
        await self.shared.flush()
        args: list[str | float] = [
            repr(self.clock.now()),
            self.id,
            self._interval,
            repr(CRAWL_TTL),
            KEY_TTL,
        ]
        try:
            start_text, _ = await self.shared._reserve(keys=keys, args=args)
            start = float(start_text)
        except RedisError as exc:
            self.shared.fallbacks += 1
            if self.shared.fallbacks == 1 or self.shared.fallbacks % 100 == 0:
                log.warning("host_limits_local", error=type(exc).__name__)
            start = self.local.reserve(host)
        await self.clock.sleep(start - self.clock.now())
        return start

    def semaphore(self, host: str) -> asyncio.Semaphore:
        return self.local.semaphore(host)

    def _leaving(self, host: str) -> Callable[[], Awaitable[object]]:
        keys, args = self.shared.keys(host), [self.id]
        return lambda: self.shared._leave(keys=keys, args=args)

    def close(self) -> None:
        for host in self._joined:
            self.shared.write(self._leaving(host))
        self._joined.clear()
        self.local.close()

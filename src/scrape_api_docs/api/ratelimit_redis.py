"""Per-key API limits held in Redis, so they hold across API replicas (``SCRAPER_REDIS_URL``).

The same token bucket as ``RequestLimiter`` (``ratelimit.py``): ``per_minute`` tokens, a
request spends one, they come back at ``per_minute / 60`` a second. Each identity's bucket
is the hash ``<prefix>:rate:<identity>`` (tokens, updated), read and spent in one Lua
script (atomic across replicas), and expires once it would be full again (a full bucket
carries nothing), so memory is bounded by the callers of the last minute. Times come from
the injected clock (default: the wall clock, shared by machines in time).

While Redis is away requests are let through (the limit is a guard, not the service) and
the health check says ``degraded``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from scrape_api_docs.api.ratelimit import Quota
from scrape_api_docs.redis_link import Redis, RedisError

log = structlog.get_logger("ratelimit")

TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or ARGV[1])
local updated = tonumber(redis.call('HGET', KEYS[1], 'updated') or ARGV[3])
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'updated', string.format('%.17g', now))
redis.call('EXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate) + 1)
return {string.format('%.17g', tokens), string.format('%.17g', wait)}
"""
"""KEYS: the bucket. ARGV: capacity, tokens a second, now. Returns tokens left, wait."""


class RedisRequestLimiter:
    """``RequestLimits`` shared by every replica; ``aclose()`` when done."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.client = client
        self.prefix = prefix
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._take = client.register_script(TAKE)
        self.failures = 0

    async def consume(self, identity: str) -> Quota:
        args = [repr(self.capacity), repr(self.rate), repr(self.clock())]
        try:
            tokens_text, wait_text = await self._take(
                keys=[f"{self.prefix}:rate:{identity}"], args=args
            )
        except RedisError as exc:
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning("request_limits_unavailable", error=type(exc).__name__)
            return Quota(limit=int(self.capacity), remaining=int(self.capacity), reset=0, wait=0)
        return Quota.of_bucket(self.capacity, self.rate, float(tokens_text), float(wait_text))

    async def aclose(self) -> None:
        await self.client.aclose()

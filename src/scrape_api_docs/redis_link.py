"""The link to Redis shared by the scaled-out parts (event bus, limits, page cache).

Each part opens its own client from ``Settings.redis_url`` (``connect``) and names its keys
with ``Settings.redis_prefix`` (``key``). Clients fail fast while Redis is away (short
connect and read timeouts, two quick retries) and reconnect by themselves when it is back;
every part says what it does meanwhile (the bus reconnects, limits fall back to this
process, the page cache misses), and the health check names Redis (``ping``).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scrape_api_docs.settings import Settings

__all__ = ["Redis", "RedisError", "connect", "key", "ping"]


def connect(settings: Settings, **options: Any) -> Redis:
    """A client (a pool of connections, opened when first used) to ``settings.redis_url``."""
    if settings.redis_url is None:
        raise ValueError("SCRAPER_REDIS_URL is not set")
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        **options,
    )


def key(settings: Settings, *parts: str) -> str:
    """``<prefix>:<part>:<part>...``: every key and channel of this deployment."""
    return ":".join((settings.redis_prefix, *parts))


async def ping(client: Redis) -> str | None:
    """None when Redis answers, else why not (no secret: the URL is never in it)."""
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return type(exc).__name__
    return None

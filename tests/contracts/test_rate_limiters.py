"""The rate limiters' contracts, written against ``HostLimits`` (per-host politeness shared
by every crawl) and ``RequestLimits`` (the API's per-key budget), and run against every
implementation (``embedded``: this process; ``redis``: shared by every process). Time
comes from a fake clock: nothing here waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scrape_api_docs.api.ratelimit import RequestLimiter, RequestLimits
from scrape_api_docs.crawler.ratelimit import HostLimiter, HostLimits, SharedHostLimits
from scrape_api_docs.redis_link import connect
from tests.support.clock import FakeClock
from tests.support.redis_servers import redis_settings

HOST = "docs.example.org"


@pytest.fixture(params=["embedded", "redis"])
async def host_limits(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[HostLimits, FakeClock]]:
    clock = FakeClock(start=0.0)
    if request.param == "embedded":
        yield SharedHostLimits(clock), clock
        return
    from scrape_api_docs.crawler.ratelimit_redis import RedisHostLimits

    with redis_settings(tmp_path) as settings:
        limits = RedisHostLimits(connect(settings), settings.redis_prefix, clock)
        yield limits, clock
        await limits.aclose()


async def starts(limiter: HostLimiter, count: int, host: str = HOST) -> list[float]:
    return [await limiter.acquire(host) for _ in range(count)]


async def test_one_crawl_is_spaced_per_host(host_limits: tuple[HostLimits, FakeClock]) -> None:
    limits, clock = host_limits
    crawl = limits.for_crawl(rate=2.0)
    assert await starts(crawl, 4) == [0.0, 0.5, 1.0, 1.5]
    assert crawl.interval(HOST) == 0.5
    assert await crawl.acquire("other.example.org") == clock.now()  # hosts are apart
    crawl.close()


async def test_two_crawls_on_one_host_share_its_slots(
    host_limits: tuple[HostLimits, FakeClock],
) -> None:
    limits, _ = host_limits
    first, second = limits.for_crawl(rate=2.0), limits.for_crawl(rate=2.0)
    together = []
    for _ in range(3):
        together += [await first.acquire(HOST), await second.acquire(HOST)]
    assert together == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # 2 requests/s in all, not 4
    first.close()
    second.close()


async def test_the_slowest_crawl_on_a_host_sets_its_spacing_while_it_is_there(
    host_limits: tuple[HostLimits, FakeClock],
) -> None:
    limits, clock = host_limits
    fast, slow = limits.for_crawl(rate=4.0), limits.for_crawl(rate=1.0)
    assert fast.interval(HOST) == 0.25
    assert slow.interval(HOST) == 1.0 and fast.interval(HOST) == 1.0
    assert await starts(fast, 3) == [0.0, 1.0, 2.0]
    slow.close()  # gone: the host is back at the fast crawl's own rate
    assert fast.interval(HOST) == 0.25
    clock.time = 10.0
    assert await starts(fast, 3) == [10.0, 10.25, 10.5]
    unlimited = limits.for_crawl(rate=None)  # adds no spacing of its own...
    assert unlimited.interval(HOST) == 0.25  # ...but is held to the others'
    fast.close()
    unlimited.close()


async def test_pauses_and_crawl_delay_hold_the_host_for_every_crawl(
    host_limits: tuple[HostLimits, FakeClock],
) -> None:
    limits, clock = host_limits
    first, second = limits.for_crawl(rate=None), limits.for_crawl(rate=None)
    first.pause(HOST, 30.0)  # a 429 with Retry-After: 30 seen by the first crawl
    assert await second.acquire(HOST) == 30.0
    second.set_crawl_delay(HOST, 5.0)
    second.set_crawl_delay(HOST, 0.1)  # only ever slows down
    assert first.interval(HOST) == 5.0
    assert await starts(first, 2) == [30.0, 35.0]  # the delay counts from the next slot
    first.close()
    second.close()
    clock.time = 100.0
    fresh = limits.for_crawl(rate=2.0)  # the host forgotten once nobody uses it
    assert await starts(fresh, 2) == [100.0, 100.5]
    fresh.close()


def test_concurrency_caps_stay_per_crawl(host_limits: tuple[HostLimits, FakeClock]) -> None:
    limits, _ = host_limits
    one, two = limits.for_crawl(rate=2.0, concurrency=3), limits.for_crawl(rate=2.0)
    assert one.semaphore(HOST) is one.semaphore(HOST)
    assert one.semaphore(HOST) is not two.semaphore(HOST)
    assert one.semaphore(HOST)._value == 3
    one.close()
    two.close()


# --- the API's per-key limits ------------------------------------------------------------
RequestFactory = Callable[[int, FakeClock], RequestLimits]


@pytest.fixture(params=["embedded", "redis"])
async def request_limits(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RequestFactory]:
    if request.param == "embedded":
        yield lambda per_minute, clock: RequestLimiter(per_minute, clock=clock.now)
        return
    from scrape_api_docs.api.ratelimit_redis import RedisRequestLimiter

    made: list[RequestLimits] = []
    with redis_settings(tmp_path) as settings:

        def make(per_minute: int, clock: FakeClock) -> RequestLimits:
            made.append(
                RedisRequestLimiter(
                    connect(settings), settings.redis_prefix, per_minute, clock=clock.now
                )
            )
            return made[-1]

        yield make
        for limits in made:
            await limits.aclose()


async def test_a_key_spends_its_budget_and_sees_what_is_left(
    request_limits: RequestFactory,
) -> None:
    clock = FakeClock(start=0.0)
    limits = request_limits(3, clock)
    quotas = [await limits.consume("key:a") for _ in range(3)]
    assert [q.remaining for q in quotas] == [2, 1, 0]
    assert all(q.limit == 3 and q.wait == 0 for q in quotas)
    assert [q.reset for q in quotas] == [20, 40, 60]  # seconds until full again
    refused = await limits.consume("key:a")
    assert refused.wait > 0 and refused.remaining == 0 and refused.retry_after == 20
    assert refused.headers()["Retry-After"] == "20"
    assert set(quotas[0].headers()) == {
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    }
    other = await limits.consume("key:b")  # another key, its own budget
    assert other.wait == 0 and other.remaining == 2
    clock.time = 20.0  # a third of a minute: one request back
    assert (await limits.consume("key:a")).wait == 0
    assert (await limits.consume("key:a")).wait > 0

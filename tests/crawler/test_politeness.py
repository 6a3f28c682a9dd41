"""Rate limiting and retry decisions, on an injected clock: nothing here waits."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from scrape_api_docs.crawler.ratelimit import HostRateLimiter
from scrape_api_docs.crawler.retry import RetryPolicy, decide, parse_retry_after
from tests.support.clock import FakeClock


def test_token_bucket_spaces_requests_per_host() -> None:
    clock = FakeClock(start=0.0)
    limiter = HostRateLimiter(clock, rate=2.0)
    slots = [limiter.reserve("a.org") for _ in range(5)]
    assert slots == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert limiter.reserve("b.org") == 0.0  # hosts are independent


async def test_acquire_sleeps_until_the_slot() -> None:
    clock = FakeClock(start=0.0)
    limiter = HostRateLimiter(clock, rate=4.0)
    starts = [await limiter.acquire("a.org") for _ in range(4)]
    assert starts == [0.0, 0.25, 0.5, 0.75]
    assert clock.sleeps == [0.25, 0.25, 0.25]


def test_idle_time_does_not_bank_a_burst() -> None:
    clock = FakeClock(start=0.0)
    limiter = HostRateLimiter(clock, rate=1.0)
    limiter.reserve("a.org")
    clock.time = 100.0
    assert [limiter.reserve("a.org") for _ in range(3)] == [100.0, 101.0, 102.0]


def test_crawl_delay_only_slows_down() -> None:
    clock = FakeClock(start=0.0)
    limiter = HostRateLimiter(clock, rate=2.0)
    limiter.set_crawl_delay("a.org", 5.0)
    limiter.set_crawl_delay("a.org", 0.1)
    assert [limiter.reserve("a.org") for _ in range(3)] == [0.0, 5.0, 10.0]


def test_no_rate_limit_means_no_waiting_but_pauses_still_apply() -> None:
    clock = FakeClock(start=0.0)
    limiter = HostRateLimiter(clock, rate=None)
    assert [limiter.reserve("a.org") for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.pause("a.org", 30.0)
    assert limiter.reserve("a.org") == 30.0


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HostRateLimiter(FakeClock(), rate=0)


POLICY = RetryPolicy(max_retries=3, backoff=1.0, max_retry_after=60.0)


@pytest.mark.parametrize("status", [404, 403, 401, 410, 400])
def test_client_errors_are_not_retried(status: int) -> None:
    assert decide(POLICY, 0, status=status).delay is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_back_off_exponentially_with_jitter(status: int) -> None:
    rng = random.Random(7)
    delays = [decide(POLICY, attempt, status=status, rng=rng).delay for attempt in range(3)]
    for attempt, delay in enumerate(delays):
        base = 2**attempt
        assert delay is not None and base / 2 <= delay <= base
    assert decide(POLICY, 3, status=status).delay is None


def test_timeouts_and_connection_errors_are_retried() -> None:
    assert decide(POLICY, 0, error="timeout").delay is not None
    assert decide(POLICY, 0, error="connection error").delay is not None


def test_retry_after_is_honoured_and_pauses_the_host() -> None:
    decision = decide(POLICY, 0, status=429, retry_after=12)
    assert decision.delay == 12 and decision.host_pause
    assert decide(POLICY, 0, status=503, retry_after=5).delay == 5
    too_long = decide(POLICY, 0, status=429, retry_after=3600)
    assert too_long.delay is None and "cap" in too_long.reason


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Mon, 30 Nov 2026 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None

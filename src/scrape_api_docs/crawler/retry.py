"""Retry decisions as a pure function: what failed, which attempt -> wait how long, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrape_api_docs.times import as_utc

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 120.0


@dataclass(frozen=True)
class RetryDecision:
    delay: float | None
    """Seconds to wait before the next attempt; None means give up."""
    reason: str
    host_pause: bool = False
    """True when the server told us to back off (Retry-After): the whole host waits."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = as_utc(when)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def decide(
    policy: RetryPolicy,
    attempt: int,
    *,
    status: int | None = None,
    error: str | None = None,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> RetryDecision:
    """Decide about attempt number ``attempt`` (0 for the first) that just failed.

    Retries timeouts, connection errors and 429/5xx with exponential backoff and
    "equal jitter" (half fixed, half random) so many crawlers do not retry in step.
    A Retry-After on 429/503 is honoured as given; one longer than the cap gives up
    rather than stalling the whole crawl.
    """
    what = f"HTTP {status}" if status is not None else (error or "error")
    if status is not None and status not in RETRY_STATUSES:
        return RetryDecision(None, f"{what} is not retried")
    if attempt >= policy.max_retries:
        return RetryDecision(None, f"{what} after {attempt + 1} attempts")
    if status in RETRY_AFTER_STATUSES and retry_after is not None:
        if retry_after > policy.max_retry_after:
            return RetryDecision(
                None,
                f"{what} with Retry-After {retry_after:.0f}s, over the "
                f"{policy.max_retry_after:.0f}s cap",
            )
        return RetryDecision(retry_after, f"{what}, Retry-After {retry_after:g}s", True)
    base = policy.backoff * (2**attempt)
    jitter = (rng or random).uniform(0, base / 2)
    return RetryDecision(base / 2 + jitter, f"{what}, backing off", status == 429)

"""Signed webhooks with retries, through the same network policy as the crawler.

Each delivery is a JSON POST with ``X-Scraper-Event``, ``X-Scraper-Delivery`` (stable per
job and event, so receivers can drop duplicates) and ``X-Scraper-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.errors import InvalidURLError

log = structlog.get_logger("webhooks")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """What a receiver does: check the MAC and that the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


@dataclass
class WebhookSender:
    policy: NetworkPolicy
    attempts: int = 5
    backoff: float = 1.0
    timeout: float = 10.0

    async def deliver(
        self, url: str, event: str, delivery_id: str, payload: dict[str, Any], secret: str
    ) -> bool:
        """POST until a 2xx or the attempts run out; never raises."""
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        async with httpx.AsyncClient(
            transport=self.policy.transport(), timeout=self.timeout, follow_redirects=False
        ) as client:
            for attempt in range(self.attempts):
                stamp = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "scrape-api-docs-webhooks/0.1",
                    "X-Scraper-Event": event,
                    "X-Scraper-Delivery": delivery_id,
                    "X-Scraper-Signature": signature(secret, stamp, body),
                }
                try:
                    self.policy.check_url(url)
                    response = await client.post(url, content=body, headers=headers)
                    if 200 <= response.status_code < 300:
                        return True
                    outcome = f"HTTP {response.status_code}"
                except InvalidURLError as exc:
                    log.warning("webhook_refused", url=url, reason=exc.message)
                    return False
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                log.info(
                    "webhook_retry", delivery=delivery_id, attempt=attempt + 1, outcome=outcome
                )
                await asyncio.sleep(self.backoff * 2**attempt)
        log.warning("webhook_failed", delivery=delivery_id, url=url)
        return False

"""Signed webhooks with retries, through the same network policy as the crawler.

Each delivery is a JSON POST with ``X-Scraper-Event``, ``X-Scraper-Delivery`` (stable per
job and event, so receivers can drop duplicates) and ``X-Scraper-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.

The signing secret is the job's ``webhook_secret`` when it has one, else the webhook
secret of the API key that submitted it (shown once by ``scrape-docs keys create``).
Without either (no API keys on the server and no per-job secret) the server makes one
for the job at submission and returns it once in the 202: a delivery is never unsigned.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.errors import InvalidURLError
from scrape_api_docs.storage.repositories import KeyRepository
from scrape_api_docs.storage.secrets import Cipher

log = structlog.get_logger("webhooks")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """What a receiver does: check the MAC and that the timestamp is recent."""
    try:
        parts = dict(item.strip().split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"].encode("ascii")
    except (KeyError, ValueError, UnicodeError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).rsplit("v1=", 1)[1].encode("ascii")
    return hmac.compare_digest(expected, given)


def redacted(url: str) -> str:
    """What of a webhook URL may be logged: scheme, host and port. Paths and queries of
    webhook URLs often carry tokens (chat and CI hooks)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}" + (
            f":{parts.port}" if parts.port else ""
        )
    except ValueError:
        return "<malformed url>"


async def account_secret(
    sessions: async_sessionmaker[AsyncSession], cipher: Cipher, owner: str
) -> str | None:
    """The webhook secret of the API key ``owner`` is, or None (no key: the local owner)."""
    async with sessions() as session:
        record = await KeyRepository(session).get(owner)
    if record is None or not record.webhook_secret_enc:
        return None
    value = cipher.decrypt(record.webhook_secret_enc)
    return value if isinstance(value, str) and value else None


async def signing_secret(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    owner: str,
    job_secret_enc: str | None,
) -> str | None:
    """The job's own secret, else its API key's; None when there is neither."""
    if job_secret_enc:
        value = cipher.decrypt(job_secret_enc)
        if isinstance(value, str) and value:
            return value
    return await account_secret(sessions, cipher, owner)


async def has_signing_secret(
    sessions: async_sessionmaker[AsyncSession], cipher: Cipher, owner: str
) -> bool:
    """Whether ``owner``'s API key has a webhook secret to sign with."""
    return await account_secret(sessions, cipher, owner) is not None


def new_webhook_secret() -> str:
    """A signing secret for a job whose webhook has none: made at submission, returned
    once in the 202, stored encrypted with the job."""
    return "whsec_" + secrets.token_urlsafe(24)


@dataclass
class WebhookSender:
    policy: NetworkPolicy
    attempts: int = 5
    backoff: float = 1.0
    """Seconds before the first retry, doubled for each later one."""
    max_backoff: float = 300.0
    timeout: float = 10.0
    """Seconds one attempt may take in all (connect, send, response headers)."""

    async def deliver(
        self, url: str, event: str, delivery_id: str, payload: dict[str, Any], secret: str
    ) -> bool:
        """POST until a 2xx or the attempts run out; never raises.

        The URL is checked against the network policy before every attempt and again at
        connect time (the name is resolved and every address checked), so a receiver
        that now resolves to a private address gets nothing. Redirects are not followed,
        the response body is never read.
        """
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        where = redacted(url)
        try:
            async with httpx.AsyncClient(
                transport=self.policy.transport(), timeout=self.timeout, follow_redirects=False
            ) as client:
                for attempt in range(1, self.attempts + 1):
                    outcome = await self._attempt(client, url, event, delivery_id, body, secret)
                    if outcome is None:
                        log.info("webhook_delivered", delivery=delivery_id, attempt=attempt)
                        return True
                    if outcome == "refused":
                        return False
                    log.info(
                        "webhook_retry",
                        delivery=delivery_id,
                        url=where,
                        attempt=attempt,
                        outcome=outcome,
                    )
                    if attempt < self.attempts:
                        await asyncio.sleep(
                            min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                        )
        except Exception:  # never raises: a broken receiver must not break a job
            log.exception("webhook_error", delivery=delivery_id, url=where)
            return False
        log.warning("webhook_failed", delivery=delivery_id, url=where, attempts=self.attempts)
        return False

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: str,
        event: str,
        delivery_id: str,
        body: bytes,
        secret: str,
    ) -> str | None:
        """None when delivered, "refused" when the policy forbids the URL, else what
        went wrong (worth a retry)."""
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
            async with asyncio.timeout(self.timeout):
                request = client.build_request("POST", url, content=body, headers=headers)
                response = await client.send(request, stream=True)
                await response.aclose()  # the body is never read: it could be endless
        except InvalidURLError as exc:
            log.warning(
                "webhook_refused", delivery=delivery_id, url=redacted(url), reason=exc.message
            )
            return "refused"
        except TimeoutError:
            return "timeout"
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

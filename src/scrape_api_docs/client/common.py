"""What ``Client`` and ``AsyncClient`` share besides the calls themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from websockets.exceptions import ConnectionClosed

from scrape_api_docs.client.core import API_KEY_HEADER
from scrape_api_docs.client.errors import APIError, ConnectionFailed, NotFound, Unauthorized
from scrape_api_docs.jobs.events import JobEvent

DEFAULT_SERVER = "http://127.0.0.1:8000"
EventHandler = Callable[[JobEvent], None]
# The stream's close codes for an unknown job and a bad key (api/routers/jobs.py).
CLOSE_NOT_FOUND = 4404
CLOSE_UNAUTHORIZED = 4401


@dataclass(frozen=True)
class RetryNotice:
    """A request about to be tried again: what, why, in how many seconds, which attempt."""

    method: str
    path: str
    status: int
    wait: float
    attempt: int


def headers(api_key: str | None) -> dict[str, str]:
    return {API_KEY_HEADER: api_key} if api_key else {}


def connection_failed(base_url: str, exc: httpx.TransportError) -> ConnectionFailed:
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(f"cannot reach the server at {base_url}: {reason}")


def closed_error(exc: ConnectionClosed, job_id: str) -> APIError | None:
    """The typed error of a stream the server closed on purpose, or None (dropped)."""
    code = exc.rcvd.code if exc.rcvd is not None else None
    reason = exc.rcvd.reason if exc.rcvd is not None else ""
    if code == CLOSE_NOT_FOUND:
        return NotFound(404, "JOB_NOT_FOUND", reason or f"job {job_id} not found")
    if code == CLOSE_UNAUTHORIZED:
        return Unauthorized(401, "AUTHENTICATION_FAILED", reason or "missing or invalid API key")
    return None

"""What the client raises: the API's error envelope as typed exceptions.

Every answer of the API that is an error carries ``{"error": {code, message, details,
timestamp, request_id}}``; ``APIError`` keeps all of it, and its subclass says the kind
(``except NotFound`` rather than checking a status). Nothing here imports the server.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of everything the client raises on purpose."""


class ConnectionFailed(ClientError):
    """The server could not be reached (refused, timed out, name unknown, dropped)."""


class WaitTimeout(ClientError, TimeoutError):
    """``wait()`` gave up before the job finished (the job goes on)."""


class BadAnswer(ClientError):
    """A success answer whose body is not the API's (a proxy's page, another version)."""


class DownloadCorrupt(ClientError):
    """A downloaded file does not match the checksum the server recorded for it."""


class APIError(ClientError):
    """An error answer of the API, with its envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        request_id: str = "",
        timestamp: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id
        self.timestamp = timestamp
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{where}"


class BadRequest(APIError):
    """400/422: the request was refused as sent (INVALID_URL, INVALID_OPTIONS,
    VALIDATION_ERROR); ``details["errors"]`` names each field."""


class Unauthorized(APIError):
    """401/403: missing, unknown or revoked API key."""


class NotFound(APIError):
    """404: no such job, export, conversion or credential (or another key's)."""


class Conflict(APIError):
    """409: the resource is not in a state that allows this."""


class PayloadTooLarge(APIError):
    """413: too big for the endpoint (``/scrape/sync`` limits; submit instead)."""


class RateLimited(APIError):
    """429 still refused after the retries (or asked to wait longer than allowed);
    ``retry_after`` is the server's wait in seconds."""


class ServerError(APIError):
    """5xx: the server failed or is shutting down (503), or its disk is full (507)."""


_KINDS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: BadRequest,
    429: RateLimited,
}


def error_class(status: int) -> type[APIError]:
    if status in _KINDS:
        return _KINDS[status]
    return ServerError if status >= 500 else APIError


def api_error(
    status: int, body: Any, *, reason: str = "", retry_after: float | None = None
) -> APIError:
    """The typed error of an answer with ``status`` and JSON ``body`` (the envelope; any
    other body, e.g. from a proxy, still gives an error that says what came back)."""
    envelope = body.get("error") if isinstance(body, dict) else None
    kind = error_class(status)
    if isinstance(envelope, dict) and isinstance(envelope.get("code"), str):
        details = envelope.get("details")
        return kind(
            status,
            envelope["code"],
            str(envelope.get("message") or reason),
            details=details if isinstance(details, dict) else {},
            request_id=str(envelope.get("request_id") or ""),
            timestamp=str(envelope.get("timestamp") or ""),
            retry_after=retry_after,
        )
    text = f"HTTP {status} {reason}".strip()
    return kind(
        status, f"HTTP_{status}", f"{text} (not an answer of the API)", retry_after=retry_after
    )

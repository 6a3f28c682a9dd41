"""A typed Python client of the scrape-api-docs API.

``Client`` (blocking) and ``AsyncClient`` (asyncio) have one method per endpoint; results
are the API's own response models (``scrape_api_docs.api.models.responses``), job events
the WebSocket's (``scrape_api_docs.jobs.events``), errors ``APIError`` subclasses
carrying the error envelope. Nothing of the server (FastAPI, the database) is imported.
"""

from __future__ import annotations

from scrape_api_docs.client.aio import AsyncClient
from scrape_api_docs.client.common import DEFAULT_SERVER, RetryNotice
from scrape_api_docs.client.core import RetryPolicy
from scrape_api_docs.client.errors import (
    APIError,
    BadAnswer,
    BadRequest,
    ClientError,
    Conflict,
    ConnectionFailed,
    DownloadCorrupt,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    WaitTimeout,
)
from scrape_api_docs.client.sync import Client

__all__ = [
    "DEFAULT_SERVER",
    "APIError",
    "AsyncClient",
    "BadAnswer",
    "BadRequest",
    "Client",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "DownloadCorrupt",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RetryNotice",
    "RetryPolicy",
    "ServerError",
    "Unauthorized",
    "WaitTimeout",
]

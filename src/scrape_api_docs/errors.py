"""One error tree for the whole project.

Every error a user can see carries one of the API design's codes, a message that says
what happened and what to do, and optional details. The API renders these into the
design's error envelope; the CLI prints them as one line.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ScraperError(Exception):
    """Base of every error we raise on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __str__(self) -> str:
        return self.message


class InvalidURLError(ScraperError):
    """The URL is malformed, uses a refused scheme, or points where the network policy forbids."""

    code = "INVALID_URL"


class InvalidOptionsError(ScraperError):
    """Scrape options out of bounds or inconsistent."""

    code = "VALIDATION_ERROR"


class AuthenticationFailedError(ScraperError):
    code = "AUTHENTICATION_FAILED"


class RateLimitExceededError(ScraperError):
    code = "RATE_LIMIT_EXCEEDED"


class JobNotFoundError(ScraperError):
    code = "JOB_NOT_FOUND"


class ScrapingFailedError(ScraperError):
    """The crawl could not produce what was asked (start page unreachable, nothing fetched...)."""

    code = "SCRAPING_FAILED"


class FetchError(ScrapingFailedError):
    """One URL could not be fetched; the crawl records it and goes on."""

    RETRYABLE: ClassVar[frozenset[str]] = frozenset({"timeout", "connection error"})

    def __init__(self, message: str, *, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return self.reason in self.RETRYABLE


class ExportFailedError(ScraperError):
    code = "EXPORT_FAILED"


class InsufficientStorageError(ScraperError):
    """The disk holding the data folder is full, or below the configured free space."""

    code = "INSUFFICIENT_STORAGE"

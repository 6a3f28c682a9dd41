"""What clients send. Shapes, names and bounds follow the API design."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, HttpUrl, field_validator

from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.exporters.registry import EXPORTERS
from scrape_api_docs.strict import StrictModel, unknown_name


class AuthType(StrEnum):
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"
    API_KEY = "api_key"
    COOKIE = "cookie"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Smaller runs first."""
        return {"urgent": 0, "high": 1, "normal": 2, "low": 3}[self.value]


class AuthCredentials(StrictModel):
    model_config = ConfigDict(extra="forbid")

    type: AuthType
    username: str | None = Field(default=None, max_length=1000)
    password: str | None = Field(default=None, max_length=10000)
    token: str | None = Field(default=None, max_length=10000)
    api_key: str | None = Field(default=None, max_length=10000)
    header_name: str | None = Field(
        default=None, max_length=100, description="Header for api_key auth (default X-API-Key)."
    )
    cookies: (
        dict[Annotated[str, Field(max_length=200)], Annotated[str, Field(max_length=10000)]] | None
    ) = Field(default=None, max_length=50)


def _check_formats(formats: list[str]) -> list[str]:
    unknown = [f for f in formats if f not in EXPORTERS]
    if unknown:
        kind = "export format" if len(unknown) == 1 else "export formats"
        raise unknown_name(kind, unknown, sorted(EXPORTERS))
    return list(dict.fromkeys(formats))


class ScrapeRequest(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://docs.example.com/guide/",
                    "options": {"max_depth": 5, "rate_limit": 2.0},
                    "export_formats": ["markdown"],
                    "priority": "normal",
                }
            ]
        },
    )

    url: HttpUrl
    options: ScrapeOptions = Field(default_factory=ScrapeOptions)
    export_formats: list[str] = Field(
        default_factory=lambda: ["markdown"],
        min_length=1,
        max_length=10,
        json_schema_extra={"items": {"type": "string", "enum": list[Any](sorted(EXPORTERS))}},
    )
    authentication: AuthCredentials | None = None
    webhook_url: HttpUrl | None = None
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200)
    priority: Priority = Priority.NORMAL
    metadata: (
        dict[Annotated[str, Field(max_length=200)], Annotated[str, Field(max_length=2000)]] | None
    ) = Field(
        default=None,
        max_length=50,
        description="Your own labels, kept with the job: at most 50, keys up to 200 "
        "characters, values up to 2000.",
    )

    _formats = field_validator("export_formats")(lambda cls, v: _check_formats(v))


class ValidateRequest(StrictModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    options: ScrapeOptions = Field(default_factory=ScrapeOptions)


class BookMetadata(StrictModel):
    """What the PDF, EPUB and HTML exports print as the book's title page and metadata."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "API Documentation", "author": "Example Corp", "language": "en"}]
        },
    )

    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    publisher: str | None = Field(default=None, max_length=500)
    language: str | None = Field(
        default=None, max_length=35, description="BCP 47 language tag, e.g. en or pt-BR"
    )


class ConvertOptions(StrictModel):
    model_config = ConfigDict(extra="forbid")

    include_toc: bool = True
    metadata: BookMetadata | None = None


class ConvertRequest(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"target_format": "markdown", "options": {"include_toc": True}}]
        },
    )

    target_format: str = Field(json_schema_extra={"enum": list[Any](sorted(EXPORTERS))})
    options: ConvertOptions = Field(default_factory=ConvertOptions)

    @field_validator("target_format")
    @classmethod
    def _known(cls, value: str) -> str:
        return _check_formats([value])[0]


class CredentialRequest(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "domain": "docs.internal.example.com",
                    "auth_type": "bearer",
                    "credentials": {"token": "secret-token"},
                    "expires_at": "2026-12-31T23:59:59Z",
                }
            ]
        },
    )

    domain: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+(:\d{1,5})?$")
    auth_type: AuthType
    credentials: dict[Annotated[str, Field(max_length=200)], Any] = Field(max_length=50)
    expires_at: datetime | None = None

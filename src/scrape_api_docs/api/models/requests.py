"""What clients send. Shapes, names and bounds follow the API design."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from scrape_api_docs.crawler.netpolicy import url_host_problem
from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.errors import InvalidOptionsError
from scrape_api_docs.exporters.registry import EXPORTERS
from scrape_api_docs.jobs.auth import headers_for, split_domain
from scrape_api_docs.strict import StrictModel, unknown_name

URL_REFUSED = "url_refused"
"""Error type of a URL refused as written, before the URL parser normalises it."""
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _host_as_written(value: Any) -> Any:
    """Alternate IP spellings (``2130706433``, ``0x7f000001``, ``127.1``) are refused as
    sent: the URL type would otherwise turn them into a dotted quad first."""
    if isinstance(value, str):
        problem = url_host_problem(value)
        if problem:
            raise PydanticCustomError(URL_REFUSED, "{problem}", {"problem": problem})
    return value


RequestUrl = Annotated[HttpUrl, BeforeValidator(_host_as_written)]


def _usable_credential(auth_type: str, values: dict[str, Any]) -> None:
    """The credential must make request headers (fields present, header-safe values)."""
    try:
        headers_for(auth_type, values)
    except InvalidOptionsError as exc:
        raise ValueError(exc.message) from None


def domain_problem(domain: str) -> str | None:
    """Why ``domain`` (``host`` or ``host:port``) cannot name a site, or None."""
    try:
        host, _ = split_domain(domain)
    except InvalidOptionsError as exc:
        return exc.message
    if ":" in host:  # an IPv6 literal, written [v6] or [v6]:port
        problem = url_host_problem(f"http://[{host}]/")
    elif not host or any(not _LABEL.fullmatch(label) for label in host.split(".")):
        return (
            f"domain {domain!r} is not a host name: use dot-separated labels of letters, "
            "digits and inner hyphens (docs.example.com), optionally with :port"
        )
    else:
        problem = url_host_problem(f"http://{host}/")
    return f"domain {domain!r}: {problem}" if problem else None


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

    @model_validator(mode="after")
    def _usable(self) -> AuthCredentials:
        _usable_credential(self.type.value, self.model_dump(exclude_none=True))
        return self


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

    url: RequestUrl
    options: ScrapeOptions = Field(default_factory=ScrapeOptions)
    export_formats: list[str] = Field(
        default_factory=lambda: ["markdown"],
        min_length=1,
        max_length=10,
        json_schema_extra={
            "items": {"type": "string", "enum": list[Any](sorted(EXPORTERS))},
            "default": ["markdown"],  # (default_factory writes none; the dashboard shows it)
        },
    )
    authentication: AuthCredentials | None = None
    webhook_url: RequestUrl | None = None
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

    url: RequestUrl
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

    domain: str = Field(
        min_length=1,
        max_length=253,
        description="Host name or IP address, optionally with :port (docs.example.com:8443).",
    )
    auth_type: AuthType
    credentials: dict[Annotated[str, Field(max_length=200)], Any] = Field(max_length=50)
    expires_at: datetime | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        problem = domain_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("credentials")
    @classmethod
    def _usable(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        auth_type = info.data.get("auth_type")
        if isinstance(auth_type, AuthType):
            _usable_credential(auth_type.value, value)
        return value

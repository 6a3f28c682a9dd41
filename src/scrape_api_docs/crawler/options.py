"""Scrape options: the design's ``ScrapeOptions`` (same names and bounds) plus ``max_pages``.

``ScrapeOptions`` is what users send (API body, CLI flags). ``CrawlConfig`` is what the
engine runs with: the same knobs, plus things only a library caller or test sets
(no rate limit for sites you own, short timeouts, retry timing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from selectolax.lexbor import LexborHTMLParser

from scrape_api_docs.headers import header_safe_user_agent
from scrape_api_docs.strict import StrictModel

DEFAULT_MAX_PAGES = 1000
RenderMode = Literal["never", "always", "auto"]
RENDER_MODES: dict[bool | str, RenderMode] = {False: "never", True: "always", "auto": "auto"}


class ScrapeOptions(StrictModel):
    model_config = ConfigDict(extra="forbid")

    render_javascript: bool | Literal["auto"] = Field(
        default=False,
        description=(
            "Render pages in Chromium before extracting them: true (every page), false "
            '(never), or "auto" (fetch statically, render only pages that need JavaScript).'
        ),
    )
    wait_for_selector: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description=(
            "When rendering: a CSS selector to wait for before the page is read (after "
            "network idle), for content that appears late."
        ),
    )
    max_depth: int = Field(default=10, ge=1, le=100, description="Link hops from the start URL.")
    max_pages: int = Field(
        default=DEFAULT_MAX_PAGES, ge=1, le=100_000, description="Page budget of the crawl."
    )
    include_patterns: list[Annotated[str, Field(max_length=1000)]] | None = Field(
        default=None, max_length=100, description="Globs over the full URL; a URL must match one."
    )
    exclude_patterns: list[Annotated[str, Field(max_length=1000)]] | None = Field(
        default=None,
        max_length=100,
        description="Globs over the full URL; exclusion wins over inclusion.",
    )
    rate_limit: float = Field(default=2.0, ge=0.1, le=10.0, description="Requests/s per host.")
    timeout: int = Field(default=30, ge=5, le=300, description="Seconds per request.")
    cache_enabled: bool = True
    cache_ttl: int = Field(default=3600, ge=0, description="Seconds a cached page is fresh.")
    user_agent: str | None = Field(
        default=None,
        max_length=500,
        description="User-Agent header for the crawl (printable ASCII); default: the server's.",
    )

    @field_validator("render_javascript", mode="before")
    @classmethod
    def _render_choice(cls, value: object) -> object:
        if value is True or value is False or value == "auto":
            return value
        raise PydanticCustomError(
            "render_choice", 'render_javascript must be true, false or "auto"'
        )

    @field_validator("user_agent")
    @classmethod
    def _header_safe(cls, value: str | None) -> str | None:
        return None if value is None else header_safe_user_agent(value)

    @field_validator("wait_for_selector")
    @classmethod
    def _css_selector(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            LexborHTMLParser("<p></p>").css(value)
        except Exception as exc:  # the parser's own error types vary by version
            raise ValueError(f"wait_for_selector {value!r} is not a valid CSS selector") from exc
        return value

    @property
    def render_mode(self) -> RenderMode:
        return RENDER_MODES[self.render_javascript]


@dataclass(frozen=True)
class CrawlConfig:
    """Everything the crawl engine needs to know about one crawl."""

    start_url: str
    max_depth: int = 10
    max_pages: int = DEFAULT_MAX_PAGES
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    rate_limit: float | None = 2.0
    """Requests per second per host; None turns the limit off (sites you own)."""
    timeout: float = 30.0
    cache_enabled: bool = True
    cache_ttl: float = 3600.0
    user_agent: str = "scrape-api-docs/0.1"
    respect_robots: bool = True
    use_sitemaps: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    concurrency: int = 8
    """Pages fetched at once (per host, and the crawl has one host in scope by default)."""
    max_retries: int = 3
    retry_backoff: float = 0.5
    """First retry waits about this long; each next one twice as long, with jitter."""
    max_retry_after: float = 120.0
    """A Retry-After longer than this gives up on the URL instead of stalling the crawl."""
    extra_headers: dict[str, str] = field(default_factory=dict)
    render_javascript: RenderMode = "never"
    """"always": every page in Chromium; "auto": only pages the static fetch shows to be
    JavaScript-rendered (hash-route URLs always)."""
    wait_for_selector: str | None = None
    render_images: bool = False
    """Let the browser load images (PDF/EPUB: lazy loaders that swap in the real image
    only once it loaded). Fonts and media are always blocked."""

    @classmethod
    def from_options(
        cls, start_url: str, options: ScrapeOptions, *, user_agent: str, **overrides: object
    ) -> CrawlConfig:
        values: dict[str, object] = {
            "start_url": start_url,
            "max_depth": options.max_depth,
            "max_pages": options.max_pages,
            "include_patterns": tuple(options.include_patterns or ()),
            "exclude_patterns": tuple(options.exclude_patterns or ()),
            "rate_limit": options.rate_limit,
            "timeout": float(options.timeout),
            "cache_enabled": options.cache_enabled,
            "cache_ttl": float(options.cache_ttl),
            "user_agent": options.user_agent or user_agent,
            "render_javascript": options.render_mode,
            "wait_for_selector": options.wait_for_selector,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

"""create_app: the FastAPI application, its middleware and its lifespan.

The lifespan takes every part from the builder (``jobs/parts.py``: database + migrations,
cipher, queue, bus, stores, worker pool, extraction processes, browser), adds the API's own
(per-key request limits, the key check, the job-view cache), takes up jobs whose lease
expired, and tears it all down again.
"""

from __future__ import annotations

import gc
import importlib.resources
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from scrape_api_docs import __version__
from scrape_api_docs.api.dependencies import KeyCheck
from scrape_api_docs.api.edge import BodyLimit, DeprecationHeaders, SiteGuard
from scrape_api_docs.api.errors import ANY_ERROR, error_responses, install_error_handlers
from scrape_api_docs.api.middleware import RequestIdMiddleware, TracingMiddleware
from scrape_api_docs.api.ratelimit import build_request_limits
from scrape_api_docs.api.routers import auth, exports, jobs, scrape, system
from scrape_api_docs.api.view_cache import ViewCache
from scrape_api_docs.jobs.parts import job_system
from scrape_api_docs.jobs.service import JobService
from scrape_api_docs.settings import Settings
from scrape_api_docs.web.dashboard import add_dashboard

log = structlog.get_logger("api")

DESCRIPTION = """Turn documentation websites into clean Markdown books.

Submit a crawl with `POST /api/v1/scrape`, follow it at `GET /api/v1/jobs/{job_id}` or over
the WebSocket, download the result from `/api/v1/exports/{job_id}/{filename}`.

Progress as it happens: a WebSocket at `/api/v1/jobs/{job_id}/stream` (key in the
`X-API-Key` header or the `api_key` query parameter) sends the job's state on connect, then
`{"type": "progress" | "log" | "complete", "data": {...}}` messages, and closes (1000) after
`complete`; an unknown job closes with 4404, a bad key with 4401.

Errors always use one envelope: `{"error": {"code", "message", "details", "timestamp",
"request_id"}}`; 503 means the server is shutting down (retry).

`estimated_duration` and `estimated_completion` are computed from the pages discovered so
far, the job's rate limit and the measured time per page.
"""


JOB = "job_2f1c9a7d3b4e5f60"
WHEN = "2026-11-30T19:00:00Z"
DONE = "2026-11-30T19:05:30Z"
_PROGRESS = {
    "current_page": 23,
    "total_pages": 45,
    "percent_complete": 51.1,
    "current_operation": "Crawling https://docs.example.com/guide/install.html",
}
_STATISTICS = {
    "pages_discovered": 45,
    "pages_processed": 45,
    "cache_hits": 15,
    "cache_misses": 30,
    "errors": 0,
    "avg_page_time": 0.212,
    "pages_skipped": 3,
    "skipped_reasons": {"other host": 2, "robots.txt": 1},
    "crawl_duration": 22.4,
    "export_durations": {"markdown": 0.8},
}
_EXPORT = {
    "format": "markdown",
    "filename": "output.md",
    "url": f"/api/v1/exports/{JOB}/output.md",
    "size_bytes": 524288,
    "checksum": "sha256:" + "4ee5707a67707cc36178f4459fba7c51d7f3003b0a1d6dd1c6dbaf69a52d550e",
    "content_type": "text/markdown; charset=utf-8",
    "created_at": DONE,
}
_SUMMARY = {
    "job_id": JOB,
    "url": "https://docs.example.com/",
    "status": "completed",
    "priority": "normal",
    "created_at": WHEN,
    "updated_at": DONE,
    "completed_at": DONE,
    "duration": 330.5,
    "pages_scraped": 45,
    "exports_available": ["markdown"],
}
_CREDENTIAL = {
    "credential_id": "cred_7c1e2a9b4d5f6e70",
    "domain": "docs.internal.example.com",
    "auth_type": "bearer",
    "created_at": WHEN,
    "expires_at": "2026-12-31T23:59:59Z",
}
_OPTIONS = {
    "render_javascript": False,
    "wait_for_selector": None,
    "max_depth": 10,
    "max_pages": 1000,
    "include_patterns": ["*/docs/*"],
    "exclude_patterns": ["*/blog/*"],
    "rate_limit": 2.0,
    "timeout": 30,
    "cache_enabled": True,
    "cache_ttl": 3600,
    "user_agent": None,
}
SCHEMA_EXAMPLES: dict[str, Any] = {
    # Used only where a model does not declare its own example.
    "JobProgress": _PROGRESS,
    "JobStatistics": _STATISTICS,
    "ExportInfo": _EXPORT,
    "LogEntry": {
        "timestamp": "2026-11-30T19:00:05Z",
        "level": "info",
        "message": "Started crawling https://docs.example.com/ (attempt 1)",
    },
    "SyncScrapeResult": {
        "job_id": JOB,
        "status": "completed",
        "duration": 45.2,
        "pages_scraped": 45,
        "exports": [_EXPORT],
        "statistics": _STATISTICS,
        "error_message": None,
    },
    "ValidateResult": {
        "valid": True,
        "estimated_pages": 50,
        "estimated_duration": 25.0,
        "warnings": [],
        "recommendations": {},
        "details": {
            "robots": "allow-all (HTTP 404)",
            "status": 200,
            "final_url": "https://docs.example.com/",
            "sitemap_pages": 0,
            "start_page_links_in_scope": 50,
        },
    },
    "JobSummary": _SUMMARY,
    "Pagination": {"total": 150, "limit": 20, "offset": 0, "has_more": True},
    "JobList": {
        "jobs": [_SUMMARY],
        "pagination": {"total": 150, "limit": 20, "offset": 0, "has_more": True},
    },
    "JobDeleted": {
        "job_id": JOB,
        "status": "cancelled",
        "message": "job cancelled; pages fetched so far are kept",
    },
    "ConversionAccepted": {
        "conversion_id": "conv_cca6c58686d119ac",
        "status": "processing",
        "status_url": "/api/v1/exports/conversions/conv_cca6c58686d119ac",
    },
    "ConversionStatus": {
        "conversion_id": "conv_cca6c58686d119ac",
        "job_id": JOB,
        "target_format": "markdown",
        "status": "completed",
        "created_at": DONE,
        "completed_at": DONE,
        "error_message": None,
        "export": _EXPORT,
    },
    "FormatInfo": {
        "available": True,
        "url": f"/api/v1/exports/{JOB}/output.md",
        "size_bytes": 524288,
        "created_at": DONE,
        "message": None,
    },
    "ExportMetadata": {
        "job_id": JOB,
        "formats": {
            "markdown": {
                "available": True,
                "url": f"/api/v1/exports/{JOB}/output.md",
                "size_bytes": 524288,
                "created_at": DONE,
                "message": None,
            }
        },
    },
    "BookPreview": {
        "job_id": JOB,
        "filename": "output.md",
        "size_bytes": 524288,
        "truncated": True,
        "html": '<h1>Example Docs</h1>\n<p>Welcome to <a href="#pv-guide">the guide</a>.</p>',
    },
    "CredentialInfo": _CREDENTIAL,
    "CredentialList": {"credentials": [_CREDENTIAL]},
    "Health": {
        "status": "healthy",
        "version": __version__,
        "uptime": 86400.0,
        "dependencies": {
            "database": "healthy",
            "storage": "healthy",
            "cache": "healthy",
            "playwright": "unavailable",
            "queue": "healthy",
        },
        "details": {
            "playwright": "no Chromium found (install Debian's chromium-headless-shell or "
            "chromium, or set SCRAPER_BROWSER_PATH)"
        },
    },
    "Stats": {
        "jobs": {
            "total": 155,
            "queued": 2,
            "running": 3,
            "completed": 145,
            "failed": 5,
            "cancelled": 0,
        },
        "performance": {
            "avg_job_duration": 285.5,
            "avg_pages_per_job": 45.0,
            "avg_page_processing_time": 0.23,
            "cache_hit_rate": 0.82,
        },
        "resources": {
            "cache_size_mb": 512.0,
            "storage_used_gb": 15.5,
            "artifacts_mb": 220.4,
            "active_workers": 2,
        },
    },
    "ScrapeOptions": _OPTIONS,
    "AuthCredentials": {"type": "bearer", "token": "secret-token"},
    "ValidateRequest": {"url": "https://docs.example.com/", "options": {"max_depth": 5}},
    "ConvertOptions": {"include_toc": True, "metadata": {"title": "API Documentation"}},
}


def _status_order(code: str) -> tuple[int, str]:
    return (0, code) if code.isdigit() else (1, code)


def finish_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every component schema an example (``examples``, as pydantic writes them)
    unless its model declares one; list each operation's responses by status code, the
    catch-all ``4XX`` and ``5XX`` last."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses")
            if responses:
                operation["responses"] = {
                    code: responses[code] for code in sorted(responses, key=_status_order)
                }
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if "examples" in component or "example" in component:
            continue
        if name in SCHEMA_EXAMPLES:
            component["examples"] = [SCHEMA_EXAMPLES[name]]
    return schema


def route_template(scope: Scope) -> str:
    """The matched route's full template (``/api/v1/jobs/{job_id}``), never the raw path
    (ids in labels would make one time series per job).

    A route included with a prefix knows only its own part (``/{job_id}``); router
    prefixes are literal, so the leading segments of the request path are the prefix.
    """
    route = scope.get("route")
    own = getattr(route, "path", None)
    if own is None:
        return "unmatched"
    own_segments = [part for part in own.split("/") if part]
    path_segments = [part for part in str(scope.get("path", "")).split("/") if part]
    prefix = path_segments[: max(0, len(path_segments) - len(own_segments))]
    return "/" + "/".join(prefix + own_segments)


class MetricsMiddleware:
    """Request latency into the Prometheus histogram, labelled by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, int] = {}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            template = route_template(scope)
            app = scope.get("app")
            ctx = getattr(app.state, "ctx", None) if app is not None else None
            if ctx is not None:
                ctx.metrics.request_latency.labels(
                    scope.get("method", ""), template, str(status.get("code", 500))
                ).observe(time.perf_counter() - started)


DOCS_ASSETS = "/api/docs-assets"


def docs_assets_dir() -> Path:
    """Swagger UI's and ReDoc's scripts and styles, as the fastapi-offline package ships
    them (MIT; Swagger UI is Apache-2.0, ReDoc MIT): the docs pages work offline."""
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


def add_docs(app: FastAPI) -> None:
    """``/api/docs`` (Swagger UI) and ``/api/redoc``, their assets served by this app."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/api/openapi.json"

    @app.get("/api/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/api/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if not structlog.is_configured():
        # An app embedded without ``configure_logging`` would log with structlog's
        # development defaults: tracebacks with every frame's locals (secrets among them).
        from scrape_api_docs.logs import configure_logging

        configure_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers = settings.workers if settings.in_process_workers else 0
        async with job_system(settings, workers) as pool:
            ctx = pool.ctx
            app.state.ctx = ctx
            app.state.service = JobService(ctx)
            app.state.pool = pool
            # The API's own parts, each picked by its builder like the job system's.
            app.state.keys = KeyCheck()
            app.state.limiter = build_request_limits(settings)
            app.state.redis = None  # the health check's own link to Redis, when one is set
            if settings.redis_url is not None:
                from scrape_api_docs.redis_link import connect

                app.state.redis = connect(settings)
            app.state.views = ViewCache(settings.view_cache_seconds)
            app.state.views.watch(ctx.bus)
            # Everything imported and built so far lives as long as the process: out of the
            # collector's sight, a full collection no longer walks it (a 50-150 ms pause of
            # every request in flight, every few seconds, under load).
            gc.collect()
            gc.freeze()
            pool.start()
            log.info(
                "started",
                data_dir=str(settings.data_dir),
                workers=workers,
                requeued=pool.requeued,
            )
            try:
                yield
            finally:
                await app.state.limiter.aclose()
                if app.state.redis is not None:
                    await app.state.redis.aclose()

    app = FastAPI(
        title="Documentation Scraper API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # add_docs: served from the package, not a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        responses=ANY_ERROR,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_schema(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app)
    # zlib's default level: level 9 (Starlette's default) costs more CPU per job poll for
    # a few bytes less on small JSON bodies.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    app.add_middleware(DeprecationHeaders)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(SiteGuard, settings=settings)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: the access log line and the error handler's lines carry the trace id.
    app.add_middleware(TracingMiddleware, route_of=route_template)
    common = (401, 422, 429)
    app.include_router(
        scrape.router,
        prefix="/api/v1/scrape",
        tags=["scrape"],
        responses=error_responses(400, *common),
    )
    app.include_router(
        jobs.router, prefix="/api/v1/jobs", tags=["jobs"], responses=error_responses(404, *common)
    )
    app.include_router(
        exports.router,
        prefix="/api/v1/exports",
        tags=["exports"],
        responses=error_responses(404, *common),
    )
    app.include_router(
        auth.router, prefix="/api/v1/auth", tags=["auth"], responses=error_responses(*common)
    )
    app.include_router(system.router, prefix="/api/v1/system", tags=["system"])

    add_docs(app)
    add_dashboard(app)
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``app``: the application built from the environment (``SCRAPER_*``), on first use,
    for ``uvicorn scrape_api_docs.api.main:app``; importing this module builds nothing."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        from scrape_api_docs.logs import configure_logging

        configure_logging()
        _app = create_app(Settings())
    return _app

"""create_app: the FastAPI application, its middleware and its lifespan.

The lifespan builds everything once (database + migrations, cipher, queue, bus, worker
pool, extraction processes), takes up unfinished jobs, and tears it all down again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from scrape_api_docs import __version__
from scrape_api_docs.api.dependencies import KeyCheck
from scrape_api_docs.api.errors import install_error_handlers
from scrape_api_docs.api.middleware import RequestIdMiddleware
from scrape_api_docs.api.ratelimit import RequestLimiter
from scrape_api_docs.api.routers import auth, exports, jobs, scrape, system
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.jobs.context import JobContext
from scrape_api_docs.jobs.events import InMemoryBus
from scrape_api_docs.jobs.queue import InProcessQueue
from scrape_api_docs.jobs.runner import extraction_pool
from scrape_api_docs.jobs.service import JobService
from scrape_api_docs.jobs.webhooks import WebhookSender
from scrape_api_docs.jobs.worker import WorkerPool
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.db import make_engine, migrate, sessions
from scrape_api_docs.storage.secrets import Cipher

log = structlog.get_logger("api")

DESCRIPTION = """Turn documentation websites into clean Markdown books.

Submit a crawl with `POST /api/v1/scrape`, follow it at `GET /api/v1/jobs/{job_id}` or over
the WebSocket, download the result from `/api/v1/exports/{job_id}/{filename}`.

Errors always use one envelope: `{"error": {"code", "message", "details", "timestamp",
"request_id"}}`. `estimated_duration` and `estimated_completion` are computed from the
pages discovered so far, the job's rate limit and the measured time per page.
"""


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
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            app = scope.get("app")
            ctx = getattr(app.state, "ctx", None) if app is not None else None
            if ctx is not None:
                ctx.metrics.request_latency.labels(
                    scope.get("method", ""), template, str(status.get("code", 500))
                ).observe(time.perf_counter() - started)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        await migrate(engine)
        policy = NetworkPolicy.from_settings(settings)
        executor = extraction_pool(settings)
        ctx = JobContext(
            settings=settings,
            engine=engine,
            sessions=sessions(engine),
            cipher=Cipher.from_settings(settings.encryption_key, settings.data_dir),
            queue=InProcessQueue(),
            bus=InMemoryBus(),
            policy=policy,
            webhooks=WebhookSender(policy),
            executor=executor,
        )
        pool = WorkerPool(ctx, settings.workers)
        app.state.ctx = ctx
        app.state.service = JobService(ctx)
        app.state.pool = pool
        app.state.keys = KeyCheck()
        app.state.limiter = RequestLimiter(settings.requests_per_minute)
        requeued = await pool.recover()
        pool.start()
        log.info(
            "started", data_dir=str(settings.data_dir), workers=settings.workers, requeued=requeued
        )
        try:
            yield
        finally:
            await pool.stop()
            for task in list(ctx.background):
                task.cancel()
            executor.shutdown(wait=False, cancel_futures=True)
            await engine.dispose()

    app = FastAPI(
        title="Documentation Scraper API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After", "ETag"],
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(scrape.router, prefix="/api/v1/scrape", tags=["scrape"])
    app.include_router(jobs.router, prefix="/api/v1/jobs", tags=["jobs"])
    app.include_router(exports.router, prefix="/api/v1/exports", tags=["exports"])
    app.include_router(auth.router, prefix="/api/v1/auth", tags=["auth"])
    app.include_router(system.router, prefix="/api/v1/system", tags=["system"])

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> dict[str, str]:
        return {"name": "scrape-api-docs", "version": __version__, "docs": "/api/docs"}

    return app

"""Health, Prometheus metrics and statistics, all from real checks and real data."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from scrape_api_docs import __version__
from scrape_api_docs.api.dependencies import CallerDep, ContextDep, KeyedRoute, admit
from scrape_api_docs.api.models.responses import Health, Stats, StatsResources
from scrape_api_docs.crawler.cache import page_cache_bytes
from scrape_api_docs.crawler.render import Renderer
from scrape_api_docs.jobs.metrics import refresh_from_database
from scrape_api_docs.storage.artifacts import job_folders_bytes
from scrape_api_docs.storage.db import ping
from scrape_api_docs.storage.outage import unreachable
from scrape_api_docs.storage.repositories import ArtifactRepository, JobRepository
from scrape_api_docs.storage.space import free_mb

router = APIRouter(route_class=KeyedRoute)

PING_TIMEOUT = 3.0
"""Seconds a health check waits for the database's answer (a server that hangs is down)."""


@router.get(
    "/health",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "Unhealthy: the database, the data folder or the job workers fail",
        }
    },
)
async def health(request: Request, response: Response, ctx: ContextDep) -> Health:
    """Real checks: a database query, a file written to the data folder, the browser
    (healthy, degraded after a crash, or unavailable with the reason), the worker pool,
    and Redis and the object storage of artifacts when set (down: degraded, named in
    ``details``). A database server that does not answer is degraded too, and named: the
    service reconnects by itself, other requests answer 503 meanwhile. 503 when the
    service cannot do its work."""
    deps: dict[str, str] = {}
    details: dict[str, str] = {}
    database_down = False  # unreachable: a restart or a cut, reconnected by itself
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await ping(ctx.engine)
        deps["database"] = "healthy"
    except Exception as exc:
        deps["database"] = "unhealthy"
        reason = unreachable(exc) or ("TimeoutError" if isinstance(exc, TimeoutError) else None)
        database_down = reason is not None
        details["database"] = (
            f"{reason}: the database server is not answering; reconnecting, and meanwhile "
            "requests that need it answer 503"
            if reason is not None
            else type(exc).__name__
        )
    try:
        ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=ctx.settings.data_dir, prefix=".health-"):
            pass
        deps["storage"] = "healthy"
        minimum = ctx.settings.min_free_disk_mb
        free = free_mb(ctx.settings.data_dir)
        details["storage"] = f"{free:g} MB free"
        if free < minimum:
            deps["storage"] = "degraded"
            details["storage"] += f", below the minimum of {minimum} MB: new scrapes get 507"
    except OSError as exc:
        deps["storage"] = "unhealthy"
        details["storage"] = str(exc)
    cache_dir = ctx.settings.cache_dir
    deps["cache"] = (
        "healthy"
        if os.access(cache_dir if cache_dir.exists() else ctx.settings.data_dir, os.W_OK)
        else "unhealthy"
    )
    # The renderer's own account (binary present, last launch, recent crashes, memory):
    # no browser is started for a health check.
    renderer = ctx.renderer or Renderer(ctx.settings.browser_path)
    deps["playwright"], details["playwright"] = renderer.health()
    pool = request.app.state.pool
    deps["queue"] = "healthy" if pool.alive == pool.concurrency else "unhealthy"
    redis = getattr(request.app.state, "redis", None)
    if redis is not None:
        # Without Redis the service still works, less well: events and view changes stop
        # crossing processes, limits hold per process, the page cache misses.
        from scrape_api_docs import redis_link  # (redis is imported only when used)

        problem = await redis_link.ping(redis)
        deps["redis"] = "healthy" if problem is None else "unhealthy"
        if problem is not None:
            details["redis"] = (
                f"{problem}: reconnecting; meanwhile events reach only this process, "
                "rate limits hold per process and the page cache misses"
            )
    if ctx.settings.artifact_url is not None:
        # Object storage: a cheap request to the bucket (its answer cached a few seconds).
        # Down, the service still crawls; builds fail and downloads answer errors.
        problem = await ctx.artifacts.check()
        deps["artifacts"] = "healthy" if problem is None else "unhealthy"
        if problem is not None:
            details["artifacts"] = (
                f"the artifact store (object storage) is not answering: {problem}; "
                "meanwhile exports cannot be stored or downloaded"
            )
    # A database that went away is an outage of a part (as Redis is): degraded, named,
    # 200: this process is fine and comes back with it, so restarting it would not help.
    critical = ("storage", "queue") if database_down else ("database", "storage", "queue")
    overall = "healthy"
    if any(deps[name] == "unhealthy" for name in critical):
        overall = "unhealthy"
        response.status_code = 503
    elif (
        database_down
        or deps["cache"] != "healthy"
        or "degraded" in (deps["playwright"], deps["storage"])
        or deps.get("redis", "healthy") != "healthy"
        or deps.get("artifacts", "healthy") != "healthy"
    ):
        overall = "degraded"  # (no browser at all is a missing feature, not degradation)
    return Health(
        status=overall,  # type: ignore[arg-type]
        version=__version__,
        uptime=round(time.time() - ctx.started_at, 1),
        dependencies=deps,
        details=details,
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, ctx: ContextDep) -> Response:
    """Prometheus text format. Open to all, unless ``SCRAPER_METRICS_REQUIRE_KEY`` asks
    for an API key (once keys exist)."""
    if ctx.settings.metrics_require_key:
        await admit(request)
    await refresh_from_database(ctx.metrics, ctx.sessions)
    pool = request.app.state.pool
    ctx.metrics.worker_slots.set(pool.concurrency)
    ctx.metrics.worker_busy.set(pool.busy)
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/stats", response_model=Stats)
async def stats(request: Request, who: CallerDep, ctx: ContextDep) -> Stats:
    """The caller's own jobs, exports and storage (with API keys, each key sees its own);
    the page cache and the workers are shared, so those figures are the server's."""
    async with ctx.sessions() as session:
        jobs = JobRepository(session)
        counts = await jobs.count_by_status(who.owner)
        perf = await jobs.performance(who.owner)
        finished = await jobs.completed_statistics(who.owner)
        artifact_bytes = await ArtifactRepository(session).total_bytes(who.owner)
        job_ids = await jobs.ids(who.owner)
    pages = [int((s or {}).get("pages_processed") or 0) for s in finished]
    times = [
        float((s or {}).get("avg_page_time") or 0)
        for s in finished
        if (s or {}).get("pages_processed")
    ]
    hits = sum(int((s or {}).get("cache_hits") or 0) for s in finished)
    misses = sum(int((s or {}).get("cache_misses") or 0) for s in finished)
    # Each size measured by the part that holds it: the page cache (a SQLite file, or
    # its entries in Redis) and the artifact store (the job folders, or S3's objects of
    # these jobs, besides what the job folders still hold here).
    cache_bytes = await page_cache_bytes(ctx.settings, getattr(request.app.state, "redis", None))
    jobs_bytes = await ctx.artifacts.usage(job_ids)
    if ctx.settings.artifact_url is not None:
        jobs_bytes += await asyncio.to_thread(job_folders_bytes, ctx.settings.jobs_dir, job_ids)
    return Stats(
        jobs={
            "total": sum(counts.values()),
            **{
                s: counts.get(s, 0)
                for s in ("queued", "running", "completed", "failed", "cancelled")
            },
        },
        performance={
            "avg_job_duration": round(perf["avg_job_duration"], 3),
            "avg_pages_per_job": round(sum(pages) / len(pages), 2) if pages else 0.0,
            "avg_page_processing_time": round(sum(times) / len(times), 4) if times else 0.0,
            "cache_hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0,
        },
        resources=StatsResources(
            cache_size_mb=round(cache_bytes / 1e6, 3),
            storage_used_gb=round(jobs_bytes / 1e9, 6),
            artifacts_mb=round(artifact_bytes / 1e6, 3),
            active_workers=request.app.state.pool.busy,
        ),
    )

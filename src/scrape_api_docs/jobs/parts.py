"""The builder: every part of the service, made from ``Settings`` in this one place, and
closed again by whoever built it.

Each part that differs between one machine and many is picked here through its own
``build_*`` function (``build_queue``, ``build_event_bus``, ``build_page_stores``,
``build_page_cache``, ``build_artifact_store``, ``build_host_limits``; the API's
``build_request_limits``): callers never choose an implementation.

* ``build_crawl_parts``: what crawls share (network policy, per-host politeness, page
  cache, extraction processes, browser). The command line's ``scrape`` uses these alone.
* ``build_job_parts``: the job system (database + migrations, sessions and the commit
  watch, queue, event bus, page stores, artifact store, cipher, webhooks) around the
  crawl parts, as one ``JobContext``.
* ``job_system``: the job parts and a pool of job workers: ``scrape-docs worker``, and the
  API's lifespan (``scrape-docs serve``), which adds its own request limits.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from scrape_api_docs.crawler.cache import build_page_cache
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.ratelimit import HostLimits, build_host_limits
from scrape_api_docs.jobs.pipeline import CrawlParts, extraction_pool
from scrape_api_docs.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from scrape_api_docs.crawler.render import Renderer
    from scrape_api_docs.jobs.context import JobContext
    from scrape_api_docs.jobs.job_runner import WorkerPool


BACKGROUND_STOP_SECONDS = 10.0
"""How long a stopping job system waits for its cancelled background tasks (synchronous
scrapes handing their job back, webhook deliveries) before it closes the database."""


@asynccontextmanager
async def build_crawl_parts(
    settings: Settings,
    *,
    policy: NetworkPolicy | None = None,
    executor: Executor | None = None,
    renderer: Renderer | None = None,
    host_limits: HostLimits | None = None,
    processes: bool = False,
    render: bool = True,
    shared_limits: bool = True,
    tracer: Tracer | None = None,
) -> AsyncIterator[CrawlParts]:
    """The parts every crawl of a process shares. ``processes``: extraction runs on a
    pool of processes made here (``extraction_pool``), else on each crawl's own threads.
    ``render``: a browser is set up (launched only by the first page that needs it).
    ``shared_limits``: one per-host politeness table for every crawl (else, with no
    ``host_limits`` given, each crawl keeps its own, on its own clock).
    A part passed in is used as it is and left open; what is made here is closed on exit
    (the page cache only if a crawl opened it)."""
    own_executor = extraction_pool(settings) if executor is None and processes else None
    own_limits = build_host_limits(settings) if host_limits is None and shared_limits else None
    own_renderer = None
    if renderer is None and render:
        # Imported here: Playwright is not needed by processes that never render.
        from scrape_api_docs.crawler.render import Renderer

        renderer = own_renderer = Renderer.from_settings(settings)
    parts = CrawlParts(
        settings=settings,
        policy=policy or NetworkPolicy.from_settings(settings),
        host_limits=host_limits or own_limits,
        open_cache=lambda: build_page_cache(settings),
        executor=executor or own_executor,
        renderer=renderer,
        tracer=tracer,
    )
    try:
        yield parts
    finally:
        try:
            if own_renderer is not None:
                await own_renderer.close()
            cache = parts.cache_opened
            if cache is not None:
                await cache.aclose()
            if own_limits is not None:
                await own_limits.aclose()  # on Redis: its connection
        finally:
            if own_executor is not None:
                own_executor.shutdown(cancel_futures=True)


@asynccontextmanager
async def build_job_parts(settings: Settings, service: str = "api") -> AsyncIterator[JobContext]:
    """The job system on ``settings``' database (migrated first), as one ``JobContext``;
    everything it opened is closed on exit (tasks left in ``background`` cancelled).
    ``service``: this process's name in traces (``scrape-api-docs-<service>``), when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` turns tracing on."""
    # Imported here: the command line's ``scrape`` needs only the crawl parts above, and
    # starts faster without the database, the queue and the workers.
    from scrape_api_docs.jobs.context import JobContext
    from scrape_api_docs.jobs.events import build_event_bus
    from scrape_api_docs.jobs.queue import build_queue
    from scrape_api_docs.jobs.webhooks import WebhookSender
    from scrape_api_docs.storage.artifacts import build_artifact_store
    from scrape_api_docs.storage.changes import CommitWatch
    from scrape_api_docs.storage.db import Reader, make_engine, migrate, sessions
    from scrape_api_docs.storage.pages import build_page_stores
    from scrape_api_docs.storage.secrets import Cipher
    from scrape_api_docs.tracing import build_tracing

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tracing = build_tracing(os.environ, f"scrape-api-docs-{service}")
    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        bus = build_event_bus(settings)
        commits = CommitWatch(announce=bus.announce_changes)
        session_maker = sessions(engine, commits)
        # The extraction processes are not waited for at the end: a stopping service
        # must not sit behind a page being parsed.
        executor = extraction_pool(settings)
        read = Reader(engine, session_maker)
        try:
            async with build_crawl_parts(
                settings, executor=executor, tracer=tracing.tracer if tracing else None
            ) as crawl:
                ctx = JobContext(
                    settings=settings,
                    engine=engine,
                    sessions=session_maker,
                    read=read,
                    cipher=Cipher.from_settings(settings.encryption_key, settings.data_dir),
                    queue=build_queue(settings, session_maker),
                    bus=bus,
                    webhooks=WebhookSender(crawl.policy),
                    artifacts=build_artifact_store(settings),
                    pages=build_page_stores(settings),
                    crawl=crawl,
                    commits=commits,
                )
                try:
                    yield ctx
                finally:
                    # Synchronous scrapes and webhook deliveries: each writes its outcome as
                    # it stops, so the database is closed only once they have ended.
                    background = list(ctx.background)
                    for task in background:
                        task.cancel()
                    if background:
                        await asyncio.wait(background, timeout=BACKGROUND_STOP_SECONDS)
                    await ctx.queue.close()
                    await bus.aclose()
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            read.close()
    finally:
        await engine.dispose()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # the last spans, sent


@asynccontextmanager
async def job_system(
    settings: Settings, workers: int, *, service: str = "api"
) -> AsyncIterator[WorkerPool]:
    """The job parts and a pool of ``workers`` job workers (0: none, an API-only process),
    not yet started; jobs whose lease expired are taken back first. On exit the workers
    stop (running jobs hand themselves back) before the parts close."""
    from scrape_api_docs.jobs.job_runner import WorkerPool

    async with build_job_parts(settings, service) as ctx:
        pool = WorkerPool(ctx, workers)
        try:
            if workers:
                pool.requeued = await pool.recover()
            yield pool
        finally:
            await pool.stop()

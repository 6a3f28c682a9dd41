"""Run one scrape end to end: crawl into a page store, then build the requested exports.

The CLI calls this; the API's endpoints will call the same functions, so every entry
point shares one pipeline.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scrape_api_docs.crawler.cache import build_page_cache
from scrape_api_docs.crawler.clock import Clock
from scrape_api_docs.crawler.crawl import Crawler, CrawlResult
from scrape_api_docs.crawler.events import Listener
from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.crawler.ratelimit import HostLimits
from scrape_api_docs.exporters.book import Book
from scrape_api_docs.exporters.registry import ExportContext, get_exporter
from scrape_api_docs.exporters.resources import ImageLoader
from scrape_api_docs.exporters.site_pages import SitePages
from scrape_api_docs.lifetime import end_with
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import PageStore, open_page_store

if TYPE_CHECKING:
    from scrape_api_docs.crawler.render import Renderer


@dataclass(frozen=True)
class Artifact:
    format: str
    path: Path
    size_bytes: int
    content_type: str
    seconds: float | None = None
    """How long the export took (on its main file; None on the files written beside it)."""


def extraction_pool(settings: Settings) -> Executor:
    """Processes for the CPU side of crawling (the HTML parser holds the GIL).

    ``forkserver`` children start from a clean interpreter, not from a copy of a process
    that has an event loop and database connections open. Each ends with this process,
    even a SIGKILLed one (and with them the forkserver and the resource tracker).
    """
    workers = settings.extract_processes or min(4, os.cpu_count() or 1)
    context = multiprocessing.get_context("forkserver")
    # Workers are forked from a server that imported only the extraction code, not the
    # caller's whole program (the default preloads ``__main__``). Not the exporters: every
    # extraction worker would carry them (+110 MB RSS over 4 workers in ``make bench``);
    # an export process (export_process) imports them itself, once per export.
    context.set_forkserver_preload(["scrape_api_docs.extract.pipeline"])
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=end_with, initargs=(os.getpid(),)
    )


async def crawl_site(
    config: CrawlConfig,
    *,
    settings: Settings,
    store: PageStore,
    listener: Listener | None = None,
    clock: Clock | None = None,
    policy: NetworkPolicy | None = None,
    executor: Executor | None = None,
    credentials: dict[tuple[str, str, int], dict[str, str]] | None = None,
    resume: bool = False,
    wall_clock: Callable[[], float] = time.time,
    renderer: Renderer | None = None,
    host_limits: HostLimits | None = None,
) -> CrawlResult:
    """Crawl ``config.start_url`` into ``store`` with the project's network policy and cache.

    JavaScript rendering uses ``renderer`` (the service's long-lived browser) or, when none
    is given and the crawl renders, a browser started for this crawl alone.
    """
    policy = policy or NetworkPolicy.from_settings(settings)
    policy.check_url(config.start_url)
    cache = build_page_cache(settings) if config.cache_enabled else None
    fetcher = HttpFetcher(
        policy,
        FetcherOptions(
            user_agent=config.user_agent,
            timeout=config.timeout,
            max_body_bytes=config.max_body_bytes,
            max_redirects=config.max_redirects,
            extra_headers=config.extra_headers,
            credentials=credentials or {},
        ),
    )
    own_renderer = None
    if renderer is None and config.render_javascript != "never":
        # Imported here: Playwright is not needed by crawls that do not render, nor by the
        # export processes that import this module.
        from scrape_api_docs.crawler.render import Renderer

        renderer = own_renderer = Renderer.from_settings(settings)
    try:
        crawler = Crawler(
            config,
            fetcher=fetcher,
            store=store,
            cache=cache,
            clock=clock,
            listener=listener,
            executor=executor,
            resume=resume,
            wall_clock=wall_clock,
            renderer=renderer,
            host_limits=host_limits,
        )
        return await crawler.run()
    finally:
        await fetcher.aclose()
        if cache is not None:
            await cache.aclose()
        if own_renderer is not None:
            await own_renderer.close()


def export_context(
    settings: Settings,
    images_dir: Path,
    options: dict[str, object] | None = None,
    policy: NetworkPolicy | None = None,
) -> ExportContext:
    """The exporters' context: images fetched through the same network policy as the crawl."""
    loader = ImageLoader(
        policy or NetworkPolicy.from_settings(settings),
        images_dir,
        user_agent=settings.user_agent,
        max_bytes=settings.max_body_bytes,
    )
    return ExportContext(options or {}, images=loader, browser_path=settings.browser_path)


def export_all(
    store: PageStore,
    start_url: str,
    formats: list[str],
    output: Path,
    context: ExportContext | None = None,
) -> list[Artifact]:
    """Build each format; ``output`` is the file for one format, the folder for several
    (named as in a job's folder: ``output.md``, ``output.json``, ``llms.txt``, ...)."""
    context = context or ExportContext()
    exporters = [get_exporter(name) for name in dict.fromkeys(formats)]
    title = context.metadata.get("title")
    # The book reads the pages through the site's learned template (see site_pages).
    book = Book(SitePages(store), start_url, title=str(title) if title else None)
    if len(exporters) == 1:
        output.parent.mkdir(parents=True, exist_ok=True)
        targets = [output]
    else:
        output.mkdir(parents=True, exist_ok=True)
        targets = [output / exporter.filename for exporter in exporters]
    artifacts = []
    for exporter, target in zip(exporters, targets, strict=True):
        began = time.monotonic()
        path = exporter.build(book, target, context)
        seconds = time.monotonic() - began
        artifacts.append(
            Artifact(exporter.name, path, path.stat().st_size, exporter.content_type, seconds)
        )
        for label, name, content_type in exporter.extra_files:
            extra = path.with_name(name)
            artifacts.append(Artifact(label, extra, extra.stat().st_size, content_type))
    return artifacts


def build_export_in_worker(
    job_id: str,
    start_url: str,
    format_name: str,
    target: Path,
    options: dict[str, object],
    settings: Settings,
    images_dir: Path | None = None,
) -> list[Artifact]:
    """``export_all`` of one format from the page store of job ``job_id``, for a child
    process.

    Not a thread: a 500-page export is seconds of pure-Python work, and in a thread it
    would hold the GIL against the API's event loop (every poll would wait for it).
    ``images_dir`` (default: beside ``target``) keeps fetched images for later exports.
    """
    store = open_page_store(settings, job_id)
    try:
        images = images_dir or target.parent / "images"
        context = export_context(settings, images, options)
        return export_all(store, start_url, [format_name], target, context)
    finally:
        store.close()

"""The pipeline: crawl into a page store, then build the exports, then record them.

``crawl_then_export`` is the one place that runs it: the job runner (queued jobs and
``POST /scrape/sync``) and the command line's ``scrape`` call it, each with its own
``Exports`` (the runner's build in child processes into the artifact store and record the
artifacts in the database; the command line's write files). The parts a crawl uses come
from the builder (``jobs/parts.py``) as ``CrawlParts``, shared by every crawl of the
process.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from scrape_api_docs.crawler.cache import PageCache
from scrape_api_docs.crawler.clock import Clock
from scrape_api_docs.crawler.crawl import Crawler, CrawlResult, PageWork
from scrape_api_docs.crawler.events import Listener
from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.crawler.ratelimit import HostLimits
from scrape_api_docs.exporters.book import Book
from scrape_api_docs.exporters.registry import ExportContext, get_exporter
from scrape_api_docs.exporters.resources import ImageLoader
from scrape_api_docs.exporters.site_pages import SitePages
from scrape_api_docs.extract.gate import judge_page
from scrape_api_docs.extract.jsdetect import detect_javascript_in
from scrape_api_docs.extract.pipeline import page_to_document
from scrape_api_docs.lifetime import end_with
from scrape_api_docs.logs import redact_text
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import PageStore, open_page_store
from scrape_api_docs.tracing import span

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from scrape_api_docs.crawler.render import Renderer

T = TypeVar("T")
EXTRACTION = PageWork(extract=page_to_document, needs_javascript=detect_javascript_in)
"""What the crawler runs on each page: the extraction package's functions."""


@dataclass
class CrawlParts:
    """What every crawl of a process shares, built once by ``jobs/parts.py`` and closed
    there: the network policy, the per-host politeness, the page cache (opened on first
    use, so a process that never caches never makes its file), the extraction processes
    (None: each crawl runs extraction on threads of its own) and the browser (launched
    by the first page that needs it)."""

    settings: Settings
    policy: NetworkPolicy
    host_limits: HostLimits | None
    """None: each crawl keeps a politeness table of its own (a one-off crawl)."""
    open_cache: Callable[[], PageCache]
    executor: Executor | None = None
    renderer: Renderer | None = None
    work: PageWork = EXTRACTION
    tracer: Tracer | None = None
    """OpenTelemetry's tracer when tracing is on (``tracing.build_tracing``), else None:
    no spans at all."""
    _cache: PageCache | None = field(default=None, repr=False)

    def page_cache(self) -> PageCache:
        """The process's page cache, opened by the first crawl that uses it."""
        if self._cache is None:
            self._cache = self.open_cache()
        return self._cache

    @property
    def cache_opened(self) -> PageCache | None:
        return self._cache


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
    parts: CrawlParts | None = None,
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
    """Crawl ``config.start_url`` into ``store`` with ``parts`` (the process's shared
    policy, politeness, page cache and browser). Without ``parts`` (a one-off crawl: a
    library caller, a benchmark, a test) the builder makes them for this crawl alone, from
    ``settings`` and whichever of ``policy``, ``executor``, ``renderer`` and
    ``host_limits`` are given, and closes them after."""
    if parts is not None:
        return await _crawl(config, parts, store, listener, clock, credentials, resume, wall_clock)
    from scrape_api_docs.jobs.parts import build_crawl_parts

    async with build_crawl_parts(
        settings,
        policy=policy,
        executor=executor,
        renderer=renderer,
        host_limits=host_limits,
        render=config.render_javascript != "never",
        shared_limits=False,  # alone in its process: a table of its own, on its clock
    ) as own:
        return await _crawl(config, own, store, listener, clock, credentials, resume, wall_clock)


async def _crawl(
    config: CrawlConfig,
    parts: CrawlParts,
    store: PageStore,
    listener: Listener | None,
    clock: Clock | None,
    credentials: dict[tuple[str, str, int], dict[str, str]] | None,
    resume: bool,
    wall_clock: Callable[[], float],
) -> CrawlResult:
    parts.policy.check_url(config.start_url)
    fetcher = HttpFetcher(
        parts.policy,
        FetcherOptions(
            user_agent=config.user_agent,
            timeout=config.timeout,
            max_body_bytes=config.max_body_bytes,
            max_redirects=config.max_redirects,
            extra_headers=config.extra_headers,
            credentials=credentials or {},
        ),
    )
    try:
        crawler = Crawler(
            config,
            fetcher=fetcher,
            store=store,
            work=parts.work,
            cache=parts.page_cache() if config.cache_enabled else None,
            clock=clock,
            listener=listener,
            executor=parts.executor,
            resume=resume,
            wall_clock=wall_clock,
            renderer=parts.renderer,
            host_limits=parts.host_limits,
            tracer=parts.tracer,
            page_gate=judge_page,
        )
        return await crawler.run()
    finally:
        await fetcher.aclose()


class Exports(Protocol[T]):
    """The pipeline's last two steps for one entry point: build each format from the
    page store, and record what was built (``T``: what the entry point keeps of it)."""

    async def build(self, formats: Sequence[str]) -> list[T]: ...


@dataclass(frozen=True)
class Outcome(Generic[T]):
    crawl: CrawlResult
    exports: list[T]


async def crawl_then_export(
    config: CrawlConfig,
    *,
    parts: CrawlParts,
    store: PageStore,
    formats: Sequence[str],
    exports: Exports[T],
    listener: Listener | None = None,
    credentials: dict[tuple[str, str, int], dict[str, str]] | None = None,
    resume: bool = False,
    on_crawled: Callable[[CrawlResult], None] | None = None,
) -> Outcome[T]:
    """The pipeline every entry point runs: crawl ``config`` into ``store``, then have
    ``exports`` build and record each of ``formats``."""
    with span(parts.tracer, "crawl", attributes={"url.full": redact_text(config.start_url)}):
        result = await crawl_site(
            config,
            settings=parts.settings,
            store=store,
            parts=parts,
            listener=listener,
            credentials=credentials,
            resume=resume,
        )
    if on_crawled is not None:
        on_crawled(result)
    return Outcome(result, await exports.build(formats))


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

"""The crawl loop: frontier -> polite fetch (cache, robots, limits, retries) -> extract -> store.

Concurrency: ``config.concurrency`` asyncio workers share one FIFO queue (breadth-first
order); CPU work (decoding, extraction, Markdown) runs on an executor so the event loop
keeps fetching while pages convert. The default is a small thread pool; entry points
that crawl big sites pass a process pool (``jobs.pipeline.extraction_pool``), because the
HTML parser holds the GIL.

JavaScript rendering (``config.render_javascript``): every page is still fetched politely
(robots.txt, rate limit, cache, retries); then, in "always" mode or when the "auto"
detector says the HTML is an app shell, that HTML is handed to the browser (which asks
the crawl's fetcher for everything else) and the rendered DOM takes its place. Links
found in the rendered DOM feed the frontier, hash routes (``#/guide``) included.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from scrape_api_docs.crawler.browser import BrowserUnavailable
from scrape_api_docs.crawler.cache import CachedPage, PageCache
from scrape_api_docs.crawler.clock import Clock, SystemClock
from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats, Listener
from scrape_api_docs.crawler.fetch import FetchResponse, HttpFetcher
from scrape_api_docs.crawler.frontier import Frontier, QueuedURL
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.crawler.ratelimit import HostLimiter, HostLimits, SharedHostLimits
from scrape_api_docs.crawler.retry import RetryPolicy, decide, parse_retry_after
from scrape_api_docs.crawler.robots import RobotsRules, robots_url, rules_from_response
from scrape_api_docs.crawler.scope import Scope
from scrape_api_docs.crawler.sitemap import parse_sitemap
from scrape_api_docs.errors import AuthenticationFailedError, FetchError, ScrapingFailedError
from scrape_api_docs.logs import redact_text
from scrape_api_docs.storage.outage import unreachable
from scrape_api_docs.storage.space import is_disk_full
from scrape_api_docs.tracing import span
from scrape_api_docs.urls import canonical, hash_route, host_key, strip_fragment

AUTH_STATUSES = ("HTTP 401", "HTTP 403")
"""Start-page answers that mean: this site needs (other) credentials."""

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from scrape_api_docs.crawler.render import Renderer
    from scrape_api_docs.crawler.render_session import RenderSession


class PageProblem(Protocol):
    @property
    def reason(self) -> str: ...

    @property
    def detail(self) -> str: ...


PageGate = Callable[[bytes, Any], PageProblem | None]
"""Judges a page from its HTML and what ``PageWork.extract`` made of it: None to store it, else
why it is no content (a bot challenge, a soft 404...); see ``extract.gate.judge_page``."""

MAX_SITEMAP_FILES = 50
MAX_SITEMAP_NESTING = 3
RENDERED_TYPE = "text/html; charset=utf-8"


class ExtractedPage(Protocol):
    """What the crawler reads of an extracted page: its title and the links to follow."""

    @property
    def title(self) -> str: ...

    @property
    def links(self) -> Sequence[str]: ...


class JsNeed(Protocol):
    @property
    def javascript(self) -> bool: ...


class PageSink(Protocol):
    """Where the crawler puts extracted pages (a job's page store), and what it finds
    there when it resumes."""

    def add(self, doc: Any) -> None: ...

    def resume_records(self) -> Iterable[tuple[str, str, int, Any]]: ...


@dataclass(frozen=True)
class PageWork:
    """The CPU work the crawler runs on its executor, given by its caller (module-level
    functions, so a process pool can run them): extraction of a fetched page, and the
    check whether a page needs JavaScript. The crawler imports neither."""

    extract: Callable[[bytes, str | None, str, str, int, bool], ExtractedPage]
    """(body, content type, url, final url, depth, from cache) -> the extracted page."""
    needs_javascript: Callable[[bytes, str | None], JsNeed]
    """(body, content type) -> whether the page needs rendering."""


@dataclass
class Page:
    url: str
    final_url: str
    headers: dict[str, str]
    body: bytes
    from_cache: bool


@dataclass
class CrawlResult:
    start_url: str
    stats: CrawlStats
    duration: float
    robots: str
    """How robots.txt was read: "parsed", "allow-all (HTTP 404)", "ignored", ..."""


class Crawler:
    def __init__(
        self,
        config: CrawlConfig,
        *,
        fetcher: HttpFetcher,
        store: PageSink,
        work: PageWork,
        cache: PageCache | None = None,
        clock: Clock | None = None,
        listener: Listener | None = None,
        executor: Executor | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        resume: bool = False,
        renderer: Renderer | None = None,
        host_limits: HostLimits | None = None,
        tracer: Tracer | None = None,
        page_gate: PageGate | None = None,
    ) -> None:
        self.config = config
        self.tracer = tracer
        self.page_gate = page_gate
        """Pages it finds no content are rendered (where allowed) and judged again, else
        counted as errors with its reason, never stored."""
        if config.render_javascript != "never" and renderer is None:
            raise ValueError(f"render_javascript={config.render_javascript!r} needs a renderer")
        self.renderer = renderer if config.render_javascript != "never" else None
        self._render: RenderSession | None = None
        self.resume = resume
        self.fetcher = fetcher
        self.store = store
        self.work = work
        self.cache = cache if config.cache_enabled else None
        self.clock = clock or SystemClock()
        self.listener = listener
        self.wall_clock = wall_clock
        self.rng = rng or random.Random()
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(2, thread_name_prefix="extract")
        self.stats = CrawlStats()
        self.scope = Scope(config.start_url, config.include_patterns, config.exclude_patterns)
        self.frontier = Frontier(
            self.scope,
            max_depth=config.max_depth,
            max_pages=config.max_pages,
            hash_routes=self.renderer is not None,
        )
        # The process's per-host budget when given (shared with every other crawl), else
        # a table of this crawl's own.
        if host_limits is None:
            host_limits = SharedHostLimits(self.clock)
        self.limiter: HostLimiter = host_limits.for_crawl(
            rate=config.rate_limit, concurrency=config.concurrency
        )
        self.retry = RetryPolicy(config.max_retries, config.retry_backoff, config.max_retry_after)
        self._robots: dict[str, RobotsRules] = {}
        self._queue: asyncio.Queue[QueuedURL] = asyncio.Queue()
        self._start_error: str | None = None
        self._start_reason: str | None = None
        self._stored: set[str] = set()
        """Canonical keys of pages stored, under their own URL or as a redirect target."""
        self._disk_full: Exception | None = None
        """A full disk met while storing a page: the crawl stops and raises it."""
        self._waited: dict[asyncio.Task[Any] | None, float] = {}
        """Seconds each worker's current page spent waiting for its turn at the host
        (rate limit, concurrency cap, retry back-off): not part of the page's time."""

    # --- public --------------------------------------------------------------------
    async def run(self) -> CrawlResult:
        try:
            return await self._run()
        finally:
            self.limiter.close()  # its rate no longer holds the hosts it used

    async def _run(self) -> CrawlResult:
        started = time.monotonic()
        start = self.config.start_url
        self.fetcher.policy.check_url(start)
        if self.resume:
            # First: the listener's first event carries the pages already stored, so the
            # progress of a job taken up again continues from them instead of from 0
            # while the browser starts and robots.txt is read.
            self._resume_from_store()
        if self.renderer is not None:
            await self._start_rendering()  # no browser: fail before any request
        rules = await self._robots_for(start)
        if rules.unreachable:
            raise ScrapingFailedError(
                f"cannot reach {host_key(start)}: {rules.unreachable}; check the URL and "
                "the network (robots.txt could not be read, so RFC 9309 forbids crawling)",
                details={"url": start, "robots": rules.status},
            )
        if not rules.allowed(start, self.config.user_agent):
            raise ScrapingFailedError(
                f"robots.txt of {host_key(start)} disallows {start} for our user agent "
                f"({rules.status}); if you own the site, crawl with robots.txt off (--no-robots)",
                details={"url": start, "robots": rules.status},
            )
        self._admit(start, 0, None)
        workers = [asyncio.create_task(self._worker()) for _ in range(self.config.concurrency)]
        try:
            if self.config.use_sitemaps:
                await self._discover_sitemaps(start, rules)
            await self._queue.join()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if self._own_executor:
                self.executor.shutdown(wait=False, cancel_futures=True)
            await self._stop_rendering()
        if self._disk_full is not None:
            raise self._disk_full
        if self.stats.processed == 0 and self._start_reason in AUTH_STATUSES:
            # The site wants credentials we do not have (or refused the ones sent).
            raise AuthenticationFailedError(
                f"{start} answered {self._start_reason}: the site needs credentials that "
                "work for this URL; nothing could be crawled without them",
                details={"url": start, "status": int(self._start_reason.split()[-1])},
            )
        if self.stats.processed == 0:
            raise ScrapingFailedError(
                f"nothing could be crawled from {start}: {self._start_error or 'no HTML page'}",
                details={"url": start, "reason": self._start_error},
            )
        return CrawlResult(start, self.stats, time.monotonic() - started, rules.status)

    # --- frontier ------------------------------------------------------------------
    def _resume_from_store(self) -> None:
        """Take up an interrupted crawl: stored pages count as done, their links as found."""
        records = list(self.store.resume_records())
        for url, final_url, depth, _ in records:
            outcome = self.frontier.admit(url, depth)
            self.frontier.mark_seen(final_url)
            self._stored.update((canonical(url), canonical(final_url)))
            if isinstance(outcome, QueuedURL):
                self.stats.discovered += 1
                self.stats.processed += 1
        for url, _, depth, links in records:
            for link in links:
                self._admit(link, depth + 1, url)
        if records:
            self._emit(
                CrawlEvent(
                    "info",
                    self.config.start_url,
                    message=(f"resuming: {len(records)} pages already fetched"),
                )
            )

    def _admit(self, url: str, depth: int, parent: str | None) -> None:
        if self._disk_full is not None:
            return
        outcome = self.frontier.admit(url, depth, parent)
        if isinstance(outcome, QueuedURL):
            self.stats.discovered += 1
            self._queue.put_nowait(outcome)
        elif outcome != "seen":
            self.stats.skipped[outcome] += 1

    def _emit(self, event: CrawlEvent) -> None:
        if self.listener is not None:
            self.listener(event, self.stats)

    def _skip(self, url: str, reason: str) -> None:
        self.stats.skipped[reason] += 1
        self._emit(CrawlEvent("skipped", url, reason=reason))

    def _fail(self, item: QueuedURL, reason: str, message: str) -> None:
        self.stats.errors += 1
        self.stats.error_reasons[reason] += 1
        if item.depth == 0:
            self._start_error = message.removeprefix(f"{item.url}: ")
            self._start_reason = reason
        self._emit(CrawlEvent("error", item.url, message=message, reason=reason))

    def _stop_for(self, exc: Exception) -> None:
        """End the crawl with ``exc``: nothing more is admitted, the queue is emptied (the
        pages in flight finish), and ``run`` raises it."""
        if self._disk_full is None:
            self._disk_full = exc
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    # --- workers -------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._process(item)
            except asyncio.CancelledError:
                raise
            except FetchError as exc:
                self._fail(item, exc.reason, exc.message)
            except Exception as exc:  # one bad page must not end the crawl
                # ...but a full disk, or a page store whose database went away, fails
                # every page after it: the crawl stops (the job resumes it later)
                if is_disk_full(exc) or unreachable(exc):
                    self._stop_for(exc)
                else:
                    self._fail(item, "internal error", f"{item.url}: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    async def _process(self, item: QueuedURL) -> None:
        rules = await self._robots_for(item.url)
        if not rules.allowed(item.url, self.config.user_agent):
            self._skip(item.url, "disallowed by robots.txt")
            return
        if item.key in self._stored:
            self._skip(item.url, "already crawled as a redirect target")
            return
        self.stats.current_url = item.url
        began = time.monotonic()
        self._waited[asyncio.current_task()] = 0.0
        page = await self._get_page(item)
        if page is None:
            return
        from_cache = page.from_cache  # (a rendering of a cached page is still a hit)
        rendered = self._render is not None and await self._needs_rendering(item, page)
        if rendered and self._render is not None:
            page = await self._rendered(item, page, self._render)
        final_key = canonical(page.final_url)
        if final_key != item.key:
            out = self.scope.reason_out(page.final_url)
            if out is not None:
                self._skip(item.url, f"redirected: {out}")
                return
            if final_key in self._stored:
                self._skip(item.url, "redirected to a page already crawled")
                return
            self.frontier.mark_seen(page.final_url)
        if item.key in self._stored:  # claimed while this one was in flight
            self._skip(item.url, "already crawled as a redirect target")
            return
        self._stored.update((item.key, final_key))
        doc = await self._document(item, page)
        problem = self.page_gate(page.body, doc) if self.page_gate is not None else None
        if problem is not None and self._render is not None and not rendered:
            self._emit(CrawlEvent("info", item.url, message=f"rendering: {problem.detail}"))
            page = await self._rendered(item, page, self._render)
            doc = await self._document(item, page)
            problem = self.page_gate(page.body, doc) if self.page_gate is not None else None
        if problem is not None:
            raise FetchError(f"{item.url}: {problem.detail}", reason=problem.reason)
        self.store.add(doc)
        # Hits and misses are counted with the page, not at its fetch: they are the pages
        # processed, by where they came from, so any snapshot of the counters (a job's
        # progress, flushed while other pages are between fetch and extraction) adds up.
        self.stats.processed += 1
        if from_cache:
            self.stats.cache_hits += 1
        else:
            self.stats.cache_misses += 1
        waited = self._waited.pop(asyncio.current_task(), 0.0)
        self.stats.page_time_total += max(0.0, time.monotonic() - began - waited)
        for link in doc.links:
            self._admit(link, item.depth + 1, item.url)
        self._emit(CrawlEvent("page", item.url, title=doc.title, from_cache=page.from_cache))

    async def _document(self, item: QueuedURL, page: Page) -> ExtractedPage:
        loop = asyncio.get_running_loop()
        # Extraction runs in the process pool: the span is the parent's wait for it.
        traced = {"url.full": redact_text(item.url)} if self.tracer is not None else None
        with span(self.tracer, "extract", attributes=traced):
            return await loop.run_in_executor(
                self.executor,
                self.work.extract,
                page.body,
                page.headers.get("content-type"),
                item.url,
                page.final_url,
                item.depth,
                page.from_cache,
            )

    # --- fetching: cache, politeness, retries ---------------------------------------
    async def _get_page(self, item: QueuedURL) -> Page | None:
        cached = await self.cache.get(item.key) if self.cache else None
        if cached is not None and cached.is_fresh(self.config.cache_ttl, self.wall_clock()):
            return Page(item.url, cached.final_url, cached.headers, cached.body, True)
        validators = cached.validators() if cached else {}
        response = await self._polite_get(item.url, validators, html_only=True)
        if response.status == 304 and cached is not None:
            assert self.cache is not None
            await self.cache.touch(item.key, self.wall_clock())
            self.stats.revalidated += 1
            return Page(item.url, cached.final_url, cached.headers, cached.body, True)
        if response.status != 200:
            raise FetchError(
                f"{item.url}: HTTP {response.status}", reason=f"HTTP {response.status}"
            )
        if not response.is_html or response.body is None:
            mime = response.content_type.split(";", 1)[0].strip() or "unknown type"
            self._skip(item.url, f"not HTML ({mime})")
            return None
        if self.cache is not None:
            await self.cache.put(
                CachedPage(
                    item.key,
                    item.url,
                    response.final_url,
                    _cacheable_headers(response.headers),
                    response.body,
                    self.wall_clock(),
                )
            )
        return Page(item.url, response.final_url, response.headers, response.body, False)

    async def _polite_get(
        self, url: str, headers: dict[str, str], *, html_only: bool
    ) -> FetchResponse:
        """One logical GET: rate-limited per host, retried per the retry policy."""
        host = host_key(url)
        attempt = 0
        while True:
            error: FetchError | None = None
            response: FetchResponse | None = None
            waiting = time.monotonic()
            async with self.limiter.semaphore(host):
                await self.limiter.acquire(host)
                self._wait_done(waiting)
                self.stats.requests += 1
                try:
                    response = await self._traced_get(url, headers, html_only, attempt)
                except FetchError as exc:
                    if not exc.retryable:
                        raise
                    error = exc
            status = response.status if response is not None else None
            retry_after = (
                parse_retry_after(response.headers.get("retry-after")) if response else None
            )
            if response is not None and status is not None and status < 500 and status != 429:
                return response
            decision = decide(
                self.retry,
                attempt,
                status=status,
                error=error.reason if error else None,
                retry_after=retry_after,
                rng=self.rng,
            )
            if decision.delay is None:
                if error is not None:
                    raise FetchError(f"{error.message} ({decision.reason})", reason=error.reason)
                assert response is not None
                return response
            self._emit(CrawlEvent("info", url, message=f"retrying: {decision.reason}"))
            if decision.host_pause:
                self.limiter.pause(host, decision.delay)
            else:
                waiting = time.monotonic()
                await self.clock.sleep(decision.delay)
                self._wait_done(waiting)
            attempt += 1

    async def _traced_get(
        self, url: str, headers: dict[str, str], html_only: bool, attempt: int
    ) -> FetchResponse:
        if self.tracer is None:
            return await self.fetcher.get(url, headers=headers, html_only=html_only)
        attributes: dict[str, Any] = {"http.request.method": "GET", "url.full": redact_text(url)}
        if attempt:
            attributes["http.request.resend_count"] = attempt
        with span(self.tracer, "GET", kind="client", attributes=attributes) as current:
            response = await self.fetcher.get(url, headers=headers, html_only=html_only)
            if current is not None:
                current.set_attribute("http.response.status_code", response.status)
            return response

    def _wait_done(self, since: float) -> None:
        """Count a politeness wait that began at ``since`` out of the current page's time."""
        task = asyncio.current_task()
        if task in self._waited:
            self._waited[task] += time.monotonic() - since

    # --- JavaScript rendering ----------------------------------------------------------------
    async def _start_rendering(self) -> None:
        """Fail the crawl now, with the reason, when no browser can run (not page by page)."""
        assert self.renderer is not None
        try:
            await self.renderer.start()
        except BrowserUnavailable as exc:
            raise ScrapingFailedError(
                f"JavaScript rendering ({self.config.render_javascript}) needs a browser: {exc}",
                details={"option": "render_javascript", "reason": str(exc)},
            ) from exc
        self._render = self.renderer.session(
            self.fetcher,
            images=self.config.render_images,
            allow_navigation=self._navigation_allowed,
        )

    async def _stop_rendering(self) -> None:
        session, self._render = self._render, None
        if session is None:
            return
        await session.close()
        net = session.stats
        self._emit(
            CrawlEvent(
                "info",
                self.config.start_url,
                message=(
                    f"rendered {self.stats.rendered} pages; their sub-requests: "
                    f"{net.requests} fetched, {net.from_memory} from memory, {net.refused} "
                    f"refused by the network policy, {net.blocked} not loaded (images, "
                    f"fonts, media, non-GET), {net.websockets_refused} WebSockets refused"
                ),
            )
        )

    def _navigation_allowed(self, url: str) -> bool:
        """A page sending the browser elsewhere: robots.txt, as far as it is known, applies."""
        rules = self._robots.get(host_key(url))
        return rules is None or rules.allowed(url, self.config.user_agent)

    async def _needs_rendering(self, item: QueuedURL, page: Page) -> bool:
        if self.config.render_javascript == "always" or hash_route(item.url):
            return True
        loop = asyncio.get_running_loop()
        verdict = await loop.run_in_executor(
            self.executor, self.work.needs_javascript, page.body, page.headers.get("content-type")
        )
        return verdict.javascript

    async def _rendered(self, item: QueuedURL, page: Page, session: RenderSession) -> Page:
        """The page after JavaScript ran: the fetched HTML served to the browser as is
        (no second request), retried like a fetch when the browser times out."""
        from scrape_api_docs.crawler.render_net import Prefetched

        target = strip_fragment(page.final_url) + hash_route(item.url)
        document = Prefetched(target, 200, page.headers, page.body)
        attempt = 0
        while True:
            try:
                rendered = await session.render(
                    target,
                    document,
                    wait_for_selector=self.config.wait_for_selector,
                    time_limit=self.config.timeout,
                )
                break
            except FetchError as exc:
                if not exc.retryable:
                    raise
                decision = decide(self.retry, attempt, error=exc.reason, rng=self.rng)
                if decision.delay is None:
                    raise FetchError(
                        f"{exc.message} ({decision.reason})", reason=exc.reason
                    ) from exc
                self._emit(CrawlEvent("info", item.url, message=f"retrying: {decision.reason}"))
                await self.clock.sleep(decision.delay)
                attempt += 1
        self.stats.rendered += 1
        body = rendered.html.encode("utf-8")
        return Page(item.url, rendered.final_url, {"content-type": RENDERED_TYPE}, body, False)

    # --- robots.txt and sitemaps -------------------------------------------------------
    async def _robots_for(self, url: str) -> RobotsRules:
        host = host_key(url)
        rules = self._robots.get(host)
        if rules is not None:
            return rules
        if not self.config.respect_robots:
            rules = RobotsRules("ignored", allow_all=True)
        else:
            try:
                response = await self._polite_get(robots_url(url), {}, html_only=False)
                rules = rules_from_response(response.status, response.body)
            except FetchError as exc:
                rules = rules_from_response(None, None, exc.message)
            delay = rules.crawl_delay(self.config.user_agent)
            if delay:
                self.limiter.set_crawl_delay(host, delay)
        self._robots[host] = rules
        self._emit(CrawlEvent("info", url, message=f"robots.txt for {host}: {rules.status}"))
        return rules

    async def _discover_sitemaps(self, start: str, rules: RobotsRules) -> None:
        parts = urlsplit(start)
        default = urlunsplit((parts.scheme, parts.netloc, "/sitemap.xml", "", ""))
        pending = [(url, 0) for url in dict.fromkeys([*rules.sitemaps, default])]
        fetched: set[str] = set()
        while pending and len(fetched) < MAX_SITEMAP_FILES:
            url, level = pending.pop(0)
            if url in fetched or host_key(url) != host_key(start):
                continue
            fetched.add(url)
            if not rules.allowed(url, self.config.user_agent) and url not in rules.sitemaps:
                continue
            try:
                response = await self._polite_get(url, {}, html_only=False)
                if response.status != 200 or response.body is None:
                    continue
                content = parse_sitemap(response.body)
            except (FetchError, ValueError) as exc:
                self._emit(CrawlEvent("info", url, message=f"sitemap unreadable: {exc}"))
                continue
            for page in content.pages:
                self._admit(page, 1, url)
            if level < MAX_SITEMAP_NESTING:
                pending.extend((nested, level + 1) for nested in content.sitemaps)


def _cacheable_headers(headers: dict[str, str]) -> dict[str, str]:
    keep = ("content-type", "etag", "last-modified")
    return {k: v for k, v in headers.items() if k in keep}

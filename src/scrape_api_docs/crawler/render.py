"""JavaScript rendering in real Chromium: one long-lived browser per process, its own
browser contexts for each crawl, a bounded number of pages open at once.

``Renderer`` owns the browser. It is launched on first use, relaunched when it crashes
(the pages that were open are retried once) and restarted, between pages, when its
memory passes a bound. ``health()`` reports its state without launching anything.

``RenderSession`` (``render_session``) is one crawl's view of it: contexts whose every
request is answered through the crawl's fetcher (``render_net``), and ``render(url)``:
load the page in a tab, wait until it is settled (``render_wait``), and hand back the DOM
as HTML for the same extraction as static pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from scrape_api_docs.crawler.browser import (
    BrowserGone,
    BrowserUnavailable,
    ClosedPort,
    find_browser,
    launch,
    memory_of,
)

# Playwright (its generated API: ~0.07 s of CPU to import) and the session modules on it are
# imported when a browser is used: the API's health check and every job context hold a
# Renderer without rendering anything.
if TYPE_CHECKING:
    from playwright.async_api import Browser, CDPSession, Playwright

    from scrape_api_docs.crawler.fetch import HttpFetcher
    from scrape_api_docs.crawler.render_session import RenderSession
    from scrape_api_docs.settings import Settings

log = structlog.get_logger("render")
T = TypeVar("T")
MB = 1024 * 1024
DEGRADED_FOR = 600.0
"""A crash keeps health at "degraded" this many seconds."""


class Renderer:
    def __init__(
        self,
        browser_path: str | None = None,
        *,
        pages_open: int = 6,
        memory_limit_mb: int = 2048,
        check_every: int = 50,
    ) -> None:
        self.browser_path = browser_path
        self.pages_open = pages_open
        self.memory_limit = memory_limit_mb * MB
        self.check_every = check_every
        self.generation = 0
        """Which browser is current; bumped at every (re)launch."""
        self.pages_rendered = 0
        self.restarts: Counter[str] = Counter()
        self.crashes: deque[float] = deque(maxlen=50)
        self.last_error: str | None = None
        """Why the last launch failed, until one succeeds."""
        self.memory: int | None = None
        """PSS of the browser's processes at the last check, bytes."""
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._cdp: CDPSession | None = None
        self._proxy: ClosedPort | None = None
        self._launch_lock = asyncio.Lock()
        self._slots = asyncio.Condition()
        self._active = 0
        self._draining = False
        self._since_check = 0
        self._closed = False
        self._pid: int | None = None
        self._gone = asyncio.Event()
        """Set when the current browser disconnects (a new one per launch)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        return cls(
            settings.browser_path,
            pages_open=settings.render_pages_open,
            memory_limit_mb=settings.browser_memory_limit_mb,
        )

    # --- state ---------------------------------------------------------------------------
    def health(self) -> tuple[str, str]:
        """("healthy" | "degraded" | "unavailable", why), from what is known: cheap."""
        path = find_browser(self.browser_path)
        if path is None:
            if self.browser_path:
                return "unavailable", (
                    f"SCRAPER_BROWSER_PATH={self.browser_path} is not executable "
                    "(install Debian's chromium-headless-shell or chromium, or fix the path)"
                )
            return "unavailable", (
                "no Chromium found (install Debian's chromium-headless-shell or chromium, "
                "or set SCRAPER_BROWSER_PATH)"
            )
        if self.last_error:
            return "unavailable", self.last_error
        recent = [t for t in self.crashes if time.monotonic() - t < DEGRADED_FOR]
        if recent:
            return "degraded", (
                f"Chromium crashed {len(recent)} time(s) in the last "
                f"{DEGRADED_FOR / 60:g} minutes; relaunched"
            )
        if self._browser is None:
            return "healthy", f"Chromium at {path}; starts with the first rendering job"
        if not self._browser.is_connected():
            return "degraded", "Chromium disconnected; relaunching for the next page"
        memory = f", {self.memory / MB:.0f} MB" if self.memory is not None else ""
        return "healthy", (
            f"Chromium {self._browser.version} running: {self._active}/{self.pages_open} "
            f"pages open, {self.pages_rendered} rendered{memory}"
        )

    @property
    def pid(self) -> int | None:
        """The browser process, once known (tests kill it to check recovery)."""
        return self._pid

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Have a browser running; BrowserUnavailable with the reason if none can be."""
        await self.browser()

    async def browser(self) -> tuple[Browser, int]:
        browser = self._browser
        if browser is not None and browser.is_connected():
            return browser, self.generation
        async with self._launch_lock:
            if self._browser is None or not self._browser.is_connected():
                await self._launch(fresh_driver=self._browser is not None)
            assert self._browser is not None
            return self._browser, self.generation

    async def close(self) -> None:
        self._closed = True
        async with self._launch_lock:
            await self._close_browser()
            if self._playwright is not None:
                with contextlib.suppress(Exception):
                    await self._playwright.stop()
                self._playwright = None
            if self._proxy is not None:
                self._proxy.close()
                self._proxy = None

    async def _launch(self, *, fresh_driver: bool) -> None:
        """Launch (under the launch lock). After a crash the driver is restarted too: it
        may be what died."""
        if self._closed:
            raise BrowserUnavailable("the renderer is shut down")
        await self._close_browser()
        if fresh_driver and self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None
        try:
            if self._playwright is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
            self._proxy = self._proxy or ClosedPort()
            browser = await launch(
                self._playwright, self.browser_path, proxy_server=self._proxy.proxy_server
            )
        except BrowserUnavailable as exc:
            self.last_error = str(exc)
            raise
        except Exception as exc:  # the Playwright driver itself failed to start
            self.last_error = f"Playwright could not start: {type(exc).__name__}: {exc}"
            raise BrowserUnavailable(self.last_error) from exc
        self.last_error = None
        self.generation += 1
        generation = self.generation
        self._gone = gone = asyncio.Event()
        browser.on("disconnected", lambda _: self._disconnected(generation, gone))
        self._browser = browser
        self._cdp = await browser.new_browser_cdp_session()
        self._pid = next((p for t, p in await self._processes() if t == "browser"), None)
        log.info("browser_started", version=browser.version, pid=self._pid, gen=generation)

    def _disconnected(self, generation: int, gone: asyncio.Event) -> None:
        gone.set()
        if generation == self.generation and not self._closed and self._browser is not None:
            self.crashes.append(time.monotonic())
            self.restarts["crash"] += 1
            log.warning("browser_disconnected", gen=generation)

    async def _close_browser(self) -> None:
        browser, self._browser, self._cdp = self._browser, None, None
        self._gone.set()
        if browser is not None:
            self.generation += 1  # its disconnect event is not a crash
            with contextlib.suppress(Exception):
                await browser.close()

    async def _processes(self) -> list[tuple[str, int]]:
        from playwright.async_api import Error as PlaywrightError

        if self._cdp is None:
            return []
        try:
            info = await self._cdp.send("SystemInfo.getProcessInfo")
        except PlaywrightError:
            return []
        return [(str(p["type"]), int(p["id"])) for p in info.get("processInfo", [])]

    # --- pages ---------------------------------------------------------------------------
    @asynccontextmanager
    async def page_slot(self) -> AsyncIterator[None]:
        """One of ``pages_open`` pages; none are handed out while a restart drains."""
        async with self._slots:
            await self._slots.wait_for(
                lambda: not self._draining and self._active < self.pages_open
            )
            self._active += 1
        try:
            yield
        finally:
            async with self._slots:
                self._active -= 1
                self._slots.notify_all()

    async def page_done(self, generation: int) -> None:
        """Count a page; every ``check_every`` pages, restart past the memory bound."""
        self.pages_rendered += 1
        self._since_check += 1
        if self._since_check < self.check_every or generation != self.generation:
            return
        self._since_check = 0
        pids = [pid for _, pid in await self._processes()]
        # Reading PSS walks each process's page tables: milliseconds each, off the loop.
        self.memory = await asyncio.to_thread(memory_of, pids)
        if self.memory is not None and self.memory > self.memory_limit:
            log.info("browser_memory_restart", mb=round(self.memory / MB), gen=generation)
            await self.restart(generation, "memory")

    async def restart(self, generation: int, reason: str) -> None:
        """Replace browser ``generation`` (if still current) once its open pages are done.
        Callers must not hold a page slot."""
        async with self._slots:
            if self._draining:  # someone else is restarting: wait for them
                await self._slots.wait_for(lambda: not self._draining)
                return
            if generation != self.generation:
                return
            self._draining = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    await self._slots.wait_for(lambda: self._active == 0)
        try:
            async with self._launch_lock:
                if generation == self.generation:
                    if reason != "crash":
                        self.restarts[reason] += 1
                    await self._launch(fresh_driver=reason == "crash")
        finally:
            async with self._slots:
                self._draining = False
                self._slots.notify_all()

    async def unless_gone(self, work: Awaitable[T]) -> T:
        """``work``'s result, or BrowserGone as soon as the browser disconnects: some calls
        (a new page, raw CDP) are never answered by a browser that died."""
        gone = asyncio.ensure_future(self._gone.wait())
        task = asyncio.ensure_future(work)
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            gone.cancel()
        if task.done():
            return task.result()
        task.cancel()  # its clean-up (bounded) finishes in the background
        task.add_done_callback(_consume)
        raise BrowserGone("the browser disconnected")

    def alive(self, generation: int) -> bool:
        browser = self._browser
        return generation == self.generation and browser is not None and browser.is_connected()

    def session(
        self,
        fetcher: HttpFetcher,
        *,
        images: bool = False,
        allow_navigation: Callable[[str], bool] | None = None,
    ) -> RenderSession:
        from scrape_api_docs.crawler.render_net import RequestRouter
        from scrape_api_docs.crawler.render_session import RenderSession

        return RenderSession(
            self, RequestRouter(fetcher, images=images, allow_navigation=allow_navigation)
        )


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failure of abandoned work is expected

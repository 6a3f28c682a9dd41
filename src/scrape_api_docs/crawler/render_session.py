"""One crawl's share of the browser: tabs (a page in its own context each), rendering a
page in one of them, and what happens when the browser goes away mid-page."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from playwright.async_api import Error as PlaywrightError

from scrape_api_docs.crawler.browser import BrowserGone
from scrape_api_docs.crawler.render_net import NetStats, Prefetched, RequestRouter
from scrape_api_docs.crawler.render_wait import IDLE_CAP, PAGE_SCRIPT, settle
from scrape_api_docs.errors import FetchError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, CDPSession, Page

    from scrape_api_docs.crawler.render import Renderer

log = structlog.get_logger("render")
PAGE_USES = 100
"""A tab is replaced after this many pages (whatever its renderer process accumulated)."""
TAB_CALL_LIMIT = 5.0
"""Seconds for housekeeping calls on a tab (freeze, close): a dead browser never answers."""


@dataclass(frozen=True)
class Rendered:
    url: str
    final_url: str
    """Where the page ended: after redirects and client-side routing (hash included)."""
    status: int
    html: str


@dataclass(eq=False)
class _Tab:
    """A page in a context of its own, reused from render to render."""

    context: BrowserContext
    page: Page
    cdp: CDPSession
    generation: int
    uses: int = 0

    async def lifecycle(self, state: str) -> bool:
        """ "frozen": the old document's timers, frames and tasks stop while the tab waits
        (as for a background tab on a phone); "active" before its next page. False when
        the tab is gone (a raw CDP call is not failed by Playwright when the browser dies:
        it is bounded here)."""
        try:
            async with asyncio.timeout(TAB_CALL_LIMIT):
                await self.cdp.send("Page.setWebLifecycleState", {"state": state})
        except (PlaywrightError, TimeoutError):
            return False
        return True


class RenderSession:
    """One crawl's share of the browser: its tabs, each a page in its own context, whose
    every request the crawl's router answers (``render_net``).

    A context per page, because Chromium only produces animation frames for the front
    page of a context: pages rendered side by side in one context get about one frame a
    second, and intersection observers (lazy content) wait for frames. All of a crawl's
    contexts are set up alike (request routing, user agent, the waiting script).

    Tabs are reused: a new one costs a renderer process (~100 ms), about half of what
    rendering a small page takes. Between uses a tab is frozen (its old document's
    timers, frames and tasks stop, and the router refuses its requests), which costs far
    less than navigating it to ``about:blank``; at most ``pages_open`` wait idle, and each
    is replaced after ``PAGE_USES`` renders, after any failure, and after a browser
    relaunch.
    """

    def __init__(self, renderer: Renderer, router: RequestRouter) -> None:
        self.renderer = renderer
        self.router = router
        self._idle: list[_Tab] = []
        self._tabs: set[_Tab] = set()

    @property
    def stats(self) -> NetStats:
        return self.router.stats

    async def close(self) -> None:
        tabs, self._tabs = list(self._tabs), set()
        self._idle.clear()
        for tab in tabs:
            with contextlib.suppress(Exception):
                await tab.context.close()

    async def render(
        self,
        url: str,
        document: Prefetched | None = None,
        *,
        wait_for_selector: str | None = None,
        time_limit: float = 30.0,
    ) -> Rendered:
        """Render ``url`` (serving ``document`` as its HTML when given). FetchError when
        it cannot be; after a browser or tab crash the page is tried once more."""
        for _ in range(2):
            failure: Exception | None = None
            generation = self.renderer.generation
            async with self.renderer.page_slot():  # waiting here is not the page's time
                try:
                    async with asyncio.timeout(time_limit):
                        generation, rendered = await self.renderer.unless_gone(
                            self._render_once(url, document, wait_for_selector)
                        )
                except TimeoutError as exc:
                    raise FetchError(
                        f"{url}: rendering took longer than {time_limit:g}s", reason="timeout"
                    ) from exc
                except (PlaywrightError, BrowserGone) as exc:
                    failure = exc
            if failure is None:
                await self.renderer.page_done(generation)
                return rendered
            if self.renderer.alive(generation):
                if "crash" not in str(failure).lower():
                    raise FetchError(
                        f"{url}: rendering failed: {_first_line(failure)}",
                        reason="render failed",
                    ) from failure
                log.warning("render_tab_crashed", url=url)  # its process only: try again
            else:
                log.warning("render_browser_gone", url=url, error=_first_line(failure))
                await self.renderer.restart(generation, "crash")
        raise FetchError(f"{url}: the browser crashed twice rendering it", reason="browser crashed")

    async def _render_once(
        self, url: str, document: Prefetched | None, selector: str | None
    ) -> tuple[int, Rendered]:
        tab = await self._take_tab()
        return tab.generation, await self._render_in(tab, url, document, selector)

    async def _render_in(
        self, tab: _Tab, url: str, document: Prefetched | None, selector: str | None
    ) -> Rendered:
        page = tab.page
        activity = self.router.open(page, document)
        done = False
        try:
            response = await page.goto(url, wait_until="domcontentloaded")
            readiness = await settle(page, activity, selector)
            if not readiness.has_content:
                _no_content(url, readiness.websockets)
            html = await page.evaluate(_DOCUMENT_HTML)
            status = response.status if response is not None else 200
            done = True
            return Rendered(url, page.url, status, html)
        finally:
            self.router.close(page)
            await self._give_back(tab, reuse=done)

    async def _take_tab(self) -> _Tab:
        browser, generation = await self.renderer.browser()
        while self._idle:
            tab = self._idle.pop()
            fit = tab.generation == generation and not tab.page.is_closed()
            if fit and await tab.lifecycle("active"):
                return tab
            await self._discard(tab)
        context = await _new_context(browser, self.router)
        page = await context.new_page()
        page.on("popup", _close_popup)
        cdp = await context.new_cdp_session(page)
        await self.router.attach(page, cdp)
        tab = _Tab(context, page, cdp, generation)
        self._tabs.add(tab)
        return tab

    async def _give_back(self, tab: _Tab, *, reuse: bool) -> None:
        tab.uses += 1
        if (
            reuse
            and tab.uses < PAGE_USES
            and tab.generation == self.renderer.generation
            and len(self._idle) < self.renderer.pages_open
            and await tab.lifecycle("frozen")
        ):
            self._idle.append(tab)
            return
        await self._discard(tab)

    async def _discard(self, tab: _Tab) -> None:
        self._tabs.discard(tab)
        with contextlib.suppress(PlaywrightError, TimeoutError):
            async with asyncio.timeout(TAB_CALL_LIMIT):
                await tab.context.close()


async def _new_context(browser: Browser, router: RequestRouter) -> BrowserContext:
    context = await browser.new_context(
        user_agent=router.fetcher.options.user_agent,
        service_workers="block",
        accept_downloads=False,
        viewport={"width": 1280, "height": 1024},
        reduced_motion="reduce",
    )
    await context.add_init_script(PAGE_SCRIPT)
    await context.route_web_socket(
        lambda _: True, lambda ws: router.refuse_websocket(ws, context.pages)
    )
    return context


async def _close_popup(popup: Page) -> None:
    with contextlib.suppress(PlaywrightError):
        await popup.close()


# The DOM as HTML, read in the page's own world: Playwright's page.content() runs in an
# isolated world it first injects its helper script into, ~30 ms of renderer CPU a page.
_DOCUMENT_HTML = """() => {
  const doctype = document.doctype ? `<!DOCTYPE ${document.doctype.name}>` : "";
  return doctype + document.documentElement.outerHTML;
}"""


def _no_content(url: str, websockets: int) -> None:
    """A page still without content when the wait ended: one whose content was to come
    over a WebSocket is an error (never an empty chapter); any other is read as it is,
    with a warning (the extraction's checks decide what it is worth)."""
    if websockets:
        raise FetchError(
            f"{url}: the page stayed empty: its content comes over a WebSocket, and "
            "WebSockets are refused while crawling (only HTTP goes through the crawler's "
            "checks); nothing else filled the page",
            reason="content over WebSocket",
            details={"websockets": websockets},
        )
    log.warning("render_no_content", url=url, waited_s=IDLE_CAP)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""The browser's network: every request a rendered page makes, answered by our fetcher.

Chromium runs with a proxy at a port nobody listens on (``browser.ClosedPort``), so it
has no network of its own. Each request it wants to make (documents, scripts, styles,
fetch/XHR, iframes, workers' requests) comes here through Playwright's request
interception and is answered with ``route.fulfill`` from the crawl's ``HttpFetcher``:
the network policy then applies where the connection is made (no DNS-rebinding gap),
redirects are checked hop by hop, bodies are capped, and credentials go only to their
own origin. Refused requests are aborted; the browser sees a failed load.

Also here: what is never fetched (images, fonts, media, non-GET requests, WebSockets),
a small per-crawl memory of static sub-resources (the browser's HTTP cache is off under
interception, and every page of an SPA loads the same bundle), and a per-page count of
requests in flight, which is how the renderer knows a page's network has gone quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from playwright.async_api import Error as PlaywrightError

from scrape_api_docs.crawler.fetch import FetchResponse, HttpFetcher
from scrape_api_docs.crawler.urls import strip_fragment
from scrape_api_docs.errors import FetchError, InvalidURLError

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Route, WebSocketRoute

log = structlog.get_logger("render")
BLOCKED_TYPES = frozenset({"image", "media", "font", "texttrack", "eventsource", "manifest"})
"""Never fetched: nothing the text of a page depends on (images only on request)."""
MEMORY_TYPES = frozenset({"script", "stylesheet", "fetch", "xhr"})
"""Sub-resources kept in memory for the rest of the crawl once fetched."""
_DROP_REQUEST = frozenset(
    {
        "host",
        "user-agent",  # ours, set by the fetcher
        "accept-encoding",  # the fetcher decompresses under its size cap
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "range",
        "if-range",
        "if-none-match",  # the browser answers from nothing cached: full bodies only
        "if-modified-since",
        "proxy-authorization",
        "proxy-connection",
    }
)
_DROP_RESPONSE = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)
LONG_POLL = 3.0
"""Seconds after which an open request no longer holds up "network idle"."""
MAX_REDIRECTS_WAITING = 64
_MOVE_ON = "<!doctype html><script>location.replace({})</script>"
MAX_REMEMBERED = 2 * 1024 * 1024
"""Largest single sub-resource kept in memory."""


@dataclass(frozen=True)
class Prefetched:
    """A document the crawler already fetched (politely): served to the browser as is."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class NetStats:
    requests: int = 0
    """Requests answered from the network through the fetcher."""
    from_memory: int = 0
    refused: int = 0
    """Aborted by the network policy (or robots.txt, for navigations)."""
    blocked: int = 0
    """Aborted by type or method (images, fonts, media, POST...)."""
    failed: int = 0
    websockets_refused: int = 0


class PageActivity:
    """Requests in flight for one page, and when that changed last.

    A request open longer than ``LONG_POLL`` seconds (a long poll, a stream) stops
    counting: waiting for it would hold every page to the idle cap.
    """

    def __init__(self) -> None:
        self.last_change = time.monotonic()
        self._open: dict[int, float] = {}
        self._next = 0

    def begin(self) -> int:
        self._next += 1
        self._open[self._next] = self.last_change = time.monotonic()
        return self._next

    def end(self, token: int) -> None:
        self._open.pop(token, None)
        self.last_change = time.monotonic()

    @property
    def inflight(self) -> int:
        now = time.monotonic()
        return sum(1 for started in self._open.values() if now - started < LONG_POLL)

    async def quiet(self, period: float, *, since: float, until: float) -> bool:
        """Wait until no request has been in flight for ``period`` seconds, counted from
        ``since`` at the earliest; give up at ``until``. True when it went quiet."""
        while True:
            now = time.monotonic()
            if now >= until:
                return False
            if self.inflight == 0:
                idle = now - max(self.last_change, since)
                if idle >= period:
                    return True
                await asyncio.sleep(min(period - idle, until - now))
            else:
                await asyncio.sleep(min(0.02, until - now))


class RequestRouter:
    """Answers the requests of one crawl's browser context (see the module docstring)."""

    def __init__(
        self,
        fetcher: HttpFetcher,
        *,
        images: bool = False,
        allow_navigation: Callable[[str], bool] | None = None,
        memory_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.fetcher = fetcher
        self.blocked_types = BLOCKED_TYPES - {"image"} if images else BLOCKED_TYPES
        self.allow_navigation = allow_navigation
        self.memory_bytes = memory_bytes
        self.stats = NetStats()
        self.activity: dict[Page, PageActivity] = {}
        self.documents: dict[Page, Prefetched] = {}
        self._memory: OrderedDict[str, FetchResponse] = OrderedDict()
        self._memory_size = 0
        self._pending: dict[str, asyncio.Task[FetchResponse]] = {}
        self._redirected: dict[str, FetchResponse] = {}

    # --- pages ---------------------------------------------------------------------------
    def open(self, page: Page, document: Prefetched | None) -> PageActivity:
        activity = self.activity[page] = PageActivity()
        if document is not None:
            self.documents[page] = document
        return activity

    def close(self, page: Page) -> None:
        self.activity.pop(page, None)
        self.documents.pop(page, None)

    # --- requests ------------------------------------------------------------------------
    async def handle(self, route: Route) -> None:
        request = route.request
        page = _page_of(request)
        activity = self.activity.get(page) if page is not None else None
        token = activity.begin() if activity is not None else 0
        try:
            await self._answer(route, request, page)
        except PlaywrightError:
            pass  # the page closed while its request was being answered
        except Exception:
            # An exception here would surface in the page's navigation: log, abort, go on.
            log.exception("render_request_failed", url=request.url)
            with contextlib.suppress(PlaywrightError):
                await route.abort("failed")
        finally:
            if activity is not None:
                activity.end(token)

    async def refuse_websocket(self, ws: WebSocketRoute) -> None:
        """WebSockets cannot go through the fetcher, and docs never need one: refused
        (those from workers, which this does not see, die at the closed proxy)."""
        self.stats.websockets_refused += 1
        await ws.close(code=1008, reason="WebSockets are not available while crawling")

    async def _answer(self, route: Route, request: Request, page: Page | None) -> None:
        url = request.url
        if request.resource_type in self.blocked_types or request.method not in ("GET", "HEAD"):
            self.stats.blocked += 1
            await route.abort("blockedbyclient")
            return
        if not url.startswith(("http://", "https://")):
            self.stats.blocked += 1
            await route.abort("blockedbyclient")
            return
        if page is not None and page not in self.activity:
            # A tab waiting between pages: its old document asks for nothing more.
            self.stats.blocked += 1
            await route.abort("blockedbyclient")
            return
        if page is not None and _is_main_navigation(request):
            document = self.documents.pop(page, None)
            if document is not None and strip_fragment(document.url) == strip_fragment(url):
                await _fulfill(route, document.status, document.headers, document.body)
                return
            if self.allow_navigation is not None and not self.allow_navigation(url):
                self.stats.refused += 1
                await route.abort("blockedbyclient")
                return
        known = self._redirected.pop(url, None) or self._recall(url)
        if known is not None:
            self.stats.from_memory += 1
            await _fulfill(route, known.status, known.headers, known.body or b"")
            return
        headers = {k: v for k, v in (await request.all_headers()).items() if k not in _DROP_REQUEST}
        remember = request.resource_type in MEMORY_TYPES and "authorization" not in headers
        try:
            response = await self._fetch(url, headers, remember)
        except InvalidURLError:
            self.stats.refused += 1
            await route.abort("blockedbyclient")
            return
        except FetchError as exc:
            refused = "network policy" in exc.reason
            self.stats.refused += refused
            self.stats.failed += not refused
            await route.abort("blockedbyclient" if refused else _abort_code(exc.reason))
            return
        redirected = strip_fragment(response.final_url) != strip_fragment(url)
        if redirected and request.is_navigation_request():
            # Redirected (each hop already checked). A document must end up at its final
            # URL (its relative links resolve against it), but Chromium does not route the
            # request that follows a redirect we answer with: it would go to the closed
            # proxy. So the browser gets a page that moves it on, and the body waits.
            self._redirected[response.final_url] = response
            while len(self._redirected) > MAX_REDIRECTS_WAITING:  # never followed: forget
                del self._redirected[next(iter(self._redirected))]
            stub = _MOVE_ON.format(json.dumps(response.final_url).replace("<", "\\u003c"))
            await _fulfill(route, 200, {"content-type": "text/html"}, stub.encode())
            return
        # A sub-resource gets the final body at the URL it asked for.
        await _fulfill(route, response.status, response.headers, response.body or b"")

    async def _fetch(self, url: str, headers: dict[str, str], remember: bool) -> FetchResponse:
        if not remember:
            self.stats.requests += 1
            return await self.fetcher.get(url, headers=headers, html_only=False)
        # Pages open at once all ask for the same bundle: fetch it once.
        task = self._pending.get(url)
        if task is None:
            self.stats.requests += 1
            task = asyncio.ensure_future(self.fetcher.get(url, headers=headers, html_only=False))
            self._pending[url] = task
            task.add_done_callback(lambda _: self._pending.pop(url, None))
        else:
            self.stats.from_memory += 1
        response = await asyncio.shield(task)
        self._remember(url, response)
        return response

    def _recall(self, url: str) -> FetchResponse | None:
        response = self._memory.get(url)
        if response is not None:
            self._memory.move_to_end(url)
        return response

    def _remember(self, url: str, response: FetchResponse) -> None:
        size = len(response.body or b"")
        cache_control = response.headers.get("cache-control", "").lower()
        if (
            response.status != 200
            or url in self._memory
            or size > MAX_REMEMBERED
            or "no-store" in cache_control
            or strip_fragment(response.final_url) != strip_fragment(url)
        ):
            return
        self._memory[url] = response
        self._memory_size += size
        while self._memory_size > self.memory_bytes and self._memory:
            _, old = self._memory.popitem(last=False)
            self._memory_size -= len(old.body or b"")


def _page_of(request: Request) -> Page | None:
    try:
        return request.frame.page
    except PlaywrightError:
        return None  # a worker's request, or a navigation before its frame exists


def _is_main_navigation(request: Request) -> bool:
    try:
        return request.is_navigation_request() and request.frame.parent_frame is None
    except PlaywrightError:
        return False


def _abort_code(reason: str) -> str:
    codes = {
        "timeout": "timedout",
        "connection error": "connectionfailed",
        "unknown host": "namenotresolved",
    }
    return codes.get(reason, "failed")


async def _fulfill(route: Route, status: int, headers: dict[str, str], body: bytes) -> None:
    kept = {k: v for k, v in headers.items() if k.lower() not in _DROP_RESPONSE}
    await route.fulfill(status=status, headers=kept, body=body)

"""The browser's network: every request a rendered page makes, answered by our fetcher.

Chromium runs with a proxy at a port nobody listens on (``browser.ClosedPort``), so it
has no network of its own. Each request a tab wants to make (documents, scripts, styles,
fetch/XHR, iframes, cross-site iframes and workers included) is paused by the DevTools
``Fetch`` domain on that tab's session and answered here, with ``Fetch.fulfillRequest``,
from the crawl's ``HttpFetcher``: the network policy then applies where the connection
is made (no DNS-rebinding gap), redirects are checked hop by hop, bodies are capped, and
credentials go only to their own origin. Refused requests are failed; the browser sees a
failed load.

Raw ``Fetch`` rather than Playwright's ``route``: routing turns the browser's cache off,
so every page re-fetched, re-parsed and re-compiled the same stylesheets and scripts
(about 80 CPU-ms of Chromium a page on a Sphinx site, bench/README). Here the cache stays
on, and the scripts and stylesheets the crawl keeps in memory anyway are handed over
with a freshness lifetime: the tab's browser (a context of one crawl) then reuses them
without asking again.

Also here: what is never fetched (images, fonts, media, non-GET requests, WebSockets),
that per-crawl memory of static sub-resources (every page of an SPA loads the same
bundle), and a per-page count of requests in flight, which is how the renderer knows a
page's network has gone quiet.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from playwright.async_api import Error as PlaywrightError

from scrape_api_docs.crawler.fetch import FetchResponse, HttpFetcher
from scrape_api_docs.errors import FetchError, InvalidURLError
from scrape_api_docs.urls import strip_fragment

if TYPE_CHECKING:
    from playwright.async_api import CDPSession, Page, WebSocketRoute

log = structlog.get_logger("render")
BLOCKED_TYPES = frozenset({"image", "media", "font", "texttrack", "eventsource", "manifest"})
"""Never fetched: nothing the text of a page depends on (images only on request)."""
MEMORY_TYPES = frozenset({"script", "stylesheet", "fetch", "xhr"})
"""Sub-resources kept in memory for the rest of the crawl once fetched."""
BROWSER_KEEPS = frozenset({"script", "stylesheet"})
"""Of those, what the browser is also let keep (``KEPT_FRESH``): what it would otherwise
parse and compile again for every page. Not fetch/XHR answers: those go on through here,
where they count towards network idle, and a cached one could not stand in for a
navigation to its URL (which robots.txt is checked for)."""
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
KEPT_FRESH = "private, max-age=86400"
"""The Cache-Control the browser is given for ``BROWSER_KEEPS``: it may then reuse them for
the rest of the crawl (its context's cache is the crawl's own)."""
_STALE_HEADERS = frozenset({"cache-control", "expires", "pragma", "age"})


@dataclass(frozen=True)
class Prefetched:
    """A document the crawler already fetched (politely): served to the browser as is."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Paused:
    """A request the browser holds until it is answered (DevTools ``Fetch.requestPaused``
    on a tab's session)."""

    cdp: CDPSession
    id: str
    url: str
    method: str
    resource_type: str
    """As Playwright names them: document, stylesheet, script, xhr, fetch, image..."""
    headers: dict[str, str]
    """As the browser would send them (its cookies included), names in lower case."""
    navigation: bool
    """A frame's document (the tab's own, or an iframe's)."""
    main_frame: bool
    """The tab's own document (not an iframe's)."""

    @classmethod
    def from_event(cls, cdp: CDPSession, event: dict[str, Any], main_frame: str) -> Paused:
        request = event["request"]
        headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
        resource_type = str(event.get("resourceType", "other")).lower()
        if resource_type == "other" and headers.get("accept", "").startswith("image/"):
            resource_type = "image"  # the full browser's own /favicon.ico, on every page
        navigation = resource_type == "document"
        return cls(
            cdp,
            event["requestId"],
            request["url"],
            request["method"],
            resource_type,
            headers,
            navigation,
            navigation and event.get("frameId") == main_frame,
        )

    async def fulfill(self, status: int, headers: dict[str, str], body: bytes) -> None:
        kept = [
            {"name": k, "value": v} for k, v in headers.items() if k.lower() not in _DROP_RESPONSE
        ]
        await self.cdp.send(
            "Fetch.fulfillRequest",
            {
                "requestId": self.id,
                "responseCode": status,
                "responseHeaders": kept,
                "body": base64.b64encode(body).decode("ascii"),
            },
        )

    async def fail(self, reason: str) -> None:
        """``reason``: a DevTools ``Network.ErrorReason`` (BlockedByClient, Failed...)."""
        await self.cdp.send("Fetch.failRequest", {"requestId": self.id, "errorReason": reason})


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
        self.websockets = 0
        """WebSockets the page tried to open (all refused)."""
        self.last_websocket = 0.0
        """When it last tried (``time.monotonic()``)."""

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
    async def attach(self, page: Page, cdp: CDPSession) -> None:
        """Answer every request of ``page``'s tab from now on (``cdp``: its session)."""
        main_frame = (await cdp.send("Page.getFrameTree"))["frameTree"]["frame"]["id"]
        tasks: set[asyncio.Task[None]] = set()

        def paused(event: dict[str, Any]) -> None:
            task = asyncio.ensure_future(
                self.handle(page, Paused.from_event(cdp, event, main_frame))
            )
            tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(tasks.discard)

        cdp.on("Fetch.requestPaused", paused)
        await cdp.send(
            "Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}
        )

    async def handle(self, page: Page, request: Paused) -> None:
        activity = self.activity.get(page)
        token = activity.begin() if activity is not None else 0
        try:
            await self._answer(request, page, activity is not None)
        except PlaywrightError:
            pass  # the tab closed while its request was being answered
        except Exception:
            # Whatever went wrong, the browser must not wait for this request forever.
            log.exception("render_request_failed", url=request.url)
            with contextlib.suppress(PlaywrightError):
                await request.fail("Failed")
        finally:
            if activity is not None:
                activity.end(token)

    async def refuse_websocket(self, ws: WebSocketRoute, pages: Sequence[Page] = ()) -> None:
        """WebSockets cannot go through the fetcher, and docs never need one: refused
        (those from workers, which this does not see, die at the closed proxy). Noted on
        the activity of ``pages`` (the tab's context's) for the wait."""
        self.stats.websockets_refused += 1
        for page in pages:
            activity = self.activity.get(page)
            if activity is not None:
                activity.websockets += 1
                activity.last_websocket = time.monotonic()
        await ws.close(code=1008, reason="WebSockets are not available while crawling")

    async def _answer(self, request: Paused, page: Page, rendering: bool) -> None:
        url = request.url
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            await self._preflight(request)
            return
        if (
            request.resource_type in self.blocked_types
            or request.method not in ("GET", "HEAD")
            or not url.startswith(("http://", "https://"))
            or not rendering  # a tab waiting between pages: its old document asks no more
        ):
            self.stats.blocked += 1
            await request.fail("BlockedByClient")
            return
        if request.main_frame:
            document = self.documents.pop(page, None)
            if document is not None and strip_fragment(document.url) == strip_fragment(url):
                await request.fulfill(document.status, document.headers, document.body)
                return
            if self.allow_navigation is not None and not self.allow_navigation(url):
                self.stats.refused += 1
                await request.fail("BlockedByClient")
                return
        known = self._redirected.pop(url, None) or self._recall(url)
        if known is not None:
            self.stats.from_memory += 1
            await request.fulfill(known.status, self._headers(request, known), known.body or b"")
            return
        headers = {k: v for k, v in request.headers.items() if k not in _DROP_REQUEST}
        remember = request.resource_type in MEMORY_TYPES and "authorization" not in headers
        try:
            response = await self._fetch(url, headers, remember)
        except InvalidURLError:
            self.stats.refused += 1
            await request.fail("BlockedByClient")
            return
        except FetchError as exc:
            refused = "network policy" in exc.reason
            self.stats.refused += refused
            self.stats.failed += not refused
            await request.fail("BlockedByClient" if refused else _failure_reason(exc.reason))
            return
        redirected = strip_fragment(response.final_url) != strip_fragment(url)
        if redirected and request.navigation:
            # Redirected (each hop already checked). A document must end up at its final
            # URL (its relative links resolve against it), and the hops are already
            # fetched: the browser gets a page that moves it on, and the body waits.
            self._redirected[response.final_url] = response
            while len(self._redirected) > MAX_REDIRECTS_WAITING:  # never followed: forget
                del self._redirected[next(iter(self._redirected))]
            stub = _MOVE_ON.format(json.dumps(response.final_url).replace("<", "\\u003c"))
            await request.fulfill(200, {"content-type": "text/html"}, stub.encode())
            return
        # A sub-resource gets the final body at the URL it asked for.
        await request.fulfill(
            response.status, self._headers(request, response), response.body or b""
        )

    def _headers(self, request: Paused, response: FetchResponse) -> dict[str, str]:
        """The response's headers; for a script or stylesheet the crawl keeps, with a
        lifetime that lets the tab's browser keep it too."""
        if request.resource_type in BROWSER_KEEPS and self._memory.get(request.url) is response:
            kept = {k: v for k, v in response.headers.items() if k not in _STALE_HEADERS}
            kept["cache-control"] = KEPT_FRESH
            return kept
        return response.headers

    async def _preflight(self, request: Paused) -> None:
        """A CORS preflight, answered here (nothing but GET and HEAD ever leaves, and the
        fetcher does not send OPTIONS): yes for GET and HEAD with whatever headers the
        page asks for. The real request then goes through the fetcher like any other, and
        the CORS headers of its real response decide what the page may read, as the
        server meant (as with Playwright's routing, which answered preflights alike)."""
        asked = request.headers
        if asked.get("access-control-request-method", "").upper() not in ("GET", "HEAD"):
            self.stats.blocked += 1
            await request.fail("BlockedByClient")
            return
        headers = {
            "access-control-allow-origin": asked.get("origin", "*"),
            "access-control-allow-credentials": "true",
            "access-control-allow-methods": "GET, HEAD",
            "access-control-allow-headers": asked.get("access-control-request-headers", ""),
            "access-control-max-age": "600",
            "vary": "Origin",
        }
        if asked.get("access-control-request-private-network") == "true":
            headers["access-control-allow-private-network"] = "true"  # the policy decides
        await request.fulfill(204, headers, b"")

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


def _failure_reason(reason: str) -> str:
    """A FetchError's reason as the DevTools ``Network.ErrorReason`` the page sees."""
    reasons = {
        "timeout": "TimedOut",
        "connection error": "ConnectionFailed",
        "unknown host": "NameNotResolved",
    }
    return reasons.get(reason, "Failed")

"""When is a rendered page done? Loaded, its network quiet, its content in and its DOM
still, lazy content scrolled in.

"Network quiet" is judged from both ends: our request interception sees every request
the browser makes (``PageActivity``), and a small script in each page counts the
fetch/XHR calls its code has made and not yet seen answered. The second closes the gap
between a script asking and the request reaching us, which under load can be longer
than the quiet period itself.

Scrolling is only done for a page that can react to it: one that observes intersections
(lazy sections, infinite lists), listens for scroll or wheel events, or has
``loading="lazy"`` elements; the same script notes the first two as the page's code sets
them up. Scrolling a long static page to its bottom costs Chromium a paint of the new
viewport (about 100 ms of CPU on a large Sphinx page) for nothing.

A quiet network is not enough: an app may fill its root from a timer after load, draw
its content over several animation frames, or wait for a WebSocket (refused here) and
fall back to something else, all with no request in between. So the same script also
watches the DOM (a ``MutationObserver``: nodes added or removed, text changed; attribute
changes are styling and do not count) and tells whether the page has content yet: text
in its main region (``<main>``, else ``<body>``) and no application root (jsdetect's
``APP_ROOTS``, unless jsdetect's "real content elsewhere" holds) that is still a mount
point: one is filled once it holds ``EMPTY_ROOT`` characters, or any text other than the
placeholder its HTML had ("Loading..."). The page is read once its network is quiet, it
has content, and its DOM has not changed for ``DOM_QUIET``; or at ``IDLE_CAP``. A page
with content whose DOM never stops changing (a clock, a ticker) is read ``DOM_CAP`` after
its network went quiet. A page still without content at the end is the caller's to
report (``Readiness``); one that tried a WebSocket is given up on sooner
(``SOCKET_GRACE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, NamedTuple

from playwright.async_api import TimeoutError as PlaywrightTimeout

from scrape_api_docs.crawler.render_net import LONG_POLL
from scrape_api_docs.extract.jsdetect import APP_ROOTS, EMPTY_ROOT, MIN_TEXT

if TYPE_CHECKING:
    from playwright.async_api import Page

    from scrape_api_docs.crawler.render_net import PageActivity

QUIET = 0.1
"""Seconds with nothing in flight after which a page's network counts as idle."""
IDLE_CAP = 8.0
"""At most this long waiting for quiet (a page that polls forever is read anyway)."""
MAX_SCROLLS = 5
"""At most this many scrolls to the bottom (an endless feed is read after them)."""
DOM_QUIET = QUIET
"""Seconds without a DOM change after which a page with content counts as drawn. As long
as the network's: a static page's DOM last changes about when it loads (parsing, its
load handlers), so by the time its network has been quiet ``QUIET`` its DOM has been
still as long, and the wait costs it nothing (at 150 ms, a large Sphinx page waited
25-35 ms more); an app drawing frame by frame changes its DOM every 16 ms."""
DOM_CAP = 3.0
"""A page with content and a quiet network is read this long after its network went quiet
even if its DOM is still changing (within ``IDLE_CAP`` as a whole)."""
_POLL = 0.05
"""How often the page is asked again while its content is missing."""
SOCKET_GRACE = 2.0
"""A page with no content that opened a WebSocket (refused) is given up on once its
network, its DOM and its WebSockets have been still this long: its content was to come over
the socket, and no fallback drew anything."""

# Runs in every frame before the page's own scripts: counts fetch() calls, reads of their
# bodies (json(), text()...) and XHR calls not yet answered (a call open longer than
# LONG_POLL no longer counts, as on our side). A call stops counting one task after it
# settles, so the next request of a chain (fetch, then json(), then fetch again) has
# started by then: the page is never seen idle between two links of a chain.
#
# It also keeps the time of the last DOM change (``stillFor``: milliseconds since) and
# tells whether the page has content (``ready``, see the module docstring; its thresholds
# are jsdetect's). (WebSockets are counted by the router that refuses them: Playwright
# replaces ``window.WebSocket`` after this script has run.)
PAGE_SCRIPT = (
    """(() => {
  if (window.__scrapeApiDocs) return;
  const open = new Map();
  let next = 0;
  let changed = performance.now();
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"]);
  // The visible text of ``node`` (scripts, styles, <noscript> left out), whitespace
  // squeezed, up to about ``limit`` characters.
  const visible = (node, limit) => {
    const walk = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    let found = "";
    for (let text = walk.nextNode(); text; text = walk.nextNode()) {
      if (text.parentNode && SKIP.has(text.parentNode.nodeName)) continue;
      const words = text.data.trim();
      if (words) found += (found ? " " : "") + words.replace(/\\s+/g, " ");
      if (found.length >= limit) break;
    }
    return found;
  };
  const length = (node) => (node.textContent || "").trim().length;
  // An application root is filled once it has EMPTY_ROOT characters, or any text other
  // than what the HTML put there ("Loading...", as read at DOMContentLoaded).
  const placeholders = new WeakMap();
  document.addEventListener("DOMContentLoaded", () => {
    for (const root of document.querySelectorAll(APP_ROOTS)) {
      placeholders.set(root, visible(root, EMPTY_ROOT));
    }
  });
  const filled = (root) => {
    const text = visible(root, EMPTY_ROOT);
    return text.length >= EMPTY_ROOT || (text !== "" && text !== placeholders.get(root));
  };
  Object.defineProperty(window, "__scrapeApiDocs", { value: {
    pending: (limit) => {
      const now = performance.now();
      let count = 0;
      for (const started of open.values()) if (now - started < limit) count += 1;
      return count;
    },
    stillFor: () => performance.now() - changed,
    ready: () => {
      if (!document.body) return false;
      const elsewhere = () => Array.from(document.querySelectorAll(
        "main, article, [role=main]")).some((node) => length(node) >= MIN_TEXT);
      for (const root of document.querySelectorAll(APP_ROOTS)) {
        if (!filled(root) && !elsewhere()) return false;
      }
      const main = document.querySelector("main, [role=main]");
      return visible(main || document.body, 1) !== "";
    },
  } });
  // Watched from DOMContentLoaded on (the parser's own insertions, thousands on a large
  // page, would cost the observer's callbacks for nothing), in the top frame only: the
  // only document the wait asks and the crawl reads.
  if (window === window.top) {
    document.addEventListener("DOMContentLoaded", () => {
      changed = performance.now();
      new MutationObserver(() => { changed = performance.now(); }).observe(document, {
        childList: true, subtree: true, characterData: true,
      });
    });
  }
  let watches = false;
  Object.defineProperty(window, "__scrapeApiDocsWatches", {
    value: () => watches || Boolean(window.onscroll || document.onscroll ||
      document.querySelector("[loading=lazy]")),
  });
  const Observer = window.IntersectionObserver;
  if (Observer) {
    const observe = Observer.prototype.observe;
    Observer.prototype.observe = function (...args) {
      watches = true;
      return observe.apply(this, args);
    };
  }
  const listen = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, ...rest) {
    if (type === "scroll" || type === "wheel" || type === "scrollend") watches = true;
    return listen.call(this, type, ...rest);
  };
  const begin = () => {
    next += 1;
    const id = next;
    open.set(id, performance.now());
    return () => { setTimeout(() => { open.delete(id); }, 0); };
  };
  const counted = (call) => function (...args) {
    const settled = begin();
    let answer;
    try { answer = call.apply(this, args); } catch (error) { settled(); throw error; }
    Promise.resolve(answer).then(settled, settled);
    return answer;
  };
  if (window.fetch) window.fetch = counted(window.fetch);
  if (window.Response) {
    for (const name of ["json", "text", "arrayBuffer", "blob", "formData"]) {
      const read = Response.prototype[name];
      if (read) Response.prototype[name] = counted(read);
    }
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    const settled = begin();
    this.addEventListener("loadend", settled, { once: true });
    try { return send.apply(this, args); } catch (error) { settled(); throw error; }
  };
})();""".replace("APP_ROOTS", json.dumps(APP_ROOTS))
    .replace("MIN_TEXT", str(MIN_TEXT))
    .replace("EMPTY_ROOT", str(EMPTY_ROOT))
)

# Scroll to the bottom, then let two frames pass: intersection observers (lazy content)
# report in the frame after a scroll, and their callbacks run as tasks after it. Returns
# the height scrolled to: if the page is taller later, there is more to scroll to. With
# ``onlyIfWatched``, a page that does not react to scrolling is left alone (null).
_SCROLL = """(onlyIfWatched) => new Promise((done) => {
  const watches = window.__scrapeApiDocsWatches;
  if (onlyIfWatched && watches && !watches()) { done(null); return; }
  const e = document.scrollingElement || document.documentElement;
  const height = e.scrollHeight;
  window.scrollTo(0, height);
  const finish = () => done(height);
  const fallback = setTimeout(finish, 2000);
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => {
    clearTimeout(fallback);
    finish();
  }, 0)));
})"""
# [fetch/XHR calls pending (younger than LONG_POLL), the page's height now, whether the
# page reacts to scrolling, whether it has content, milliseconds since its DOM changed]
_STATE = f"""() => {{
  const s = window.__scrapeApiDocs;
  return [
    s ? s.pending({LONG_POLL * 1000:g}) : 0,
    (document.scrollingElement || document.documentElement).scrollHeight,
    window.__scrapeApiDocsWatches ? window.__scrapeApiDocsWatches() : true,
    s ? s.ready() : true,
    s ? s.stillFor() : 1e9,
  ];
}}"""


class Readiness(NamedTuple):
    """How a page was left: whether it had content, and how many WebSockets it opened
    (all refused)."""

    has_content: bool
    websockets: int


async def settle(page: Page, activity: PageActivity, selector: str | None) -> Readiness:
    """Wait for ``load``, then ``selector`` if given, then for quiet (network, content,
    DOM); while the page reacts to scrolling, scroll to the bottom and wait for quiet again
    until it stops growing. Each wait capped at ``IDLE_CAP``. With a selector, the page's
    author has said what "ready" means: the content rule is not applied."""
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_load_state("load", timeout=IDLE_CAP * 1000)
    if selector:
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_selector(
                "css=" + selector, state="attached", timeout=IDLE_CAP * 1000
            )
    until = time.monotonic() + IDLE_CAP
    # A page already watching at load is scrolled before the first wait (so a page that
    # is never quiet still gets its lazy content the whole cap long); one whose observers
    # come with its content (an SPA) once that content is in.
    scrolled_to: int | None = await page.evaluate(_SCROLL, True)
    scrolls = 0 if scrolled_to is None else 1
    while True:
        state = await network_idle(page, activity, until, content=not selector)
        if (
            state is None
            or not state.watches_scrolling
            or state.height == scrolled_to
            or scrolls >= MAX_SCROLLS
        ):
            break
        scrolled_to = await page.evaluate(_SCROLL, False)
        scrolls += 1
    if state is not None:
        return Readiness(True, activity.websockets)
    has_content = (await page.evaluate(_STATE))[3]
    return Readiness(bool(has_content) or bool(selector), activity.websockets)


class Settled(NamedTuple):
    height: int
    watches_scrolling: bool


async def network_idle(
    page: Page, activity: PageActivity, until: float, *, content: bool = True
) -> Settled | None:
    """Wait until quiet for ``QUIET`` seconds on our side with nothing pending on the
    page's side, and (``content``) until the page has content and its DOM has been still
    for ``DOM_QUIET`` (``DOM_CAP`` at most once the rest holds); the page's height then and
    whether it reacts to scrolling, or None at ``until`` (or sooner: ``SOCKET_GRACE``)."""
    since = time.monotonic()
    still_cap: float | None = None
    while True:
        if not await activity.quiet(QUIET, since=since, until=until):
            return None
        pending, height, watches, has_content, still_ms = await page.evaluate(_STATE)
        if pending:
            since = time.monotonic()
            continue
        settled = Settled(int(height), bool(watches))
        if not content:
            return settled
        now = time.monotonic()
        wait = DOM_QUIET - still_ms / 1000
        if has_content:
            if still_cap is None:
                still_cap = now + DOM_CAP
            if wait <= 0 or now >= still_cap:
                return settled
        elif (
            activity.websockets
            and now - activity.last_websocket >= SOCKET_GRACE
            and still_ms / 1000 >= SOCKET_GRACE
        ):
            return None
        else:
            wait = _POLL
        # Network quiet is still counted from ``since``: a request started meanwhile
        # makes the next round wait for quiet again.
        await asyncio.sleep(max(0.0, min(max(wait, 0.01), until - now)))

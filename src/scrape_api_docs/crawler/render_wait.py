"""When is a rendered page done? Loaded, its network quiet, lazy content scrolled in.

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
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, NamedTuple

from playwright.async_api import TimeoutError as PlaywrightTimeout

from scrape_api_docs.crawler.render_net import LONG_POLL

if TYPE_CHECKING:
    from playwright.async_api import Page

    from scrape_api_docs.crawler.render_net import PageActivity

QUIET = 0.1
"""Seconds with nothing in flight after which a page's network counts as idle."""
IDLE_CAP = 8.0
"""At most this long waiting for quiet (a page that polls forever is read anyway)."""
MAX_SCROLLS = 5
"""At most this many scrolls to the bottom (an endless feed is read after them)."""

# Runs in every frame before the page's own scripts: counts fetch() calls, reads of their
# bodies (json(), text()...) and XHR calls not yet answered (a call open longer than
# LONG_POLL no longer counts, as on our side). A call stops counting one task after it
# settles, so the next request of a chain (fetch, then json(), then fetch again) has
# started by then: the page is never seen idle between two links of a chain.
PAGE_SCRIPT = """(() => {
  if (window.__scrapeApiDocs) return;
  const open = new Map();
  let next = 0;
  Object.defineProperty(window, "__scrapeApiDocs", { value: {
    pending: (limit) => {
      const now = performance.now();
      let count = 0;
      for (const started of open.values()) if (now - started < limit) count += 1;
      return count;
    },
  } });
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
})();"""

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
# page reacts to scrolling]
_STATE = f"""() => [
  window.__scrapeApiDocs ? window.__scrapeApiDocs.pending({LONG_POLL * 1000:g}) : 0,
  (document.scrollingElement || document.documentElement).scrollHeight,
  window.__scrapeApiDocsWatches ? window.__scrapeApiDocsWatches() : true,
]"""


async def settle(page: Page, activity: PageActivity, selector: str | None) -> None:
    """Wait for ``load``, then ``selector`` if given, then for quiet; while the page
    reacts to scrolling, scroll to the bottom and wait for quiet again until it stops
    growing. Each wait capped at ``IDLE_CAP``."""
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
        state = await network_idle(page, activity, until)
        if (
            state is None
            or not state.watches_scrolling
            or state.height == scrolled_to
            or scrolls >= MAX_SCROLLS
        ):
            return
        scrolled_to = await page.evaluate(_SCROLL, False)
        scrolls += 1


class Settled(NamedTuple):
    height: int
    watches_scrolling: bool


async def network_idle(page: Page, activity: PageActivity, until: float) -> Settled | None:
    """Wait until quiet for ``QUIET`` seconds on our side with nothing pending on the
    page's side; the page's height then and whether it reacts to scrolling, or None at
    ``until``."""
    while True:
        if not await activity.quiet(QUIET, since=time.monotonic(), until=until):
            return None
        pending, height, watches = await page.evaluate(_STATE)
        if not pending:
            return Settled(int(height), bool(watches))

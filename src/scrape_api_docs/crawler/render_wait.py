"""When is a rendered page done? Loaded, its network quiet, lazy content scrolled in.

"Network quiet" is judged from both ends: our request interception sees every request
the browser makes (``PageActivity``), and a small script in each page counts the
fetch/XHR calls its code has made and not yet seen answered. The second closes the gap
between a script asking and the request reaching us, which under load can be longer
than the quiet period itself.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

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

# Runs in every frame before the page's own scripts: counts fetch() and XHR calls not yet
# answered (a call open longer than LONG_POLL no longer counts, as on our side).
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
  const begin = () => { next += 1; open.set(next, performance.now()); return next; };
  const fetch = window.fetch;
  if (fetch) {
    window.fetch = function (...args) {
      const id = begin();
      const settled = () => { open.delete(id); };
      let answer;
      try { answer = fetch.apply(this, args); } catch (error) { settled(); throw error; }
      answer.then(settled, settled);
      return answer;
    };
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    const id = begin();
    const settled = () => { open.delete(id); };
    this.addEventListener("loadend", settled, { once: true });
    try { return send.apply(this, args); } catch (error) { settled(); throw error; }
  };
})();"""

# Scroll to the bottom, then let two frames pass: intersection observers (lazy content)
# report in the frame after a scroll, and their callbacks run as tasks after it. Returns
# the height scrolled to: if the page is taller later, there is more to scroll to.
_SCROLL = """() => new Promise((done) => {
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
# [fetch/XHR calls pending (younger than LONG_POLL), the page's height now]
_STATE = f"""() => [
  window.__scrapeApiDocs ? window.__scrapeApiDocs.pending({LONG_POLL * 1000:g}) : 0,
  (document.scrollingElement || document.documentElement).scrollHeight,
]"""


async def settle(page: Page, activity: PageActivity, selector: str | None) -> None:
    """Wait for ``load``, then ``selector`` if given, then scroll to the bottom and wait
    for quiet until the page stops growing; each wait capped at ``IDLE_CAP``."""
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_load_state("load", timeout=IDLE_CAP * 1000)
    if selector:
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_selector(
                "css=" + selector, state="attached", timeout=IDLE_CAP * 1000
            )
    until = time.monotonic() + IDLE_CAP
    for _ in range(MAX_SCROLLS):
        scrolled_to = await page.evaluate(_SCROLL)
        height = await network_idle(page, activity, until)
        if height is None or height == scrolled_to:
            return


async def network_idle(page: Page, activity: PageActivity, until: float) -> int | None:
    """Wait until quiet for ``QUIET`` seconds on our side with nothing pending on the
    page's side; the page's height then, or None at ``until``."""
    while True:
        if not await activity.quiet(QUIET, since=time.monotonic(), until=until):
            return None
        pending, height = await page.evaluate(_STATE)
        if not pending:
            return int(height)

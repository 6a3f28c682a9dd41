"""Rendering benchmark: pages/s and the browser's memory, crawling with JavaScript on.

Two sites, each served from its own process by ``static_server.py``:

* ``spa``: a generated single-page docs app (``--pages``, default 500) built from the test
  fixture's app (``tests/fixtures/sites/spa_docs``): every page's content and the sidebar
  come from JSON over fetch(), history routing, a lazy section on every fourth page;
* ``static``: a local static docs site with rendering forced (default Debian's
  python3-doc, ``--static-pages`` pages of it).

Each crawl is the CLI's pipeline with ``render_javascript="always"``: rate limit and cache
off, the extraction process pool, one browser (``Renderer``). Prints figures, never
fails on time: the exit status is 0 unless the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from static_server import free_port  # bench/ is sys.path[0] when run as a script
from static_server import start as start_server

MB = 1024 * 1024
PSS_EVERY = 2.0
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sites" / "spa_docs"
PARAGRAPH = (
    "Workers take jobs off the queue in priority order and acknowledge each one when it is "
    "done; a job that is not acknowledged within its visibility timeout goes back on the "
    "queue for another worker. "
)


@dataclass
class Result:
    name: str
    pages: int = 0
    wall: float = 0.0
    errors: str = ""
    peak_rss: int = 0
    peak_pss: int = 0
    pss_points: list[int] = field(default_factory=list)
    restarts: str = ""
    browser_cpu: float = 0.0
    browser_kinds: dict[str, float] = field(default_factory=dict)
    """Chromium's CPU seconds by process type (browser, renderer, gpu-process, network...)."""
    """CPU seconds of Chromium's processes (all of them, relaunches included)."""
    driver_cpu: float = 0.0
    """CPU seconds of the Playwright driver (node)."""
    python_cpu: float = 0.0
    other_cpu: float = 0.0
    net: str = ""
    error_lines: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.pages / self.wall if self.wall else 0.0

    @property
    def cpu_per_page(self) -> float:
        """CPU seconds a page costs us, all processes together (not the static server)."""
        spent = self.browser_cpu + self.driver_cpu + self.python_cpu
        return spent / self.pages if self.pages else 0.0


class BrowserSampler(threading.Thread):
    """Every 0.25 s: RSS and PSS summed over the browser's process tree (it changes when
    the browser restarts), with the number of pages done at that moment."""

    def __init__(self, renderer: object) -> None:
        super().__init__(daemon=True)
        self.renderer = renderer
        self.progress = 0
        self.samples: list[tuple[int, int, int]] = []
        self.cpu: dict[int, float] = {}
        self.kinds: dict[int, str] = {}
        self._halt = threading.Event()
        self._next_pss = 0.0

    def tree(self) -> list[psutil.Process]:
        pid = getattr(self.renderer, "pid", None)
        if pid is None:
            return []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        return []

    def sample(self) -> None:
        """RSS and CPU of the tree. PSS makes the kernel walk every page table of
        Chromium's processes: read every 0.25 s it cost more CPU than the crawl's own
        Python, so it is read every PSS_EVERY seconds (the last reading is carried)."""
        rss = pss = 0
        full = time.monotonic() >= self._next_pss
        if full:
            self._next_pss = time.monotonic() + PSS_EVERY
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                if full:
                    info = proc.memory_full_info()
                    pss += info.pss
                else:
                    info = proc.memory_info()
                rss += info.rss
                self.cpu[proc.pid] = sum(proc.cpu_times()[:2])
                if proc.pid not in self.kinds:
                    self.kinds[proc.pid] = process_kind(proc)
        if not full and self.samples:
            pss = self.samples[-1][2]
        if rss:
            self.samples.append((self.progress, rss, pss))

    def run(self) -> None:
        self.thread_id = threading.get_native_id()
        while not self._halt.wait(0.25):
            self.sample()

    def own_cpu(self, me: psutil.Process) -> float:
        """CPU seconds this sampler thread has used (taken off Python's figure)."""
        for thread in me.threads():
            if thread.id == getattr(self, "thread_id", None):
                return float(thread.user_time + thread.system_time)
        return 0.0

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def pss_at(self, fraction: float, total: int) -> int:
        target = max(1, int(fraction * total))
        return next((pss for done, _, pss in self.samples if done >= target), 0)


def build_spa(root: Path, pages: int) -> str:
    """The fixture app with ``pages`` generated pages; every route is a folder holding the
    shell (as an SPA is deployed to a static host). The sidebar lists the first 60 topics
    (a docs sidebar's size); each page links on to two more, so the crawl finds them all.
    Returns the start path."""
    shutil.copytree(FIXTURE / "assets", root / "assets")
    shell = (FIXTURE / "index.html").read_text()
    slugs = ["intro"] + [f"p{n:03d}" for n in range(1, pages)]
    hrefs = ["/docs/"] + [f"/docs/{slug}/" for slug in slugs[1:]]
    titles = ["Introduction"] + [f"Topic {slug[1:]}" for slug in slugs[1:]]
    nav = [{"title": t, "href": h} for t, h in zip(titles[:60], hrefs[:60], strict=True)]
    (root / "data" / "pages").mkdir(parents=True)
    (root / "data" / "nav.json").write_text(json.dumps(nav))
    for n, slug in enumerate(slugs):
        onward = [k for k in (2 * n + 1, 2 * n + 2) if k < pages]
        see_also = ", ".join(f'<a href="{hrefs[k]}">{titles[k]}</a>' for k in onward)
        html = (
            f"<h1>{titles[n]}</h1><p>{PARAGRAPH * 4}</p><h2>Example</h2>"
            f'<pre><code class="language-python">queue.put("job-{n}", {{"n": {n}}})\n'
            f"worker.run(queue)</code></pre><p>{PARAGRAPH * 3}</p>"
            "<table><tr><th>Setting</th><th>Default</th></tr>"
            f"<tr><td>poll_interval</td><td>{n % 7}.0</td></tr></table>"
            f"<p>See also: {see_also or 'the introduction'}.</p>"
        )
        lazy = n % 4 == 3
        page = {"title": titles[n], "html": html, "lazy": lazy}
        (root / "data" / "pages" / f"{slug}.json").write_text(json.dumps(page))
        if lazy:
            more = {"html": f"<h2>More on topic {n}</h2><p>{PARAGRAPH * 2}</p>"}
            (root / "data" / "pages" / f"{slug}-more.json").write_text(json.dumps(more))
        folder = root / "docs" / ("" if n == 0 else slug)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(shell)
    return "/docs/"


def crawl(name: str, start_url: str, max_pages: int, pages_open: int, tmp: Path) -> Result:
    from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
    from scrape_api_docs.crawler.options import CrawlConfig
    from scrape_api_docs.crawler.render import Renderer
    from scrape_api_docs.jobs.pipeline import crawl_site, extraction_pool
    from scrape_api_docs.settings import Settings
    from scrape_api_docs.storage.pages import SqlitePageStore

    settings = Settings(allow_private_networks=True, data_dir=tmp)
    config = CrawlConfig(
        start_url=start_url,
        rate_limit=None,
        cache_enabled=False,
        max_pages=max_pages,
        render_javascript="always",
        user_agent=settings.user_agent,
    )
    renderer = Renderer(
        settings.browser_path,
        pages_open=pages_open,
        memory_limit_mb=settings.browser_memory_limit_mb,
    )
    sampler = BrowserSampler(renderer)
    messages: list[str] = []

    error_lines: list[str] = []

    def listener(event: CrawlEvent, stats: CrawlStats) -> None:
        sampler.progress = stats.processed
        if event.kind == "error":
            error_lines.append(event.message)
        if event.kind == "info" and event.message.startswith("rendered "):
            messages.append(event.message)

    store = SqlitePageStore(tmp / f"{name}.sqlite")
    pool = extraction_pool(settings)
    me = psutil.Process()
    cpu: dict[str, float] = {}
    launch_cpu: dict[int, float] = {}

    async def run() -> tuple[object, float]:
        await renderer.start()  # the launch is not the crawl's time
        sampler.sample()
        launch_cpu.update(sampler.cpu)
        sampler.start()
        cpu["busy"], (cpu["python"], cpu["driver"]) = busy_cpu(), python_cpu(me)
        cpu["python"] -= sampler.own_cpu(me)
        began = time.perf_counter()
        try:
            result = await crawl_site(
                config,
                settings=settings,
                store=store,
                listener=listener,
                executor=pool,
                renderer=renderer,
            )
            wall = time.perf_counter() - began
            # Read before the browser and its driver exit.
            python, driver = python_cpu(me)
            python -= sampler.own_cpu(me)
            cpu["python"], cpu["driver"] = python - cpu["python"], driver - cpu["driver"]
            cpu["busy"] = busy_cpu() - cpu["busy"]
            return result, wall
        finally:
            sampler.stop()
            await renderer.close()

    try:
        result, wall = asyncio.run(run())
    finally:
        pool.shutdown(cancel_futures=True)
        store.close()
    stats = result.stats  # type: ignore[attr-defined]
    out = Result(name, stats.processed, wall)
    reasons = ", ".join(f"{n} {why}" for why, n in stats.error_reasons.most_common())
    out.errors = f"{stats.errors} errors ({reasons or 'none'}), {stats.skipped_total} skipped"
    out.error_lines = error_lines[:3]
    out.peak_rss = max((rss for _, rss, _ in sampler.samples), default=0)
    out.peak_pss = max((pss for _, _, pss in sampler.samples), default=0)
    # (the last point is taken while pages are still open: closing them frees memory)
    out.pss_points = [sampler.pss_at(f, stats.processed) for f in (0.1, 0.25, 0.5, 0.75, 0.95)]
    out.restarts = ", ".join(f"{n} {why}" for why, n in renderer.restarts.items()) or "none"
    out.browser_cpu = sum(sampler.cpu.values()) - sum(launch_cpu.values())
    for pid, spent in sampler.cpu.items():
        kind = sampler.kinds.get(pid, "?")
        out.browser_kinds[kind] = (
            out.browser_kinds.get(kind, 0.0) + spent - launch_cpu.get(pid, 0.0)
        )
    out.driver_cpu = cpu["driver"]
    out.python_cpu = cpu["python"]
    out.other_cpu = cpu["busy"] - out.browser_cpu - out.driver_cpu - out.python_cpu
    out.net = messages[-1] if messages else ""
    return out


def process_kind(proc: psutil.Process) -> str:
    """Chromium's process type from its ``--type=`` switch ("browser" without one)."""
    with contextlib.suppress(psutil.Error):
        for arg in proc.cmdline():
            if arg.startswith("--type="):
                kind = arg.removeprefix("--type=")
                if kind == "utility":
                    sub = next(
                        (a for a in proc.cmdline() if a.startswith("--utility-sub-type=")), ""
                    )
                    return sub.rsplit(".", 1)[-1] or kind
                return kind
        return "browser"
    return "?"


def busy_cpu() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def python_cpu(me: psutil.Process) -> tuple[float, float]:
    """(this process and its extraction workers, the Playwright driver): CPU seconds."""
    python = sum(me.cpu_times()[:2])
    driver = 0.0
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            name = child.name()
            if name.startswith("node"):
                driver += sum(child.cpu_times()[:2])
            elif "chrom" not in name:
                python += sum(child.cpu_times()[:2])
    return float(python), driver


def report(results: list[Result], pages_open: int) -> None:
    print(
        f"\n{'site':<8}{'pages':>7}{'wall s':>8}{'pages/s':>9}{'CPU ms/page':>13}"
        f"{'2-core ceiling':>16}{'browser PSS MB':>16}"
    )
    for r in results:
        ceiling = 2 / r.cpu_per_page if r.cpu_per_page else 0.0
        print(
            f"{r.name:<8}{r.pages:>7}{r.wall:>8.1f}{r.rate:>9.1f}{1000 * r.cpu_per_page:>13.0f}"
            f"{ceiling:>12.1f} p/s{r.peak_pss / MB:>16.0f}"
        )
    for r in results:
        points = " / ".join(f"{p / MB:.0f}" for p in r.pss_points)
        print(f"\n{r.name}: {r.errors}; browser restarts: {r.restarts}")
        for line in r.error_lines:
            print(f"  error: {line[:160]}")
        print(f"  browser PSS at 10/25/50/75/95% of pages: {points} MB")
        print(f"  browser peak: PSS {r.peak_pss / MB:.0f} MB, RSS {r.peak_rss / MB:.0f} MB")
        print(
            f"  CPU s: Chromium {r.browser_cpu:.1f}, Playwright driver {r.driver_cpu:.1f}, "
            f"Python (crawler, fetcher, extraction) {r.python_cpu:.1f}; rest of the machine "
            f"{r.other_cpu:.1f} ({100 * r.other_cpu / r.wall:.0f}% of a core: the static "
            "server and other jobs)"
        )
        kinds = sorted(r.browser_kinds.items(), key=lambda item: -item[1])
        print("  Chromium CPU s by process: " + ", ".join(f"{k} {v:.1f}" for k, v in kinds))
        if r.net:
            print(f"  {r.net}")
    print(
        f"\n{pages_open} pages open at once. The 2-core ceiling is 2 CPU-seconds / CPU per "
        "page: the rate with two otherwise idle cores. Figures on a shared machine are noisy."
    )
    print("targets:")
    for r in results:
        rate = "met" if r.rate >= 8 else "not met"
        print(f"  {r.name + ': ≥ 8 rendered pages/s':<34}{rate:<9}({r.rate:.1f} pages/s)")
        early, late = r.pss_points[1], r.pss_points[-1]
        flat = "met" if early and late <= 1.3 * early else "not met"
        print(
            f"  {r.name + ': browser memory flat':<34}{flat:<9}"
            f"(PSS at 25% {early / MB:.0f} MB, at 95% {late / MB:.0f} MB)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500, help="pages of the generated SPA")
    parser.add_argument("--static-root", type=Path, default=Path("/usr/share/doc/python3/html"))
    parser.add_argument("--static-start", default="index.html")
    parser.add_argument("--static-pages", type=int, default=500)
    parser.add_argument("--pages-open", type=int, default=None, help="default: the setting")
    parser.add_argument("--skip-static", action="store_true")
    parser.add_argument("--skip-spa", action="store_true")
    args = parser.parse_args()

    from scrape_api_docs.crawler.browser import find_browser
    from scrape_api_docs.settings import Settings

    if find_browser(Settings().browser_path) is None:
        print("no Chromium: apt-get install chromium (or set SCRAPER_BROWSER_PATH)")
        return 1
    pages_open = args.pages_open or Settings().render_pages_open
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_spa:
            site = tmp / "spa"
            start = build_spa(site, args.pages)
            port = free_port()
            server = start_server(site, port)
            try:
                print(f"spa: {args.pages} pages on http://127.0.0.1:{port}{start}", flush=True)
                results.append(
                    crawl("spa", f"http://127.0.0.1:{port}{start}", args.pages, pages_open, tmp)
                )
            finally:
                server.terminate()
        if not args.skip_static:
            if not (args.static_root / args.static_start).exists():
                print(f"static: {args.static_root} missing (Debian: apt-get install python3-doc)")
            else:
                port = free_port()
                server = start_server(args.static_root, port)
                url = f"http://127.0.0.1:{port}/{args.static_start}"
                try:
                    print(f"static: {args.static_pages} pages from {url}", flush=True)
                    results.append(crawl("static", url, args.static_pages, pages_open, tmp))
                finally:
                    server.terminate()
    report(results, pages_open)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

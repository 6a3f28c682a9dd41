"""Crawl benchmark: our pipeline against a classic sequential crawler, on a local docs copy.

Serves the docs folder (default: Debian's python3-doc, ~530 pages) from its own process,
crawls it with the CLI's pipeline (rate limit and cache off), then with httpx + BeautifulSoup
+ markdownify one page at a time, and prints speed, CPU and memory. It prints figures only:
the exit status is 0 unless the benchmark itself cannot run. Run it with ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import psutil

from static_server import free_port  # bench/ is sys.path[0] when run as a script
from static_server import start as start_server

MB = 1024 * 1024


@dataclass
class Result:
    name: str
    pages: int
    wall: float
    cpu: float
    """CPU seconds of the crawler's processes (never the static server's)."""
    peak_rss: int
    markdown_bytes: int
    server_cpu: float
    other_cpu: float
    """CPU seconds used by the rest of the machine meanwhile (other jobs slow us down)."""
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.pages / self.wall if self.wall > 0 else 0.0


class RssSampler(threading.Thread):
    """Every 50 ms: summed RSS of this process and its descendants, minus excluded pids."""

    def __init__(self, exclude: set[int]) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.exclude = exclude
        self.progress = 0
        """Pages processed so far; the crawl listener keeps it current."""
        self.samples: list[tuple[int, int]] = []
        self.peak = 0
        self.own_cpu = 0.0
        """CPU seconds this thread used; taken off the main process's CPU."""
        self._halt = threading.Event()
        self._procs: list[psutil.Process] = []
        self._ticks = 0

    def processes(self) -> list[psutil.Process]:
        children = self.me.children(recursive=True)
        return [self.me, *(p for p in children if p.pid not in self.exclude)]

    def sample(self) -> int:
        if self._ticks % 10 == 0:  # listing descendants scans /proc: twice a second is enough
            self._procs = self.processes()
        self._ticks += 1
        total = int(sum(measure(self._procs, lambda p: p.memory_info().rss).values()))
        self.peak = max(self.peak, total)
        self.samples.append((self.progress, total))
        return total

    def run(self) -> None:
        while not self._halt.wait(0.05):
            self.sample()
        self.own_cpu = time.thread_time()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def at_fraction(self, fraction: float, total: int) -> int:
        target = math.ceil(fraction * total)
        return next((rss for done, rss in self.samples if done >= target), 0)


def busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def measure(
    procs: list[psutil.Process], what: Callable[[psutil.Process], float]
) -> dict[int, float]:
    """``what`` of each process still alive, by pid."""
    out: dict[int, float] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            out[proc.pid] = what(proc)
    return out


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    return measure(procs, lambda p: sum(p.cpu_times()[:2]))


def run_ours(
    start_url: str, max_pages: int, tmp: Path, server: psutil.Process, cache: bool = False
) -> Result:
    """The CLI's ``scrape`` pipeline; timed from pool start to the exported book. With
    ``cache``, the page cache is on (empty at the start, in ``tmp``): every page is stored."""
    # Imported here so the baseline's fresh process does not carry them.
    from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
    from scrape_api_docs.crawler.options import CrawlConfig
    from scrape_api_docs.jobs.pipeline import crawl_site, export_all, extraction_pool
    from scrape_api_docs.settings import Settings
    from scrape_api_docs.storage.pages import SqlitePageStore

    settings = Settings(allow_private_networks=True, page_cache_dir=tmp / "cache")
    config = CrawlConfig(
        start_url=start_url,
        rate_limit=None,
        cache_enabled=cache,
        max_pages=max_pages,
        respect_robots=True,
        user_agent=settings.user_agent,
        max_body_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
    )
    sampler = RssSampler(exclude={server.pid})

    def listener(event: CrawlEvent, stats: CrawlStats) -> None:
        sampler.progress = stats.processed

    store = SqlitePageStore(tmp / "pages.sqlite")
    me = psutil.Process()
    children_before = cpu_seconds(sampler.processes()[1:])
    main_before, server_before = cpu_seconds([me])[me.pid], cpu_seconds([server])[server.pid]
    sampler.start()
    busy_before = busy_cpu()
    started = time.perf_counter()
    pool = extraction_pool(settings)
    try:
        result = asyncio.run(
            crawl_site(config, settings=settings, store=store, listener=listener, executor=pool)
        )
        sampler.sample()  # the 100% point, even if the last page came < 50 ms ago
        artifacts = export_all(store, start_url, ["markdown"], tmp / "book.md")
        wall = time.perf_counter() - started
        busy = busy_cpu() - busy_before
        children_after = cpu_seconds(sampler.processes()[1:])  # before the workers exit
        main_after, server_after = cpu_seconds([me])[me.pid], cpu_seconds([server])[server.pid]
        after_export = sampler.sample()
        # PSS splits shared pages (libraries the forked workers share) between processes.
        pss = sum(measure(sampler.processes(), lambda p: p.memory_full_info().pss).values())
    finally:
        sampler.stop()
        pool.shutdown(cancel_futures=True)
        store.close()
    children = sum(cpu - children_before.get(pid, 0.0) for pid, cpu in children_after.items())
    stats = result.stats
    rss_points = " / ".join(
        f"{sampler.at_fraction(f, stats.processed) / MB:.0f}" for f in (0.25, 0.5, 0.75, 1.0)
    )
    main_cpu = main_after - main_before
    server_cpu = server_after - server_before
    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return Result(
        name="scrape-api-docs",
        pages=stats.processed,
        wall=wall,
        cpu=main_cpu - sampler.own_cpu + children,
        peak_rss=sampler.peak,
        markdown_bytes=artifacts[0].size_bytes,
        server_cpu=server_cpu,
        other_cpu=busy - main_cpu - children - server_cpu,
        notes=[
            f"{stats.errors} errors ({_counts(stats.error_reasons)}), "
            f"{stats.skipped_total} skipped ({_counts(stats.skipped)})",
            f"CPU: main {main_cpu - sampler.own_cpu:.2f} s + workers/forkserver {children:.2f} s",
            f"peak RSS: main process {main_peak / MB:.0f} MB (ru_maxrss), "
            f"main + workers {sampler.peak / MB:.0f} MB (sampled every 50 ms)",
            f"RSS main + workers at 25/50/75/100% of pages: {rss_points} MB; "
            f"after export {after_export / MB:.0f} MB",
            f"PSS main + workers after export: {pss / MB:.0f} MB (shared pages counted once)",
        ],
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {why}" for why, n in counter.most_common()) or "none"


def baseline_crawl(
    start_url: str, max_pages: int, out_path: Path
) -> tuple[int, float, float, float]:
    """The classic way: one httpx connection, BeautifulSoup, markdownify, one page at a time.

    Runs in a fresh process; returns (pages, wall s, its CPU s, whole machine's busy CPU s).
    """
    import httpx
    import markdownify
    from bs4 import BeautifulSoup

    before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before = busy_cpu()
    started = time.perf_counter()
    start = start_url.split("#", 1)[0]
    host = urlsplit(start).netloc
    path = urlsplit(start).path or "/"
    folder = path[: path.rfind("/") + 1]
    seen = {start}
    queue = deque([start])
    pages = 0
    with httpx.Client(timeout=30) as client, out_path.open("w", encoding="utf-8") as out:
        while queue and pages < max_pages:
            url = queue.popleft()
            try:
                response = client.get(url, follow_redirects=True)
            except httpx.HTTPError:
                continue
            if response.status_code != 200 or "html" not in response.headers.get(
                "content-type", ""
            ):
                continue
            soup = BeautifulSoup(response.text, "html.parser")
            main: Any = soup.find("div", role="main") or soup.body
            if main is not None:
                out.write(markdownify.markdownify(str(main)) + "\n\n")
            pages += 1
            for anchor in soup.find_all("a", href=True):
                link = urljoin(str(response.url), str(anchor["href"])).split("#", 1)[0]
                parts = urlsplit(link)
                if parts.netloc == host and parts.path.startswith(folder) and link not in seen:
                    seen.add(link)
                    queue.append(link)
    wall = time.perf_counter() - started
    busy = busy_cpu() - busy_before
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return pages, wall, cpu, busy


def baseline_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_baseline(start_url: str, max_pages: int, tmp: Path, server: psutil.Process) -> Result:
    out_path = tmp / "baseline.md"
    server_before = cpu_seconds([server])[server.pid]
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter, like a script's
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        pages, wall, cpu, busy = pool.submit(
            baseline_crawl, start_url, max_pages, out_path
        ).result()
        peak = pool.submit(baseline_peak_rss).result()
    server_cpu = cpu_seconds([server])[server.pid] - server_before
    size = out_path.stat().st_size
    other = busy - cpu - server_cpu
    return Result("classic (bs4+markdownify)", pages, wall, cpu, peak, size, server_cpu, other)


def report(ours: Result, base: Result | None) -> None:
    print(
        f"\n{'pipeline':<27}{'pages':>6}{'wall s':>9}{'pages/s':>9}{'CPU ms/page':>13}"
        f"{'peak RSS MB':>13}"
    )
    for r in (ours, base):
        if r is not None:
            cpu_ms = 1000 * r.cpu / r.pages if r.pages else 0.0
            print(
                f"{r.name:<27}{r.pages:>6}{r.wall:>9.1f}{r.rate:>9.1f}{cpu_ms:>13.1f}"
                f"{r.peak_rss / MB:>13.0f}"
            )
    print()
    for note in ours.notes:
        print(f"  {note}")
    if base is not None:
        print("  classic: peak RSS is its process's ru_maxrss (one process, no workers)")
    print(
        f"  static server CPU (not counted above): {ours.server_cpu:.1f} s during ours"
        + (f", {base.server_cpu:.1f} s during classic" if base else "")
    )
    others = [
        f"{r.other_cpu:.1f} CPU-s during {tag} ({100 * r.other_cpu / r.wall:.0f}% of a core)"
        for r, tag in ((ours, "ours"), (base, "classic"))
        if r is not None
    ]
    print(f"  other processes on this machine (they slow us down): {'; '.join(others)}")
    print(
        f"  Markdown: ours {ours.markdown_bytes / MB:.2f} MB"
        + (f", classic {base.markdown_bytes / MB:.2f} MB" if base else "")
    )
    ratio = ours.rate / base.rate if base and base.rate else None
    if ratio is not None:
        print(f"\nours / classic pages/s: {ratio:.1f}×")
    print("\ntargets:")
    checks = [
        ("≥ 60 pages/s end to end", ours.rate >= 60, f"{ours.rate:.1f} pages/s"),
        (
            "≥ 10× classic",
            None if ratio is None else ratio >= 10,
            "classic skipped" if ratio is None else f"{ratio:.1f}×",
        ),
        ("peak RSS < 300 MB", ours.peak_rss < 300 * MB, f"{ours.peak_rss / MB:.0f} MB"),
    ]
    for label, ok, value in checks:
        verdict = "not measured" if ok is None else "met" if ok else "not met"
        print(f"  {label:<26}{verdict:<14}({value})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/usr/share/doc/python3/html"))
    parser.add_argument("--start", default="index.html", help="start page, relative to --root")
    parser.add_argument("--max-pages", type=int, default=2000)
    parser.add_argument("--skip-baseline", action="store_true", help="only crawl with ours")
    parser.add_argument("--cache", action="store_true", help="with the page cache on (empty)")
    args = parser.parse_args()
    if not (args.root / args.start).is_file():
        parser.error(f"{args.root / args.start} not found (make bench installs python3-doc)")
    port = free_port()
    server_process = start_server(args.root.resolve(), port)
    server = psutil.Process(server_process.pid)
    start_url = f"http://127.0.0.1:{port}/{args.start.lstrip('/')}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"crawling {start_url} ({args.root}); {os.cpu_count()} CPUs, load average {load}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
            ours = run_ours(start_url, args.max_pages, Path(tmp), server, args.cache)
            base = None
            if not args.skip_baseline:
                base = run_baseline(start_url, args.max_pages, Path(tmp), server)
    finally:
        server_process.terminate()
        server_process.join(10)
    report(ours, base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

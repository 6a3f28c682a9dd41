"""PDF memory benchmark: one huge page printed to PDF, the way the service runs an export.

Serves a folder holding one big page (``--root``, its ``index.html``; ``--make`` writes a
~9.3 MB reference page there first), crawls it into a page store, then builds the PDF
and samples, every 100 ms (PSS every 500 ms), the memory of the export process and,
separately, of what it started (Playwright's driver and Chromium). ``--pool`` runs the
export as the service did before: in a long-lived process-pool worker, whose memory is
read again once the export is done (what it keeps while idle). Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

from export import crawl  # bench/ is sys.path[0] when run as a script
from static_server import free_port
from static_server import start as start_server

MB = 1024 * 1024


class Sampler(threading.Thread):
    """Peak RSS and PSS of one process, and summed over its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak: dict[str, int] = {"own_rss": 0, "own_pss": 0, "tree_rss": 0, "tree_pss": 0}
        self._halt = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self._halt.wait(0.1):
            full = tick % 5 == 0
            with contextlib.suppress(psutil.Error):
                children = self.root.children(recursive=True)
                own = self._read(self.root, full)
                tree = [0, 0]
                for proc in children:
                    with contextlib.suppress(psutil.Error):
                        rss, pss = self._read(proc, full)
                        tree[0] += rss
                        tree[1] += pss
                self._keep("own_rss", own[0])
                self._keep("tree_rss", tree[0])
                if full:
                    self._keep("own_pss", own[1])
                    self._keep("tree_pss", tree[1])
            tick += 1

    @staticmethod
    def _read(proc: psutil.Process, full: bool) -> tuple[int, int]:
        if full:
            info = proc.memory_full_info()
            return info.rss, info.pss
        return proc.memory_info().rss, 0

    def _keep(self, key: str, value: int) -> None:
        self.peak[key] = max(self.peak[key], value)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()


def make_page(folder: Path, size: int = 9_300_000) -> None:
    """A reference page of ``size`` bytes: headings, prose, code blocks and tables."""
    rng = random.Random(1)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "returns",
        "a",
        "value",
        "object",
        "method",
        "class",
        "module",
        "raises",
    ]

    def prose(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    parts = ["<!doctype html><html><head><title>Huge reference</title></head><body><main>"]
    parts.append("<h1>Huge reference</h1>")
    written, i = 0, 0
    while written < size:
        i += 1
        chunk = [f'<h2 id="s{i}">Section {i}</h2>']
        for j in range(4):
            chunk.append(f'<h3 id="s{i}-{j}">function_{i}_{j}(a, b)</h3><p>{prose(60)}</p>')
            code = "\n".join(f"def f{i}_{j}_{k}(x):\n    return x * {k}" for k in range(6))
            chunk.append(f'<pre><code class="language-python">{code}</code></pre>')
        rows = "".join(
            f"<tr><td>arg{k}</td><td>int</td><td>{prose(12)}</td></tr>" for k in range(5)
        )
        chunk.append(f"<table><tr><th>Name</th><th>Type</th><th>About</th></tr>{rows}</table>")
        text = "".join(chunk)
        parts.append(text)
        written += len(text)
    parts.append("</main></body></html>")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text("".join(parts))


BENCH_JOB = "job_bench"
"""The job id the crawled store is kept under (``<out>/jobs/<id>/pages.sqlite``)."""


def run_service_way(store: Path, start_url: str, out: Path) -> dict[str, float]:
    """As a job does: ``run_in_child`` (a process per export), sampled from outside."""
    from scrape_api_docs.jobs import export_process
    from scrape_api_docs.jobs.pipeline import build_export_in_worker
    from scrape_api_docs.settings import Settings

    settings = Settings(allow_private_networks=True, data_dir=out)
    started: list[Sampler] = []
    real_start = multiprocessing.process.BaseProcess.start

    def start_and_sample(process: multiprocessing.process.BaseProcess) -> None:
        real_start(process)
        if process.name == "export" and process.pid:
            sampler = Sampler(process.pid)
            sampler.start()
            started.append(sampler)

    multiprocessing.process.BaseProcess.start = start_and_sample  # type: ignore[method-assign]
    began = time.perf_counter()
    try:
        built = asyncio.run(
            export_process.run_in_child(
                build_export_in_worker,
                BENCH_JOB,
                start_url,
                "pdf",
                out / "output.pdf",
                {},
                settings,
            )
        )
    finally:
        multiprocessing.process.BaseProcess.start = real_start  # type: ignore[method-assign]
    seconds = time.perf_counter() - began
    for sampler in started:
        sampler.stop()
    peak = started[0].peak if started else {}
    return {"seconds": seconds, "bytes": built[0].size_bytes, "idle_rss": 0, **peak}


def run_pool_way(store: Path, start_url: str, out: Path) -> dict[str, float]:
    """As the service did before: a worker of a long-lived process pool."""
    from scrape_api_docs.jobs.pipeline import build_export_in_worker
    from scrape_api_docs.settings import Settings

    settings = Settings(allow_private_networks=True, data_dir=out)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        pid = pool.submit(_pid).result()
        sampler = Sampler(pid)
        sampler.start()
        began = time.perf_counter()
        built = pool.submit(
            build_export_in_worker, BENCH_JOB, start_url, "pdf", out / "output.pdf", {}, settings
        ).result()
        seconds = time.perf_counter() - began
        sampler.stop()
        time.sleep(2)
        idle = psutil.Process(pid).memory_full_info()
        return {
            "seconds": seconds,
            "bytes": built[0].size_bytes,
            "idle_rss": idle.rss,
            "idle_pss": idle.pss,
            **sampler.peak,
        }
    finally:
        pool.shutdown()


def _pid() -> int:
    import os

    return os.getpid()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/pdf-memory-page"))
    parser.add_argument("--make", action="store_true", help="write the big page into --root")
    parser.add_argument("--pool", action="store_true", help="the old way: a pool worker")
    args = parser.parse_args()
    if args.make or not (args.root / "index.html").exists():
        make_page(args.root)
    size = (args.root / "index.html").stat().st_size
    port = free_port()
    server = start_server(args.root.resolve(), port)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pdf-memory-") as tmp:
            out = Path(tmp) / "out"
            # Where a job's page store is (the export process opens it by job id).
            store = out / "jobs" / BENCH_JOB / "pages.sqlite"
            start_url = f"http://127.0.0.1:{port}/index.html"
            pages, crawl_seconds = crawl(start_url, store, 1)
            print(f"crawled {pages} page ({size / MB:.1f} MB of HTML) in {crawl_seconds:.1f} s")
            run = run_pool_way if args.pool else run_service_way
            f = run(store, start_url, out)
    finally:
        server.terminate()
        server.join(10)
    print(f"{'pool worker (before)' if args.pool else 'process per export (after)'}:")
    print(f"  PDF {f['bytes'] / MB:.1f} MB in {f['seconds']:.1f} s")
    own_rss, own_pss = f["own_rss"] / MB, f["own_pss"] / MB
    print(f"  export process: peak RSS {own_rss:.0f} MB, peak PSS {own_pss:.0f} MB")
    print(
        f"  Chromium + driver: peak RSS {f['tree_rss'] / MB:.0f} MB (summed), "
        f"peak PSS {f['tree_pss'] / MB:.0f} MB"
    )
    if args.pool:
        print(
            f"  pool worker idle after: RSS {f['idle_rss'] / MB:.0f} MB, "
            f"PSS {f['idle_pss'] / MB:.0f} MB"
        )
    else:
        print("  export process idle after: none (it exits with the export)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

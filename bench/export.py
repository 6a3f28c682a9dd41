"""Export benchmark: every registered format built from one crawl of a local docs copy.

Serves the docs folder (default: Debian's python3-doc, ~530 pages) from its own process,
crawls it once into a page store kept under ``bench/.cache/`` (later runs reuse it, served
again on the same port so image URLs still resolve), then builds each format in
``EXPORTERS`` in a fresh process and prints its time, output size and peak memory, child
processes (Chromium) included. It prints figures only: the exit status is 0 unless the
benchmark itself cannot run. Run it with ``make bench-export``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import psutil

from static_server import free_port  # bench/ is sys.path[0] when run as a script
from static_server import start as start_server

MB = 1024 * 1024
CACHE = Path(__file__).resolve().parent / ".cache" / "export"
METADATA = {"title": "Python documentation", "author": "Python Software Foundation"}
TARGETS = {"pdf": 180.0}
"""Seconds per format; every other format: DEFAULT_TARGET."""
DEFAULT_TARGET = 20.0
PDF_MEMORY_TARGET = 1536 * MB


@dataclass
class Figures:
    name: str
    seconds: float
    output_bytes: int
    peak_rss: int
    """Summed RSS of the export process and its children: counts shared pages per process."""
    peak_pss: int
    """Summed PSS: shared pages split between the processes sharing them."""
    processes: int
    """Most processes alive at once (export process, Chromium's, Playwright's driver)."""
    cpu: float
    other_cpu: float
    """CPU seconds the rest of the machine used meanwhile (other jobs slow us down)."""
    note: str = ""
    error: str = ""


class TreeSampler(threading.Thread):
    """Every 100 ms the summed RSS, every 500 ms the summed PSS, of a process and its
    descendants; CPU seconds of each process as last seen (children exit before the end)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_pss = 0
        self.processes = 0
        self.cpu: dict[int, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        tick = 0
        procs: list[psutil.Process] = []
        while not self._halt.wait(0.1):
            if tick % 5 == 0:
                with contextlib.suppress(psutil.Error):
                    procs = [self.root, *self.root.children(recursive=True)]
                self.processes = max(self.processes, len(procs))
            rss = pss = 0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    if tick % 5 == 0:
                        pss += proc.memory_full_info().pss
                        self.cpu[proc.pid] = sum(proc.cpu_times()[:2])
                    rss += proc.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            if tick % 5 == 0:
                self.peak_pss = max(self.peak_pss, pss)
            tick += 1

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()


def busy_cpu() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --- the page store, crawled once -------------------------------------------------------


def cached_store(root: Path, start: str, max_pages: int, recrawl: bool) -> tuple[Path, str, int]:
    """(store path, start URL, port): the cached crawl of ``root`` when there is one and
    its port is free (so the stored URLs, image URLs included, work again)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # the cache is the machine's, never the repository's
    store_path, meta_path = CACHE / "pages.sqlite", CACHE / "crawl.json"
    if not recrawl and store_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("root") == str(root)
            and meta.get("start") == start
            and meta.get("max_pages") == max_pages
            and port_is_free(int(meta["port"]))
        ):
            return store_path, str(meta["start_url"]), int(meta["port"])
    for path in CACHE.glob("pages.sqlite*"):
        path.unlink()
    port = free_port()
    start_url = f"http://127.0.0.1:{port}/{start.lstrip('/')}"
    server = start_server(root, port)
    try:
        print(f"crawling {start_url} into {store_path} (once; later runs reuse it)")
        pages, seconds = crawl(start_url, store_path, max_pages)
        print(f"  {pages} pages in {seconds:.1f} s")
    finally:
        server.terminate()
        server.join(10)
    meta_path.write_text(
        json.dumps(
            {
                "root": str(root),
                "start": start,
                "max_pages": max_pages,
                "port": port,
                "start_url": start_url,
            }
        )
    )
    return store_path, start_url, port


def crawl(start_url: str, store_path: Path, max_pages: int) -> tuple[int, float]:
    from scrape_api_docs.crawler.options import CrawlConfig
    from scrape_api_docs.jobs.pipeline import crawl_site, extraction_pool
    from scrape_api_docs.settings import Settings
    from scrape_api_docs.storage.pages import SqlitePageStore

    settings = Settings(allow_private_networks=True, data_dir=store_path.parent / "data")
    config = CrawlConfig(
        start_url=start_url,
        rate_limit=None,
        cache_enabled=False,
        max_pages=max_pages,
        user_agent=settings.user_agent,
    )
    store = SqlitePageStore(store_path)
    started = time.perf_counter()
    pool = extraction_pool(settings)
    try:
        result = asyncio.run(crawl_site(config, settings=settings, store=store, executor=pool))
    finally:
        pool.shutdown(cancel_futures=True)
        store.close()
    return result.stats.processed, time.perf_counter() - started


# --- one format, in its own process -----------------------------------------------------


def build_one(store_path: str, start_url: str, name: str, out_dir: str, conn: Connection) -> None:
    """Child process: build format ``name``; send (seconds, bytes written, error), then a
    note on the output (read after the figures are taken)."""
    from scrape_api_docs.exporters.registry import get_exporter
    from scrape_api_docs.jobs.pipeline import export_all, export_context
    from scrape_api_docs.settings import Settings
    from scrape_api_docs.storage.pages import SqlitePageStore

    out = Path(out_dir)
    settings = Settings(allow_private_networks=True, data_dir=out)
    store = SqlitePageStore(Path(store_path))
    context = export_context(settings, out / "images", {"metadata": METADATA})
    target = out / get_exporter(name).filename
    try:
        started = time.perf_counter()
        artifacts = export_all(store, start_url, [name], target, context)
        seconds = time.perf_counter() - started
    except Exception as exc:
        conn.send((0.0, 0, f"{type(exc).__name__}: {exc}"))
        return
    finally:
        store.close()
    conn.send((seconds, sum(a.size_bytes for a in artifacts), ""))
    conn.send(describe(name, target))


def describe(name: str, target: Path) -> str:
    if name != "pdf":
        return ""
    from pypdf import PdfReader

    reader = PdfReader(target)
    chapters = sum(1 for item in reader.outline if not isinstance(item, list))
    return f"{len(reader.pages)} A4 pages, {chapters} chapter bookmarks"


def measure(store_path: Path, start_url: str, name: str, tmp: Path) -> Figures:
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter per format
    receive, send = spawn.Pipe(duplex=False)
    out_dir = tmp / name
    out_dir.mkdir()
    busy_before = busy_cpu()
    process = spawn.Process(
        target=build_one, args=(str(store_path), start_url, name, str(out_dir), send)
    )
    process.start()
    sampler = TreeSampler(process.pid or 0)
    sampler.start()
    note = ""
    try:
        seconds, size, error = receive.recv()
        sampler.stop()
        if not error:
            note = receive.recv()
    except EOFError:
        seconds, size, error = 0.0, 0, "the export process died"
    sampler.stop()
    process.join()
    cpu = sum(sampler.cpu.values())
    shutil.rmtree(out_dir, ignore_errors=True)
    return Figures(
        name,
        seconds,
        size,
        sampler.peak_rss,
        sampler.peak_pss,
        sampler.processes,
        cpu,
        busy_cpu() - busy_before - cpu,
        note,
        error,
    )


# --- report -----------------------------------------------------------------------------


def report(results: list[Figures]) -> None:
    print(
        f"\n{'format':<16}{'seconds':>9}{'output MB':>11}{'peak RSS MB':>13}{'peak PSS MB':>13}"
        f"{'procs':>7}{'CPU s':>8}{'other CPU s':>13}"
    )
    for r in results:
        if r.error:
            print(f"{r.name:<16} failed: {r.error}")
            continue
        print(
            f"{r.name:<16}{r.seconds:>9.1f}{r.output_bytes / MB:>11.1f}{r.peak_rss / MB:>13.0f}"
            f"{r.peak_pss / MB:>13.0f}{r.processes:>7}{r.cpu:>8.1f}{r.other_cpu:>13.1f}"
        )
    print(
        "\n  seconds: export_all in a fresh process (not its start-up); peak RSS: summed over"
        "\n  the process and its children (Chromium's shared pages counted once per process);"
        "\n  peak PSS: the same with shared pages split (what the processes use together);"
        "\n  other CPU s: the rest of the machine meanwhile, which slows the figures down"
    )
    for r in results:
        if r.note:
            print(f"  {r.name}: {r.note}")
    print("\ntargets:")
    for r in results:
        limit = TARGETS.get(r.name, DEFAULT_TARGET)
        ok = not r.error and r.seconds < limit
        label = f"{r.name} < {limit:.0f} s"
        print(f"  {label:<30}{'met' if ok else 'not met':<9}({r.seconds:.1f} s)")
    pdf = next((r for r in results if r.name == "pdf" and not r.error), None)
    if pdf is not None:
        ok = pdf.peak_pss < PDF_MEMORY_TARGET
        print(
            f"  {'pdf peak memory < 1.5 GB':<30}{'met' if ok else 'not met':<9}"
            f"(PSS {pdf.peak_pss / MB:.0f} MB; summed RSS {pdf.peak_rss / MB:.0f} MB)"
        )


def main() -> int:
    from scrape_api_docs.exporters.registry import EXPORTERS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/usr/share/doc/python3/html"))
    parser.add_argument("--start", default="index.html", help="start page, relative to --root")
    parser.add_argument("--max-pages", type=int, default=2000)
    parser.add_argument("--formats", nargs="*", help=f"default: all ({', '.join(EXPORTERS)})")
    parser.add_argument("--recrawl", action="store_true", help="ignore the cached crawl")
    args = parser.parse_args()
    root = args.root.resolve()
    if not (root / args.start).is_file():
        parser.error(f"{root / args.start} not found (make bench-export installs python3-doc)")
    formats = args.formats or list(EXPORTERS)
    unknown = [f for f in formats if f not in EXPORTERS]
    if unknown:
        parser.error(f"unknown formats {unknown}; registered: {', '.join(EXPORTERS)}")
    store_path, start_url, port = cached_store(root, args.start, args.max_pages, args.recrawl)
    server = start_server(root, port)  # images are fetched while exporting
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"exporting {start_url} ({root}); {os.cpu_count()} CPUs, load average {load}")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
            for name in formats:
                print(f"  {name} ...", flush=True)
                results.append(measure(store_path, start_url, name, Path(tmp)))
    finally:
        server.terminate()
        server.join(10)
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

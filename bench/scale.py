"""Scale benchmark: jobs per minute and pages per second with 1, 2 and 4 worker processes.

The same jobs every time: each static site of the quality corpus (``tests/fixtures/corpus``,
sites built by real generators, 4-12 pages each), ``--copies`` times, each copy served on a
port of its own (one site = one host: per-host politeness never makes two jobs wait for
each other). Every job crawls its site (cache off, rate limit 10 req/s, the highest a job
may ask) and builds the Markdown book.

Setups:

- ``embedded default``: ``scrape-docs serve``, its in-process workers (``SCRAPER_WORKERS``,
  2), one SQLite database: the baseline of the cost column;
- ``embedded, N workers``: ``scrape-docs serve --no-workers`` + N ``scrape-docs worker``
  processes (``--concurrency`` jobs each) on one SQLite database, for N in ``--workers``;
- ``scaled-out, N workers``: the same on ``--database-url`` (PostgreSQL) and
  ``--redis-url`` when given (the artifacts stay in each run's data folder unless
  ``--artifact-url`` is given too).

Printed per run: jobs, pages, wall seconds from the first submission to the last job
finished, jobs/min, pages/s, the scaling ratio (pages/s over the same setup's 1-worker run),
CPU seconds per page (every process of the run and its children: API, workers, extraction
and export processes) and that cost against the embedded default. Figures only: exit status
0 unless it cannot run. On a shared machine, the CPU the rest of the machine used during
each run is printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import psutil

from static_server import free_port, make_server  # bench/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
CLI = [sys.executable, "-m", "scrape_api_docs.cli"]
OPTIONS = {"cache_enabled": False, "rate_limit": 10, "max_pages": 100}


# --- the sites ----------------------------------------------------------------------------
def static_sites() -> list[tuple[Path, str]]:
    """(folder, start page) of each corpus site a crawl without a browser can read."""
    sites = []
    for truth in sorted(CORPUS.glob("*/truth.json")):
        data = json.loads(truth.read_text())
        if data.get("render") or truth.parent.name.startswith("spa"):
            continue
        sites.append((truth.parent, str(data.get("start", "index.html"))))
    return sites


def serve_sites(sites: list[tuple[Path, str]], copies: int, ready: Connection) -> None:
    """In a child process: every site ``copies`` times, each on its own port; the start
    URLs are sent back through ``ready`` (a pipe end)."""
    urls = []
    for _ in range(copies):
        for root, start in sites:
            server = make_server(root, 0)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            urls.append(f"http://127.0.0.1:{server.server_address[1]}/{start}")
    ready.send(urls)
    threading.Event().wait()


def start_sites(copies: int) -> tuple[multiprocessing.Process, list[str]]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(
        target=serve_sites, args=(static_sites(), copies, child), daemon=True
    )
    process.start()
    urls: list[str] = parent.recv()
    return process, urls


# --- processes ----------------------------------------------------------------------------
@dataclass
class Run:
    label: str
    mode: str
    workers: int
    jobs: int
    pages: int
    seconds: float
    cpu: float
    other_cpu: float
    failed: int

    @property
    def jobs_per_minute(self) -> float:
        return 60 * self.jobs / self.seconds

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds

    @property
    def cpu_per_page(self) -> float:
        return self.cpu / max(1, self.pages)


class Cluster:
    """An API process and N worker processes on one data folder (and database)."""

    def __init__(self, env: dict[str, str], workers: int, concurrency: int) -> None:
        self.env = env
        self.port = free_port()
        self.workers = workers
        self.concurrency = concurrency
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        log = Path(self.env["SCRAPER_DATA_DIR"]).parent / f"{len(self.processes)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*CLI, *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(self.env["SCRAPER_DATA_DIR"]).parent,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def start(self) -> Cluster:
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self._spawn(args if self.workers == 0 else [*args, "--no-workers"])
        wait(lambda: self.healthy(), 60, "the API")
        for _ in range(self.workers):
            log_index = len(self.processes)
            self._spawn(["worker", "--concurrency", str(self.concurrency)])
            log = self.logs[log_index]
            wait(lambda log=log: "worker(s) running" in log.read_text(), 60, "a worker")
        return self

    def healthy(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url("/api/v1/system/health"), timeout=2).is_success
        return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        """CPU of every process of the cluster and of their living children."""
        total = 0.0
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(process.pid)
                for each in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = each.cpu_times()
                        # (+ the children it has reaped: the export processes, one per export)
                        total += times.user + times.system
                        total += times.children_user + times.children_system
        return total

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start within {timeout:g}s")


def machine_cpu() -> float:
    times = psutil.cpu_times()
    return times.user + times.system


def run_jobs(cluster: Cluster, urls: list[str], timeout: float) -> tuple[int, int, float]:
    """Submit one job per URL, wait for all; (pages, failed, seconds)."""
    with httpx.Client(base_url=cluster.url(""), timeout=30) as client:
        began = time.monotonic()
        ids = set()
        for url in urls:
            response = client.post(
                "/api/v1/scrape",
                json={"url": url, "options": OPTIONS, "export_formats": ["markdown"]},
            )
            response.raise_for_status()
            ids.add(response.json()["job_id"])
        done: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.25)
            for offset in range(0, len(ids) + 100, 100):
                page = client.get("/api/v1/jobs", params={"limit": 100, "offset": offset})
                page.raise_for_status()
                for job in page.json()["jobs"]:
                    if job["job_id"] in ids and job["status"] in ("completed", "failed"):
                        done[job["job_id"]] = job
        seconds = time.monotonic() - began
    pages = sum(int(str(job.get("pages_scraped") or 0)) for job in done.values())
    failed = sum(1 for job in done.values() if job["status"] != "completed") + len(ids) - len(done)
    return pages, failed, seconds


def one_run(
    label: str,
    mode: str,
    workers: int,
    concurrency: int,
    urls: list[str],
    extra_env: dict[str, str],
    timeout: float,
) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
        env.update(
            SCRAPER_DATA_DIR=str(Path(tmp) / "data"),
            SCRAPER_ALLOW_PRIVATE_NETWORKS="1",
            SCRAPER_ESTIMATE_SECONDS="0",
            SCRAPER_REQUESTS_PER_MINUTE="1000000",
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
        )
        env.update(extra_env)
        cluster = Cluster(env, workers, concurrency).start()
        try:
            cpu_before, machine_before = cluster.cpu_seconds(), machine_cpu()
            pages, failed, seconds = run_jobs(cluster, urls, timeout)
            cpu = cluster.cpu_seconds() - cpu_before
            other = machine_cpu() - machine_before - cpu
        finally:
            cluster.stop()
    return Run(label, mode, workers, len(urls), pages, seconds, cpu, max(0.0, other), failed)


def print_table(runs: list[Run]) -> None:
    base = runs[0]
    one = {run.mode: run for run in runs if run.workers == 1}
    header = (
        f"{'setup':<26} {'jobs':>5} {'pages':>6} {'wall s':>7} {'jobs/min':>9} {'pages/s':>8} "
        f"{'scaling':>8} {'CPU s/page':>11} {'cost':>6} {'other CPU s':>12} {'failed':>6}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        ref = one.get(run.mode)
        scaling = (
            f"{run.pages_per_second / ref.pages_per_second:.2f}x"
            if ref is not None and run.workers
            else "-"
        )
        cost = run.cpu_per_page / base.cpu_per_page if base.cpu_per_page else 0.0
        print(
            f"{run.label:<26} {run.jobs:>5} {run.pages:>6} {run.seconds:>7.1f} "
            f"{run.jobs_per_minute:>9.1f} {run.pages_per_second:>8.1f} {scaling:>8} "
            f"{run.cpu_per_page * 1000:>8.1f} ms {cost:>5.2f}x {run.other_cpu:>12.1f} "
            f"{run.failed:>6}"
        )
    print(
        "\nscaling: pages/s over the same setup's 1-worker run; cost: CPU per page over the "
        "embedded default's; other CPU: what the rest of the machine used meanwhile."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to run")
    parser.add_argument("--concurrency", type=int, default=2, help="jobs per worker process")
    parser.add_argument("--copies", type=int, default=2, help="times each site is crawled")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run, at most")
    parser.add_argument("--database-url", help="scaled-out: SCRAPER_DATABASE_URL (PostgreSQL)")
    parser.add_argument("--redis-url", help="scaled-out: SCRAPER_REDIS_URL")
    parser.add_argument("--artifact-url", help="scaled-out: SCRAPER_ARTIFACT_URL (s3://...)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]

    sites_process, urls = start_sites(args.copies)
    print(
        f"{len(urls)} jobs: {len(urls) // args.copies} corpus sites x {args.copies}, each on "
        f"its own port; {os.cpu_count()} CPUs; {args.concurrency} job(s) per worker process",
        flush=True,
    )
    try:
        runs = [one_run("embedded default", "default", 0, 2, urls, {}, args.timeout)]
        print(f"  done: {runs[-1].label}", flush=True)
        for count in counts:
            runs.append(
                one_run(
                    f"embedded, {count} worker(s)",
                    "embedded",
                    count,
                    args.concurrency,
                    urls,
                    {},
                    args.timeout,
                )
            )
            print(f"  done: {runs[-1].label}", flush=True)
        if args.database_url or args.redis_url:
            scaled = {
                key: value
                for key, value in (
                    ("SCRAPER_DATABASE_URL", args.database_url),
                    ("SCRAPER_REDIS_URL", args.redis_url),
                    ("SCRAPER_ARTIFACT_URL", args.artifact_url),
                )
                if value
            }
            for count in counts:
                runs.append(
                    one_run(
                        f"scaled-out, {count} worker(s)",
                        "scaled",
                        count,
                        args.concurrency,
                        urls,
                        scaled,
                        args.timeout,
                    )
                )
                print(f"  done: {runs[-1].label}", flush=True)
    finally:
        sites_process.terminate()
    print()
    print_table(runs)


if __name__ == "__main__":
    main()

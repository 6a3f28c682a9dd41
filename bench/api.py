"""API benchmark: job polling against ``scrape-docs serve`` while crawls run, next to a bare
FastAPI endpoint served the same way (the framework's ceiling).

Starts a generated docs site (``static_server.py``, its own process), ``scrape-docs serve``
(subprocess, temp data folder) and submits a few rate-limited crawls so jobs are running
the whole time. Then 100 concurrent clients (one ``httpx.AsyncClient`` each, one keep-alive
connection) poll ``GET /api/v1/jobs/{id}`` and list ``GET /api/v1/jobs`` for a fixed time.
The same clients then hit a bare FastAPI app (uvicorn, same settings, subprocess) answering
the same paths with the same JSON bodies, while the crawls keep running. Prints requests/s,
latency percentiles, errors and CPU, then the targets. Exit status 0 unless it cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from static_server import free_port  # bench/ is sys.path[0] when run as a script
from static_server import start as start_site

LIST_EVERY = 5
"""One request in LIST_EVERY lists jobs; the others poll one job."""


# --- the bare app (run as ``api.py --bare PORT PAYLOADS.json``) -----------------------------
def serve_bare(port: int, payloads: Path) -> None:
    import uvicorn
    from fastapi import FastAPI

    bodies = json.loads(payloads.read_text())
    app = FastAPI()

    @app.get("/api/v1/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = bodies["detail"]
        return body

    @app.get("/api/v1/jobs")
    async def jobs(limit: int = 20) -> dict[str, Any]:
        body: dict[str, Any] = bodies["list"]
        return body

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # The settings ``scrape-docs serve`` runs uvicorn with.
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_config=None)


# --- helpers ------------------------------------------------------------------------------
def make_site(root: Path, pages: int) -> None:
    """``pages`` docs pages under /docs/, each linking to its neighbours and the index."""
    (root / "docs").mkdir(parents=True)
    names = [f"page{i:04d}.html" for i in range(pages)]
    paragraph = (
        "<p>This page documents one part of the API in some detail: parameters, return "
        "values, errors, and an example.</p>"
    )
    for i, name in enumerate(names):
        links = {names[(i + 1) % pages], names[(i + 2) % pages], "index.html"}
        nav = "".join(f'<li><a href="{link}">{link}</a></li>' for link in sorted(links))
        body = paragraph * 8 + f"<pre><code>client.call({i})</code></pre>"
        html = (
            f"<!doctype html><html><head><title>Page {i}</title></head><body>"
            f"<nav><ul>{nav}</ul></nav><main><h1>Page {i}</h1>{body}</main></body></html>"
        )
        (root / "docs" / name).write_text(html)
    index = "".join(f'<li><a href="{name}">{name}</a></li>' for name in names[::10])
    (root / "docs" / "index.html").write_text(
        "<!doctype html><html><head><title>Docs</title></head><body>"
        f"<main><h1>Docs</h1><ul>{index}</ul></main></body></html>"
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).is_success:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, 9)  # its extraction workers, if any are left


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


# --- the load -----------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    interval: float = 0.0
    """0: closed loop (saturation); else each client polls every ``interval`` s."""
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    """Seconds per request, successful or not."""
    errors: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    pages_crawled: int = 0
    """Pages the background crawls processed during the phase (the load was real)."""

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction)


@dataclass
class Clock:
    """Set once every client is created and connected: creating 100 httpx clients takes
    seconds on a slow machine (an SSL context each), and their first connections arrive
    as one burst; neither is the steady state measured."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    measure_from: float = 0.0
    end: float = 0.0


async def client_loop(
    base: str,
    job_ids: list[str],
    clock: Clock,
    connected: list[int],
    phase: Phase,
    seed: int,
    interval: float,
    headers: dict[str, str],
) -> None:
    """One client, one keep-alive connection. ``interval`` 0: the next request as soon as
    the answer is in (saturation); else one request every ``interval`` seconds (polling).
    Only requests started after ``clock.measure_from`` are recorded (warm-up before)."""
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=30, headers=headers
    ) as client:
        with contextlib.suppress(httpx.HTTPError):
            await client.get(f"/api/v1/jobs/{rng.choice(job_ids)}")  # connected
        connected[0] += 1
        await clock.ready.wait()
        measure_from, end = clock.measure_from, clock.end
        n = rng.randrange(LIST_EVERY)
        next_at = time.perf_counter() + rng.uniform(0, interval)
        while True:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                # A poll that came back late is not made up for with a burst.
                next_at = max(next_at + interval, time.perf_counter())
            started = time.perf_counter()
            if started >= end:
                return
            n += 1
            if n % LIST_EVERY == 0:
                kind, path, params = "list", "/api/v1/jobs", {"limit": "20"}
            else:
                kind, path, params = "detail", f"/api/v1/jobs/{rng.choice(job_ids)}", {}
            error = None
            try:
                response = await client.get(path, params=params)
                await response.aread()
                if response.status_code != 200:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if started >= measure_from:
                phase.latencies.append(time.perf_counter() - started)
                phase.by_kind[kind] += 1
                if error:
                    phase.errors[error] += 1


def cpu_of(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        procs = [process, *process.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())
    return 0.0


def pages_done(api: str, job_ids: list[str], headers: dict[str, str]) -> int:
    total = 0
    for job_id in job_ids:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            body = httpx.get(f"{api}/api/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            total += int(body["statistics"]["pages_processed"])
    return total


def run_phase(
    name: str,
    base: str,
    server: psutil.Process,
    *,
    job_ids: list[str],
    clients: int,
    seconds: float,
    warmup: float,
    interval: float,
    api: str,
    headers: dict[str, str],
) -> Phase:
    phase = Phase(name, interval=interval)
    me = psutil.Process()
    before: dict[str, float] = {}

    async def mark() -> None:
        await asyncio.sleep(warmup)
        before.update(
            pages=await asyncio.to_thread(pages_done, api, job_ids, headers),
            server=cpu_of(server),
            me=sum(me.cpu_times()[:2]),
            at=time.perf_counter(),
        )

    async def start_clock(clock: Clock, connected: list[int]) -> None:
        while connected[0] < clients:
            await asyncio.sleep(0.05)
        start = time.perf_counter()
        clock.measure_from, clock.end = start + warmup, start + warmup + seconds
        clock.ready.set()
        await mark()

    async def go() -> None:
        clock, connected = Clock(), [0]
        await asyncio.gather(
            start_clock(clock, connected),
            *(
                client_loop(base, job_ids, clock, connected, phase, 1000 * i, interval, headers)
                for i in range(clients)
            ),
        )
        phase.seconds = time.perf_counter() - before["at"]
        phase.server_cpu = cpu_of(server) - before["server"]
        phase.client_cpu = sum(me.cpu_times()[:2]) - before["me"]
        phase.pages_crawled = pages_done(api, job_ids, headers) - int(before["pages"])

    asyncio.run(go())
    return phase


def report(phases: list[Phase], detail_bytes: int, clients: int, idle_cpu: float) -> None:
    bare, ours, bare_poll, ours_poll = phases
    print(
        f"\n{'endpoint':<34}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'max ms':>8}{'errors':>7}{'server CPU':>11}{'client CPU':>11}"
    )
    for ph in phases:
        load = f"every {ph.interval:g} s" if ph.interval else "saturation"
        print(
            f"{ph.name + ', ' + load:<34}{ph.requests:>9}{ph.rate:>8.0f}"
            f"{1000 * ph.p(0.50):>8.1f}{1000 * ph.p(0.95):>8.1f}{1000 * ph.p(0.99):>8.1f}"
            f"{1000 * ph.p(1.0):>8.0f}{sum(ph.errors.values()):>7}"
            f"{100 * ph.server_cpu / ph.seconds:>10.0f}%{100 * ph.client_cpu / ph.seconds:>10.0f}%"
        )
    print()
    for ph in phases:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(ph.by_kind.items()))
        errors = ", ".join(f"{n} {why}" for why, n in ph.errors.most_common()) or "none"
        print(
            f"  {ph.name} ({'saturation' if not ph.interval else 'polling'}): {kinds}; "
            f"errors: {errors}; the crawls processed {ph.pages_crawled} pages meanwhile"
        )
    print(f"  job detail body: {detail_bytes} bytes of JSON (before gzip)")
    print(
        f"  scrape-docs serve with its crawls and no API load: {100 * idle_cpu:.0f}% CPU "
        "(part of its figures above)"
    )
    print(
        "  CPU: % of one core; server = the server process and its children (extraction "
        "workers), client = this process (the load generator)"
    )
    if bare.client_cpu / bare.seconds > 0.9:
        print(
            "  the load generator was saturated during the bare run: the bare figure is a "
            "lower bound of the framework's ceiling"
        )
    ratio = ours.rate / bare.rate if bare.rate else 0.0
    print(f"\nscrape-docs / bare FastAPI throughput (saturation): {100 * ratio:.0f}%")
    print("\ntargets:")
    p99 = 1000 * ours_poll.p(0.99)
    p99_sat = 1000 * ours.p(0.99)
    errors = sum(sum(ph.errors.values()) for ph in (ours, ours_poll))
    total = ours.requests + ours_poll.requests
    checks = [
        (
            f"p99 < 100 ms, {clients} clients polling",
            p99 < 100,
            f"{p99:.1f} ms polling every {ours_poll.interval:g} s; "
            f"bare FastAPI {1000 * bare_poll.p(0.99):.1f} ms",
        ),
        (
            f"p99 < 100 ms, {clients} clients saturating",
            p99_sat < 100,
            f"{p99_sat:.1f} ms; bare FastAPI {1000 * bare.p(0.99):.1f} ms",
        ),
        ("no errors", errors == 0, f"{errors} errors in {total} requests"),
        ("≥ 50% of bare throughput", ratio >= 0.5, f"{100 * ratio:.0f}%"),
    ]
    for label, ok, value in checks:
        print(f"  {label:<38}{'met' if ok else 'not met':<10}({value})")
    floor = 1000 * clients / bare.rate if bare.rate else 0.0
    print(
        f"  (saturation: {clients} closed-loop clients wait {clients} / throughput on average "
        f"(Little's law); against the bare app that is already {floor:.0f} ms here)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured, per phase")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="seconds between a polling client's requests",
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="not measured, per phase")
    parser.add_argument("--jobs", type=int, default=3, help="crawls running meanwhile")
    parser.add_argument(
        "--server-log", type=Path, help="keep the server's log here (default: thrown away)"
    )
    parser.add_argument(
        "--pages",
        type=int,
        default=1000,
        help="pages of the generated site (the crawls must outlast the run)",
    )
    parser.add_argument(
        "--with-key",
        action="store_true",
        help="create an API key first and send it (the path of a server reachable beyond "
        "loopback: one more lookup per request)",
    )
    parser.add_argument("--bare", nargs=2, metavar=("PORT", "PAYLOADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(int(args.bare[0]), Path(args.bare[1]))
        return 0

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; {args.clients} clients")
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        make_site(tmp / "site", args.pages)
        # One site server (one host) per crawl: a host's request budget is shared by every
        # job of the service, so crawls of one host would load it less than they did.
        site_ports = [free_port() for _ in range(args.jobs)]
        sites = [start_site(tmp / "site", port) for port in site_ports]
        try:
            api_port = free_port()
            api = f"http://127.0.0.1:{api_port}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
            env.update(
                SCRAPER_DATA_DIR=str(tmp / "data"),
                SCRAPER_ALLOW_PRIVATE_NETWORKS="1",
                SCRAPER_EXTRACT_PROCESSES="1",
                SCRAPER_WORKERS=str(args.jobs),
                # 100 clients from one address: the per-caller limit would answer 429.
                SCRAPER_REQUESTS_PER_MINUTE="100000000",
            )
            headers: dict[str, str] = {}
            if args.with_key:
                created = subprocess.run(
                    [sys.executable, "-m", "scrape_api_docs.cli", "keys", "create", "bench"],
                    env=env,
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                key = next(
                    line.split(":", 1)[1].strip()
                    for line in created.stdout.splitlines()
                    if line.startswith("api key:")
                )
                headers["X-API-Key"] = key
            with (args.server_log or tmp / "serve.log").open("wb") as log:
                serve = subprocess.Popen(
                    [sys.executable, "-m", "scrape_api_docs.cli", "serve", "--port", str(api_port)],
                    env=env,
                    cwd=tmp,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            processes.append(serve)
            wait_healthy(f"{api}/api/v1/system/health", serve)
            crawl_ids = []
            for site_port in site_ports:
                response = httpx.post(
                    f"{api}/api/v1/scrape",
                    headers=headers,
                    json={
                        "url": f"http://127.0.0.1:{site_port}/docs/index.html",
                        "options": {"rate_limit": 4, "cache_enabled": False, "max_depth": 100},
                    },
                    timeout=30,
                )
                response.raise_for_status()
                crawl_ids.append(response.json()["job_id"])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                jobs = httpx.get(
                    f"{api}/api/v1/jobs", params={"status": "running"}, headers=headers
                ).json()
                if jobs["pagination"]["total"] == len(crawl_ids):
                    break
                time.sleep(0.2)
            time.sleep(2)  # a few pages and logs in, so the job bodies are realistic

            detail = httpx.get(f"{api}/api/v1/jobs/{crawl_ids[0]}", headers=headers).json()
            listing = httpx.get(
                f"{api}/api/v1/jobs", params={"limit": "20"}, headers=headers
            ).json()
            payloads = tmp / "payloads.json"
            payloads.write_text(json.dumps({"detail": detail, "list": listing}))
            bare_port = free_port()
            bare = subprocess.Popen(
                [sys.executable, __file__, "--bare", str(bare_port), str(payloads)],
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            processes.append(bare)
            wait_healthy(f"http://127.0.0.1:{bare_port}/health", bare)

            bare_base = f"http://127.0.0.1:{bare_port}"
            bare_proc, serve_proc = psutil.Process(bare.pid), psutil.Process(serve.pid)
            common: dict[str, Any] = {
                "job_ids": crawl_ids,
                "clients": args.clients,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "api": api,
                "headers": headers,
            }
            poll = args.poll_interval
            idle_before = cpu_of(serve_proc)
            time.sleep(5)
            idle_cpu = (cpu_of(serve_proc) - idle_before) / 5
            phases = [
                run_phase("bare FastAPI", bare_base, bare_proc, interval=0, **common),
                run_phase("scrape-docs serve", api, serve_proc, interval=0, **common),
                run_phase("bare FastAPI", bare_base, bare_proc, interval=poll, **common),
                run_phase("scrape-docs serve", api, serve_proc, interval=poll, **common),
            ]
            running = httpx.get(
                f"{api}/api/v1/jobs", params={"status": "running"}, headers=headers
            ).json()
            still = running["pagination"]["total"]
            print(f"crawls still running at the end: {still} of {len(crawl_ids)}")
        finally:
            for site in sites:  # first: the crawls' connections are cut client-side
                site.terminate()
            for site in sites:
                site.join(10)
            for process in processes:
                stop(process)
    report(phases, len(json.dumps(detail)), args.clients, idle_cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Start-up cost of the command line: how long each ``scrape-docs`` command takes before it
does its work, and how much CPU its imports cost.

Commands, each in a fresh process, ``--runs`` times (median printed):

- ``--help``: to exit;
- ``scrape`` of a one-page site on 127.0.0.1 (``static_server.py``, its own process) to exit;
- ``keys list``, to exit;
- ``serve --no-workers`` until ``/api/v1/system/health`` answers 200 (``serve``: on the
  data folder the runs share, its schema current; ``serve-new``: each run on a new one, as
  the tests start it, so the database is made and migrated);
- ``worker`` until it prints "worker(s) running".

Figures per command: wall seconds (median, min), user+system CPU seconds of the process
until that moment (median: robust when other jobs load the machine, wall is not), and the
sum of ``-X importtime``'s self times (median, from separate runs). Figures, not pass/fail.

    .venv/bin/python bench/startup.py --runs 5
    .venv/bin/python bench/startup.py --src /tmp/before/src --src src   # compare two trees
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from static_server import free_port  # bench/ is sys.path[0] when run as a script
from static_server import start as start_site

CLI = [sys.executable, "-m", "scrape_api_docs.cli"]
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|")


@dataclass
class Figures:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)


def import_seconds(stderr: str) -> float:
    """Sum of ``-X importtime`` self times (µs) in ``stderr``, in seconds."""
    total = sum(int(m.group(1)) for m in map(IMPORT_LINE.match, stderr.splitlines()) if m)
    return total / 1e6


def run_to_exit(args: list[str], env: dict[str, str], importtime: bool) -> tuple[float, float, str]:
    """(wall s, CPU s, stderr) of one run of ``args`` to its exit."""
    extra = ["-X", "importtime"] if importtime else []
    started = time.monotonic()
    proc = subprocess.Popen(
        [CLI[0], *extra, *CLI[1:], *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=300)
    wall = time.monotonic() - started
    cpu = _children_cpu_delta()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: {err[-2000:]}")
    return wall, cpu, err


_last_children = 0.0


def _children_cpu_delta() -> float:
    """CPU of the children reaped since the previous call (all ours run one at a time)."""
    global _last_children
    times = os.times()
    now = times.children_user + times.children_system
    delta, _last_children = now - _last_children, now
    return delta


def run_until(
    args: list[str], env: dict[str, str], importtime: bool, ready: Callable[[str], bool]
) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, stderr) of ``args`` until ``ready(stderr so far)``
    (polled every 20 ms), then SIGTERM and wait for its exit."""
    extra = ["-X", "importtime"] if importtime else []
    log = Path(env["SCRAPER_DATA_DIR"]).parent / "stderr.log"
    started = time.monotonic()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [CLI[0], *extra, *CLI[1:], *args], env=env, stdout=subprocess.DEVNULL, stderr=err
        )
    watched = psutil.Process(proc.pid)
    try:
        while True:
            text = log.read_text(errors="replace")
            if proc.poll() is not None:
                raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: {text[-2000:]}")
            if ready(text):
                break
            if time.monotonic() - started > 300:
                raise SystemExit(f"{' '.join(args)} not ready after 300 s: {text[-2000:]}")
            time.sleep(0.02)
        wall = time.monotonic() - started
        cpu = 0.0
        for p in [watched, *watched.children(recursive=True)]:
            try:
                t = p.cpu_times()
                cpu += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _children_cpu_delta()  # not counted: the shutdown
    return wall, cpu, log.read_text(errors="replace")


def health_answers(port: int) -> Callable[[str], bool]:
    def ready(_: str) -> bool:
        try:
            return (
                httpx.get(f"http://127.0.0.1:{port}/api/v1/system/health", timeout=1).status_code
                == 200
            )
        except httpx.HTTPError:
            return False

    return ready


COMMANDS = ("help", "scrape", "keys", "serve", "serve-new", "worker")


def run_command(
    name: str, env: dict[str, str], importtime: bool, site: str, scratch: Path
) -> tuple[float, float, str]:
    """One run of command ``name``: (wall s, CPU s, stderr)."""
    if name == "help":
        return run_to_exit(["--help"], env, importtime)
    if name == "scrape":
        out = scratch / "book.md"
        out.unlink(missing_ok=True)
        args = ["scrape", site, "-o", str(out), "--allow-private-networks", "--no-cache"]
        return run_to_exit(args, env, importtime)
    if name == "keys":
        return run_to_exit(["keys", "list"], env, importtime)
    if name in ("serve", "serve-new"):
        if name == "serve-new":  # a data folder of its own: the database is made and migrated
            fresh = Path(tempfile.mkdtemp(prefix="data-", dir=scratch))
            env = {**env, "SCRAPER_DATA_DIR": str(fresh)}
        port = free_port()
        args = ["serve", "--no-workers", "--port", str(port)]
        return run_until(args, env, importtime, health_answers(port))
    if name == "worker":
        return run_until(["worker"], env, importtime, lambda text: "worker(s) running" in text)
    raise SystemExit(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", action="append", help=f"one of {COMMANDS} (repeatable)")
    parser.add_argument(
        "--src",
        action="append",
        type=Path,
        help="a source tree (its src/ folder) to run instead of the installed package; "
        "repeat to compare: the trees take turns, run by run, under the same load",
    )
    opts = parser.parse_args()
    chosen = opts.only or list(COMMANDS)
    sources: list[Path | None] = list(opts.src or [None])
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        root = Path(tmp)
        site = root / "site"
        site.mkdir()
        (site / "index.html").write_text(
            "<html><head><title>Tiny</title></head><body><main><h1>Tiny</h1>"
            "<p>One page of documentation, enough for a book.</p></main></body></html>"
        )
        port = free_port()
        server = start_site(site, port)
        envs = []
        for n, src in enumerate(sources):
            env = {**os.environ, "SCRAPER_DATA_DIR": str(root / f"data{n}")}
            env["XDG_CACHE_HOME"] = str(root / f"cache{n}")
            if src is not None:
                env["PYTHONPATH"] = str(src.resolve())
            envs.append(env)
        results: dict[tuple[str, int], Figures] = {}
        _children_cpu_delta()
        try:
            for name in chosen:
                for i in range(opts.runs * 2):
                    importtime = i % 2 == 1  # every other run: importtime (its own overhead)
                    for n, env in enumerate(envs):
                        figures = results.setdefault((name, n), Figures())
                        wall, cpu, err = run_command(
                            name, env, importtime, f"http://127.0.0.1:{port}/index.html", root
                        )
                        if importtime:
                            figures.imports.append(import_seconds(err))
                        else:
                            figures.wall.append(wall)
                            figures.cpu.append(cpu)
        finally:
            server.terminate()
            server.join()
    load = os.getloadavg()[0]
    print(f"runs: {opts.runs} per command (+ as many with -X importtime); load avg {load:.1f}")
    for n, src in enumerate(sources):
        print(f"[{n}] {src or 'installed package'}")
    header = ("command", "wall s med", "wall s min", "CPU s med", "imports s")
    print(f"{header[0]:<14}" + "".join(f" {h:>10}" for h in header[1:]))
    for (name, n), f in results.items():
        label = f"{name} [{n}]" if len(sources) > 1 else name
        print(
            f"{label:<14} {statistics.median(f.wall):>10.2f} {min(f.wall):>10.2f} "
            f"{statistics.median(f.cpu):>10.2f} {statistics.median(f.imports):>10.2f}"
        )


if __name__ == "__main__":
    main()

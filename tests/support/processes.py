"""The service's processes as the tests start them: ``scrape-docs serve`` (``LiveServer``; an
API replica is ``serve --no-workers``, ``api_replica``) and ``scrape-docs worker``
(``Worker``), each a subprocess in its own process group with its own environment, its
output in a log file next to the data folder, ready only once it says so (the health
endpoint answers; the worker prints "worker(s) running"), stopped with SIGTERM or SIGKILL,
and cleaned up with everything it started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

CLI = [sys.executable, "-m", "scrape_api_docs.cli"]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without its SCRAPER_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    env.update(
        SCRAPER_DATA_DIR=str(data_dir),
        SCRAPER_ALLOW_PRIVATE_NETWORKS="1",
        SCRAPER_EXTRACT_PROCESSES="1",
        SCRAPER_REQUESTS_PER_MINUTE="100000",
        SCRAPER_ESTIMATE_SECONDS="0",  # jobs' requests are counted; no estimate first
    )
    env.update(extra)
    return env


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def until(
    condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.02
) -> None:
    """``wait_until`` for a test's own event loop: checks ``condition`` every ``interval``
    seconds without blocking the loop, AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        await asyncio.sleep(interval)


def _stop_group(process: subprocess.Popen[bytes], timeout: float, signalled: bool = False) -> None:
    """SIGTERM (unless ``signalled`` already), SIGKILL past ``timeout``; then whatever is
    left of its process group."""
    if process.poll() is None:
        if not signalled:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    # Leftovers of this process's session only (extraction workers, forkserver, Chromium).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_exit(
    process: subprocess.Popen[bytes], timeout: float, what: str, tail: Callable[[], str]
) -> float:
    """Seconds until ``process`` exited; past ``timeout``, an AssertionError with the end
    of its log."""
    started = time.monotonic()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{what} still running {timeout}s after the signal:\n{tail()}"
        ) from None
    return time.monotonic() - started


class LiveServer:
    """``scrape-docs serve`` as a subprocess in its own process group (so its extraction
    workers can be cleaned up even after the server itself was SIGKILLed)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.port = port or free_port()
        self.host = host
        self.env = cli_env(data_dir, **(env or {}))
        self.log_path = data_dir.parent / f"server-{self.port}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*CLI, "serve", "--host", self.host, "--port", str(self.port), *self.args],
                cwd=self.data_dir.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/api/v1/system/health", timeout=2).is_success:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"server not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> float:
        """Seconds until the process exited (AssertionError past ``timeout``)."""
        assert self.process is not None
        return _wait_exit(self.process, timeout, "server", self.log_tail)

    def helpers(self) -> list[psutil.Process]:
        """The processes the server started, and theirs, as of now."""
        assert self.process is not None
        return psutil.Process(self.process.pid).children(recursive=True)

    def cleanup(self) -> None:
        if self.process is not None:
            _stop_group(self.process, 10)


def api_replica(
    data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> LiveServer:
    """``scrape-docs serve --no-workers`` on a free port of 127.0.0.1: the API alone (the
    jobs run in ``Worker`` processes on the same database), ready once its health check
    answers. The caller cleans it up."""
    return LiveServer(data_dir, args=["--no-workers"], env=env).start(timeout)


class Worker:
    """``scrape-docs worker`` as a subprocess in its own process group, started and ready
    ("worker(s) running" in its log) when constructed; a context manager that cleans up."""

    def __init__(
        self,
        data_dir: Path,
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        *,
        args: Sequence[str] = (),
        timeout: float = 60,
    ) -> None:
        self.data_dir = data_dir
        self.terminated = False
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / f"worker-{time.monotonic_ns()}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*CLI, "worker", "--concurrency", str(concurrency), *args],
                cwd=data_dir.parent,
                env=cli_env(data_dir, **(env or {})),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(
                lambda: "worker(s) running" in self.log() or self.process.poll() is not None,
                timeout,
                "the worker to start",
            )
            assert self.process.poll() is None, self.log()
        except BaseException:
            self.cleanup()
            raise

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def metrics_url(self) -> str:
        """Where it serves its metrics (started with ``--metrics-port``)."""
        found = re.search(r"metrics on (http://\S+/metrics)", self.log())
        assert found, self.log()
        return found[1]

    def kill(self) -> None:
        """SIGKILL, the worker and everything it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM to the worker alone (as a container runtime sends it)."""
        self.process.send_signal(signal.SIGTERM)
        self.terminated = True

    def wait_exit(self, timeout: float) -> float:
        """Seconds until the process exited (AssertionError past ``timeout``)."""
        return _wait_exit(self.process, timeout, "worker", lambda: self.log()[-4000:])

    def cleanup(self) -> None:
        """SIGTERM (a clean stop flushes its last spans), SIGKILL past 15 s, then the rest
        of its process group."""
        _stop_group(self.process, 15, signalled=self.terminated)

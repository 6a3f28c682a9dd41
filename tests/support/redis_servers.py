"""Redis for the tests: the machine's shared server (a DB number of ours, a key prefix per
test so parallel tests never meet), or a server of a test's own that it may kill."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scrape_api_docs.settings import Settings
from tests.support.processes import free_port

SHARED_URL = "redis://127.0.0.1:6379/3"
"""The shared Redis, DB 3 (these tests' own number; nothing here ever flushes it)."""


def shared_redis_or_skip() -> str:
    try:
        with redis.Redis.from_url(SHARED_URL, socket_connect_timeout=0.5) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"no Redis at {SHARED_URL} ({type(exc).__name__}): .ci/run starts it")
    return SHARED_URL


def new_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def drop_prefix(url: str, prefix: str) -> None:
    """Delete this test's keys (only its prefix)."""
    with (
        contextlib.suppress(redis.RedisError, OSError),
        redis.Redis.from_url(url, socket_connect_timeout=0.5) as client,
    ):
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


@contextlib.contextmanager
def redis_settings(tmp_path: Path, **values: object) -> Iterator[Settings]:
    """Settings on the shared Redis with a fresh prefix; its keys dropped afterwards."""
    url = shared_redis_or_skip()
    prefix = new_prefix()
    try:
        yield Settings(
            data_dir=tmp_path / "data",
            redis_url=url,  # type: ignore[arg-type]
            redis_prefix=prefix,
            **values,  # type: ignore[arg-type]
        )
    finally:
        drop_prefix(url, prefix)


class OwnRedis:
    """A ``redis-server`` of the test's own on a free port (no persistence): ``stop`` and
    ``start`` again on the same port to play a Redis restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.2) as client:
                    client.ping()
                return self
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

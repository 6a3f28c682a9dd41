"""A PostgreSQL server of a test's own (initdb + pg_ctl on a temporary folder and a free
port) that the test may stop and start again: a database restart mid-run, never played
on the machine's shared server. Skipped, saying why, where it cannot run (no PostgreSQL
binaries, or running as root with no ``postgres`` user to run them as: initdb refuses
root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.processes import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
"""Debian's PostgreSQL binaries, newest first."""


def _binaries() -> Path | None:
    for folder in BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


class OwnPostgres:
    """``start()`` / ``stop()`` on the same port and data folder (the data survives)."""

    def __init__(self) -> None:
        folder = _binaries()
        if folder is None:
            pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.bin = folder
        self.run_as: list[str] = []
        self.home = Path(tempfile.mkdtemp(prefix="sad-own-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.home, ignore_errors=True)
                pytest.skip("running as root and there is no postgres user to run initdb as")
            os.chown(self.home, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.port = 0  # picked at the first start, right before it (see ``start``)
        self.data = self.home / "data"
        try:
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "--no-sync", "-E", "UTF8")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.run_as, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    @property
    def url(self) -> str:
        """The ``postgres`` database (``postgresql+asyncpg://``), as the service takes it."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> OwnPostgres:
        """The first start picks a free port (again, should another process take it
        between the pick and the bind: tests run side by side); a restart keeps it."""
        first = not self.port
        for attempt in range(3 if first else 1):
            if first:
                self.port = free_port()
            options = (
                f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-o", options,
                          "-l", str(self.home / "server.log"), "-w", "-t", "30", "start")  # fmt: skip
                return self
            except AssertionError as exc:
                if attempt == (2 if first else 0):
                    message = f"PostgreSQL did not start:\n{self.log()[-2000:]}"
                    raise AssertionError(message) from exc
        return self

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as a restart by an operator does."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def log(self) -> str:
        try:
            return (self.home / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

"""One export, one child process: cancelling it stops the work, and its memory goes back.

An export in a shared process pool cannot be stopped: cancelling the job only stopped
waiting for it, so a PDF went on printing (and writing into the cancelled job's folder)
for minutes, and the pool's process kept the gigabytes the export had taken. Here each
export runs in a process of its own; cancelling kills it and everything it started
(Playwright's driver, Chromium: Playwright puts the browser in a process group of its
own, so they are found by parentage, not by group), and the memory of a big export is
returned when the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from scrape_api_docs.lifetime import end_with

T = TypeVar("T")


def _end_descendants() -> None:
    """A service killed with SIGKILL cannot stop its exports, and nobody would run the job
    they write into: the export ends what it started (Playwright's driver, Chromium) too."""
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _child(conn: Connection, service: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    end_with(service, before_exit=_end_descendants)
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args))
    except BaseException as exc:
        outcome = ("error", exc)
    try:
        conn.send(outcome)
    except Exception as exc:  # an unpicklable exception or result
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (found before any is killed: a child
    whose parent died is adopted elsewhere and no longer found below it)."""
    for target in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            os.kill(target, signal.SIGKILL)


async def run_in_child(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a fresh child process; its result, or its exception re-raised.
    Cancelling the caller kills the child and everything it started, then re-raises.

    Waiting holds no thread (the event loop watches the pipe and the process's sentinel):
    an export can take minutes, and a thread per export would starve the default pool
    that the rest of the service uses for short file work."""
    context = multiprocessing.get_context("forkserver")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, os.getpid(), fn, args), name="export")
    process.start()
    send.close()  # the child holds the other end: its death is EOF here
    try:
        try:
            await _readable(receive.fileno())
            status, value = receive.recv()  # written at once by the child: no waiting
        except EOFError:
            await _readable(process.sentinel)
            process.join()
            raise RuntimeError(
                f"the export process ended without an answer (exit code {process.exitcode})"
            ) from None
    except BaseException:
        if process.pid is not None:
            kill_tree(process.pid)
        raise
    finally:
        # Killed or finished, the child is gone soon: reap it before the pipe is closed.
        await asyncio.shield(_reap(process, receive))
    if status == "error":
        raise value
    return value  # type: ignore[no-any-return]


async def _readable(fd: int) -> None:
    """Until ``fd`` can be read (data, or end of file)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _reap(process: Any, receive: Connection) -> None:
    await _readable(process.sentinel)
    process.join()
    receive.close()

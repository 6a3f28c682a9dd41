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
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1

PRELOAD = ["scrape_api_docs.jobs.runner", "scrape_api_docs.exporters.registry"]
"""Imported once by the fork server, so a child starts without importing the exporters."""


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies. The parent is the fork
    server, which exits with the service: a service killed with SIGKILL leaves no export
    printing on into a job nobody runs (Playwright's driver then sees its pipe close and
    closes the browser)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the request was in place
        os._exit(1)


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _die_with_parent()
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
    Cancelling the caller kills the child and everything it started, then re-raises."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # no effect once the server runs
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, fn, args), name="export")
    process.start()
    send.close()  # the child holds the other end: its death is EOF here
    answer = asyncio.ensure_future(asyncio.to_thread(receive.recv))
    try:
        status, value = await asyncio.shield(answer)
    except EOFError:
        await asyncio.to_thread(process.join)
        raise RuntimeError(
            f"the export process ended without an answer (exit code {process.exitcode})"
        ) from None
    except BaseException:
        if process.pid is not None:
            kill_tree(process.pid)
        raise
    finally:
        # Killed or finished, the child is gone soon: wait for it and for the reading
        # thread (which sees EOF) before the pipe is closed under it.
        await asyncio.shield(_reap(process, answer, receive))
    if status == "error":
        raise value
    return value  # type: ignore[no-any-return]


async def _reap(process: Any, answer: asyncio.Future[Any], receive: Connection) -> None:
    await asyncio.to_thread(process.join)
    with contextlib.suppress(BaseException):
        await answer
    receive.close()

"""Helper processes end when the process they work for does, even after a SIGKILL.

The extraction pool's workers are children of multiprocessing's forkserver, not of the
server; each holds the write end of its own task queue, so the server's death never reaches
them as an end-of-file, and the forkserver and the resource tracker stay up for as long as
a worker does. A worker that watches the server and exits with it lets both go too (the
forkserver ends when its last client is gone, the tracker when its pipe closes).

Only the standard library: a forkserver worker imports this before its first task.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable

POLL_SECONDS = 1.0
"""Without pidfds (not Linux), how often a worker checks that its owner still runs."""
_PR_SET_PDEATHSIG = 1


def end_with(owner: int, before_exit: Callable[[], None] | None = None) -> None:
    """Exit this process as soon as process ``owner`` has ended (a daemon thread waits),
    after calling ``before_exit`` (e.g. to end what this process started)."""
    threading.Thread(
        target=_watch, args=(owner, before_exit), name="end-with-owner", daemon=True
    ).start()


def _watch(owner: int, before_exit: Callable[[], None] | None = None) -> None:
    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:
        os._exit(0)  # gone before we started watching
    except (AttributeError, OSError):
        pidfd = -1  # no pidfds here: poll instead
    if pidfd >= 0:
        select.select([pidfd], [], [])  # readable once the process has ended
    else:
        while _running(owner):
            time.sleep(POLL_SECONDS)
    if before_exit is not None:
        with contextlib.suppress(Exception):
            before_exit()
    os._exit(0)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_with_parent() -> None:
    """Linux: the kernel kills this process when its parent ends (PR_SET_PDEATHSIG);
    elsewhere, a watching thread does. For one-shot children started with subprocess."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before the request took
                    os._exit(1)
                return
    end_with(parent)

"""Disk space: telling a full disk from other failures, and how much room is left.

A full disk shows up as ``OSError`` ENOSPC (or EDQUOT, a quota) from plain writes, and as
SQLite's SQLITE_FULL ("database or disk is full") from the page store and the job
database, possibly wrapped by SQLAlchemy or carried back from an export process (where
only the message survives pickling). One predicate recognises them all, so every layer
can turn them into the same clear error.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SQLITE_FULL = "database or disk is full"
MB = 1024 * 1024
FILLED_UP = "the disk holding the data folder filled up"
"""How the message of a job that failed on a full disk begins."""


def is_disk_full(exc: BaseException | None) -> bool:
    """True when ``exc``, or an exception it was raised from or carries, is a full disk."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        if SQLITE_FULL in str(exc) or "No space left on device" in str(exc):
            return True
        orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError
        if isinstance(orig, BaseException) and is_disk_full(orig):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def free_bytes(folder: Path) -> int:
    """Bytes free to unprivileged writers on the disk holding ``folder`` (or its nearest
    existing parent)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def free_mb(folder: Path) -> float:
    return round(free_bytes(folder) / MB, 1)


def filled_up_message(folder: Path) -> str:
    """The error of a job stopped by a full disk (its files were removed)."""
    return (
        f"{FILLED_UP} ({free_mb(folder):g} MB free now): the job stopped and its partial "
        "files were removed; free some space (delete old jobs) and submit it again"
    )

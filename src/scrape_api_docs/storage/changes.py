"""Which jobs changed, as this process knows from its own commits.

The repositories ``touch`` a session with every job whose row, logs or artifacts they
write; once that session commits, each of those jobs gets a new version number (and so
does "all jobs"). A cache of job views (``api/view_cache.py``) keeps a view only while the
version it was read at is still current, so a commit made here is seen by the very next
poll; writes made by other processes (workers on other machines) are not seen here, and
the cache bounds how long that can last with a maximum age.

Versions come from one counter, so a job forgotten to bound memory answers a version at
least as new as any it ever had (the ``floor``): a view cached before is then simply read
again.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_TOUCHED = "scrape_api_docs.touched_jobs"
ANNOUNCE = "scrape_api_docs.announce_changes"
"""Sessions made with ``announcing(...)`` in their ``info`` also pass every commit's jobs to
that function (the event bus's changes channel: ``jobs/events.py``)."""
REMEMBERED = 10_000


class JobVersions:
    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.remembered = remembered
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._counter = itertools.count(1)
        self._floor = 0
        self.all = 0
        """Bumped with every job's: lists of jobs compare this one."""

    def of(self, job_id: str) -> int:
        return self._versions.get(job_id, self._floor)

    def bump(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            self._versions[job_id] = next(self._counter)
            self._versions.move_to_end(job_id)
        self.all = next(self._counter)
        while len(self._versions) > self.remembered:
            _, forgotten = self._versions.popitem(last=False)
            self._floor = max(self._floor, forgotten)


versions = JobVersions()
"""This process's versions (every app and worker in it commits through SQLAlchemy here)."""


def announcing(announce: Callable[[Iterable[str]], None]) -> dict[str, Any]:
    """A session ``info`` whose commits announce the jobs they wrote to ``announce``."""
    return {ANNOUNCE: announce}


def touch(session: AsyncSession | Session, job_id: str) -> None:
    """``job_id`` is written in this session's transaction: bump it when that commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_TOUCHED, set()).add(job_id)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    touched: set[str] | None = session.info.pop(_TOUCHED, None)
    if touched:
        versions.bump(touched)
        announce: Callable[[Iterable[str]], None] | None = session.info.get(ANNOUNCE)
        if announce is not None:
            announce(touched)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session, *_: Any) -> None:
    session.info.pop(_TOUCHED, None)

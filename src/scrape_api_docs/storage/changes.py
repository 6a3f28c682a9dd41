"""Which jobs changed, as this process knows from its own commits.

The repositories ``touch`` a session with every job whose row, logs or artifacts they
write; once that session commits, a ``CommitWatch`` attached to the session factory (the
builder attaches one: ``storage/db.sessions``) gives each of those jobs a new version
number (and so does "all jobs") and announces them. Nothing is registered at import: a
watch is an object, owned by the parts that made it. A cache of job views
(``api/view_cache.py``) keeps a view only while the version it was read at is still
current, so a commit made here is seen by the very next poll; writes made by other
processes (workers on other machines) are not seen here, and the cache bounds how long
that can last with a maximum age.

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


class CommitWatch:
    """Sees the commits of the sessions it is attached to: the jobs each one touched get
    new versions in ``versions`` and go to ``announce`` (the event bus's changes channel,
    ``jobs/events.py``); a rollback forgets them."""

    def __init__(
        self,
        announce: Callable[[Iterable[str]], None] | None = None,
        versions: JobVersions | None = None,
    ) -> None:
        self.announce = announce
        self.versions = versions or JobVersions()

    def attach(self, target: Any) -> Callable[[], None]:
        """Watch the sessions ``target`` makes (a ``sessionmaker`` or a ``Session``
        subclass); returns the detach."""
        event.listen(target, "after_commit", self._committed)
        event.listen(target, "after_rollback", self._rolled_back)

        def detach() -> None:
            event.remove(target, "after_commit", self._committed)
            event.remove(target, "after_rollback", self._rolled_back)

        return detach

    def session_class(self) -> type[Session]:
        """A ``Session`` class of its own, watched (for ``async_sessionmaker``'s
        ``sync_session_class``: the watch never sees another factory's sessions)."""
        watched = type("WatchedSession", (Session,), {})
        self.attach(watched)
        return watched

    def _committed(self, session: Session) -> None:
        touched: set[str] | None = session.info.pop(_TOUCHED, None)
        if touched:
            self.versions.bump(touched)
            if self.announce is not None:
                self.announce(touched)

    def _rolled_back(self, session: Session, *_: Any) -> None:
        session.info.pop(_TOUCHED, None)


def touch(session: AsyncSession | Session, job_id: str) -> None:
    """``job_id`` is written in this session's transaction: bump it when that commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_TOUCHED, set()).add(job_id)

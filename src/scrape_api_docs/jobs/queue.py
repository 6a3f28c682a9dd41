"""The job queue: priority first, then first come first served; claims hold a lease.

The contract is shaped like procrastinate's job manager, so a job-queue library can be a
second implementation without changing callers:

=========================  =============================================================
here                       procrastinate (``JobManager`` / connector)
=========================  =============================================================
``enqueue``                ``defer_job``
``claim``                  ``fetch_job`` (one job, for one worker, atomically)
``wait_for_work``          the worker's ``LISTEN``/poll wait
``heartbeat``              worker heartbeats + ``list_jobs_to_abort`` / ``should_abort``
``finish`` / ``fail``      ``finish_job`` (succeeded / failed)
``retry``                  ``retry_job`` (bounded by the attempts stored with the job)
``request_cancel``         ``cancel_job_by_id(abort=True)``
``recover_expired``        ``get_stalled_jobs`` + ``retry_job`` (``prune_stalled_workers``)
=========================  =============================================================

The embedded implementation, ``DatabaseQueue``, is the jobs table itself (SQLite today,
PostgreSQL later; its SQL is ``storage.repositories.QueueRepository``). A job enqueued in
this process wakes this process's claimers at once (an ``asyncio.Event``); work enqueued by
another process is found by polling every ``queue_poll_seconds``.

A running job is held by one worker until its lease expires; the worker's heartbeat (about
once a second) extends it and is also how the worker learns, wherever it runs, that someone
asked to cancel the job. Recovery takes back only jobs whose lease expired, or whose worker
was a process on this machine that no longer exists (a SIGKILLed server is recovered at the
next start without waiting out the lease); never a job a live worker still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.repositories import QueueRepository, now

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
"""The one mapping of a job's priority name to its stored rank (lower runs first)."""
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}

SYNC_ABANDONED = "the server stopped during this synchronous scrape; resubmit it"

Heartbeat = Literal["ok", "cancel", "lost"]
"""``ok``: the lease is extended; ``cancel``: someone asked to cancel the job, stop it;
``lost``: this worker no longer holds the job (its lease expired and it was taken back),
stop it and write nothing."""


@dataclass
class Recovered:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class JobQueue(Protocol):
    async def enqueue(self, job_id: str, priority: int) -> None:
        """Make a stored job claimable (it wakes a waiting claimer)."""

    async def claim(self, worker_id: str, lease_seconds: float) -> str | None:
        """The next job (priority, then FIFO), now running and held by ``worker_id`` for
        ``lease_seconds``; None when nothing is queued. Two claimers never get one job."""

    async def wait_for_work(self, seconds: float) -> None:
        """Return when work may have arrived, or after ``seconds``."""

    async def heartbeat(self, worker_id: str, job_id: str, lease_seconds: float) -> Heartbeat:
        """Extend the lease of a job ``worker_id`` runs, and say whether to go on."""

    async def finish(self, job_id: str, worker_id: str) -> None:
        """The job's outcome is recorded: release its lease."""

    async def fail(self, job_id: str, message: str, worker_id: str | None = None) -> bool:
        """End a queued or running job ``failed`` with ``message``."""

    async def retry(self, job_id: str, max_attempts: int, worker_id: str | None = None) -> bool:
        """Put a running job back in the queue unless it was claimed ``max_attempts`` times
        (then it fails, saying so). True when it was put back."""

    async def request_cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job (stored: the worker running it stops within two
        heartbeats). False when it had already finished."""

    async def recover_expired(self, max_attempts: int) -> Recovered:
        """Put back (or fail, past ``max_attempts``) the running jobs whose lease expired
        or whose worker is gone."""


# --- worker identity -------------------------------------------------------------------
_HOST = socket.gethostname()
_worker_numbers = itertools.count(1)


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), "" when this
    system cannot say, None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass
        return ""


def new_worker_id() -> str:
    """``host:pid:start:n-random``: which process holds a job, so a process on this machine
    that died (pid gone, or reused by a process started later) is known to be gone."""
    pid = os.getpid()
    token = f"{next(_worker_numbers)}-{secrets.token_hex(3)}"
    return f"{_HOST}:{pid}:{_process_start(pid) or ''}:{token}"


def worker_gone(worker_id: str) -> bool:
    """True only when ``worker_id`` was a process on this machine that no longer runs.
    Workers elsewhere are judged by their lease alone."""
    parts = worker_id.rsplit(":", 3)
    if len(parts) != 4 or parts[0] != _HOST:
        return False
    _, pid, start, _ = parts
    try:
        current = _process_start(int(pid))
    except ValueError:
        return False
    return current is None or bool(start and current and current != start)


# --- the embedded implementation ---------------------------------------------------------
class DatabaseQueue:
    """The queue over the jobs table (see the module's docstring)."""

    def __init__(self, sessions: async_sessionmaker[Any], claim_attempts: int = 20) -> None:
        self._sessions = sessions
        self._wake = asyncio.Event()
        self._claim_attempts = claim_attempts

    async def enqueue(self, job_id: str, priority: int) -> None:
        async with self._sessions() as session, session.begin():
            await QueueRepository(session).enqueue(job_id, priority)
        self._wake.set()

    async def claim(self, worker_id: str, lease_seconds: float) -> str | None:
        # Cleared before looking: an enqueue committed after the look sets it again, so
        # a claimer that found nothing and then waits is woken by it.
        self._wake.clear()
        for _ in range(self._claim_attempts):
            async with self._sessions() as session, session.begin():
                queue = QueueRepository(session)
                job_id = await queue.next_queued()
                if job_id is None:
                    return None
                until = now() + timedelta(seconds=lease_seconds)
                if await queue.take(job_id, worker_id, until):
                    return job_id
            # Another claimer took it between the look and the update: look again.
        self._wake.set()  # still contended: let the caller come straight back
        return None

    async def wait_for_work(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def heartbeat(self, worker_id: str, job_id: str, lease_seconds: float) -> Heartbeat:
        until = now() + timedelta(seconds=lease_seconds)
        async with self._sessions() as session, session.begin():
            queue = QueueRepository(session)
            if await queue.extend(job_id, worker_id, until):
                return "ok"
            state = await queue.cancel_state(job_id)
        if state is None:
            return "lost"
        status, cancel_requested, holder = state
        if holder == worker_id and (cancel_requested or status == "cancelled"):
            return "cancel"
        return "lost"

    async def finish(self, job_id: str, worker_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await QueueRepository(session).release(job_id, worker_id)

    async def fail(self, job_id: str, message: str, worker_id: str | None = None) -> bool:
        async with self._sessions() as session, session.begin():
            return await QueueRepository(session).fail(job_id, message, worker_id)

    async def retry(self, job_id: str, max_attempts: int, worker_id: str | None = None) -> bool:
        async with self._sessions() as session, session.begin():
            queue = QueueRepository(session)
            attempts = await queue.attempts(job_id)
            if attempts >= max_attempts:
                await queue.fail(job_id, f"gave up after {attempts} attempts", worker_id)
                return False
            requeued = await queue.requeue(job_id, worker_id)
        if requeued:
            self._wake.set()
        return requeued

    async def request_cancel(self, job_id: str) -> bool:
        async with self._sessions() as session, session.begin():
            return await QueueRepository(session).request_cancel(job_id)

    async def recover_expired(self, max_attempts: int, sync_grace: float = 60.0) -> Recovered:
        out = Recovered()
        stamp = now()
        async with self._sessions() as session:
            running = await QueueRepository(session).running()
            abandoned = await QueueRepository(session).abandoned_sync(
                stamp - timedelta(seconds=sync_grace)
            )
        for job_id in abandoned:
            if await self.fail(job_id, SYNC_ABANDONED):
                out.failed.append(job_id)
        for job in running:
            # A row without a holder is left by a version before leases, or by a worker
            # that stopped before it could write the outcome: nobody runs it.
            stalled = (
                job.worker_id is None
                or job.lease_expires_at is None
                or job.lease_expires_at <= stamp
                or worker_gone(job.worker_id)
            )
            if not stalled:
                continue
            if job.sync:
                if await self.fail(job.id, SYNC_ABANDONED, job.worker_id):
                    out.failed.append(job.id)
            elif await self.retry(job.id, max_attempts, job.worker_id):
                out.requeued.append(job.id)
            else:
                out.failed.append(job.id)
        return out


def build_queue(settings: Settings, sessions: async_sessionmaker[Any]) -> JobQueue:
    """The queue ``settings`` pick (the embedded one, over the service's database)."""
    return DatabaseQueue(sessions)


def lease_until(lease_seconds: float) -> datetime:
    return now() + timedelta(seconds=lease_seconds)

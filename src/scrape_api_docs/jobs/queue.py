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
``prune_finished``         ``delete_old_jobs``
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
from scrape_api_docs.storage.postgres import is_postgres, libpq_url
from scrape_api_docs.storage.repositories import QueueRepository, now

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
"""The one mapping of a job's priority name to its stored rank (lower runs first)."""
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}

SYNC_ABANDONED = "the server stopped during this synchronous scrape; resubmit it"

JOBS = "jobs"
CONVERSIONS = "conversions"
"""The queues (procrastinate's ``queue`` names): crawl jobs, and conversions of a job's
stored pages into another format (``POST /exports/{job_id}/convert``). Work is named by
its id, ``job_...`` or ``conv_...``, so the calls after ``claim`` need no queue name."""


def is_conversion(work_id: str) -> bool:
    return work_id.startswith("conv_")


Heartbeat = Literal["ok", "cancel", "lost"]
"""``ok``: the lease is extended; ``cancel``: someone asked to cancel the job, stop it;
``lost``: this worker no longer holds the job (its lease expired and it was taken back),
stop it and write nothing."""


@dataclass
class Recovered:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class JobQueue(Protocol):
    async def enqueue(
        self, job_id: str, priority: int, queue: str = JOBS, *, trace: str | None = None
    ) -> None:
        """Make stored work claimable (it wakes a waiting claimer). ``trace``: the W3C
        traceparent of the request that queued it (tracing on), carried with the work to
        the worker that claims it, which reads it back as the job row's ``traceparent``
        (every implementation stores it there, or wherever its worker finds it)."""

    async def claim(self, worker_id: str, lease_seconds: float, queue: str = JOBS) -> str | None:
        """The next work of ``queue`` (priority, then FIFO), now running and held by
        ``worker_id`` for ``lease_seconds``; None when nothing waits. Two claimers never
        get the same work."""

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

    async def prune_finished(self, older_than_hours: int) -> None:
        """Forget work that ended more than ``older_than_hours`` ago, where the queue keeps
        it apart from the jobs table (which stays the record)."""

    async def close(self) -> None:
        """Release what the queue holds open (connections); the last call on it."""


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

    async def enqueue(
        self, job_id: str, priority: int, queue: str = JOBS, *, trace: str | None = None
    ) -> None:
        if queue == JOBS:  # a conversion waits as stored (``processing``, no holder)
            async with self._sessions() as session, session.begin():
                await QueueRepository(session).enqueue(job_id, priority, trace)
        self._wake.set()

    async def claim(self, worker_id: str, lease_seconds: float, queue: str = JOBS) -> str | None:
        # Cleared before looking: an enqueue committed after the look sets it again, so
        # a claimer that found nothing and then waits is woken by it.
        self._wake.clear()
        for _ in range(self._claim_attempts):
            async with self._sessions() as session, session.begin():
                repo = QueueRepository(session)
                until = now() + timedelta(seconds=lease_seconds)
                if queue == CONVERSIONS:
                    work_id = await repo.next_conversion()
                    if work_id is None:
                        return None
                    if await repo.take_conversion(work_id, worker_id, until):
                        return work_id
                    continue
                work_id = await repo.next_queued()
                if work_id is None:
                    return None
                if await repo.take(work_id, worker_id, until):
                    return work_id
            # Another claimer took it between the look and the update: look again.
        self._wake.set()  # still contended: let the caller come straight back
        return None

    async def close(self) -> None:
        """Nothing to release: the service's engine is closed by its owner."""

    async def prune_finished(self, older_than_hours: int) -> None:
        """Nothing to prune: here the jobs table is the queue, and the record."""

    async def wait_for_work(self, seconds: float) -> None:
        # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` swallows a
        # cancel that arrives as the event is set, and a stopping pool would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def heartbeat(self, worker_id: str, job_id: str, lease_seconds: float) -> Heartbeat:
        until = now() + timedelta(seconds=lease_seconds)
        if is_conversion(job_id):
            async with self._sessions() as session, session.begin():
                held = await QueueRepository(session).extend_conversion(job_id, worker_id, until)
            return "ok" if held else "lost"
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
            repo = QueueRepository(session)
            if is_conversion(job_id):
                await repo.release_conversion(job_id, worker_id)
            else:
                await repo.release(job_id, worker_id)

    async def fail(self, job_id: str, message: str, worker_id: str | None = None) -> bool:
        async with self._sessions() as session, session.begin():
            repo = QueueRepository(session)
            if is_conversion(job_id):
                return await repo.fail_conversion(job_id, message, worker_id)
            return await repo.fail(job_id, message, worker_id)

    async def retry(self, job_id: str, max_attempts: int, worker_id: str | None = None) -> bool:
        conversion = is_conversion(job_id)
        async with self._sessions() as session, session.begin():
            queue = QueueRepository(session)
            if conversion:
                attempts = await queue.conversion_attempts(job_id)
            else:
                attempts = await queue.attempts(job_id)
            if attempts >= max_attempts:
                message = f"gave up after {attempts} attempts"
                if conversion:
                    await queue.fail_conversion(job_id, message, worker_id)
                else:
                    await queue.fail(job_id, message, worker_id)
                return False
            if conversion:
                requeued = await queue.release_conversion(job_id, worker_id)
            else:
                requeued = await queue.requeue(job_id, worker_id)
        if requeued:
            self._wake.set()
        return requeued

    async def request_cancel(self, job_id: str) -> bool:
        if is_conversion(job_id):
            return False  # a conversion runs to its end (seconds to minutes)
        async with self._sessions() as session, session.begin():
            return await QueueRepository(session).request_cancel(job_id)

    async def recover_expired(self, max_attempts: int, sync_grace: float = 60.0) -> Recovered:
        out = Recovered()
        stamp = now()
        async with self._sessions() as session:
            running = await QueueRepository(session).running()
            running += await QueueRepository(session).running_conversions()
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
    """The queue ``settings`` pick: it follows the database. PostgreSQL: procrastinate
    (``jobs.queue_pg``); otherwise the embedded one, over the service's database."""
    if is_postgres(settings.database_url):
        from scrape_api_docs.jobs.queue_pg import ProcrastinateQueue

        return ProcrastinateQueue(
            sessions,
            libpq_url(settings.effective_database_url),
            lease_seconds=settings.job_lease_seconds,
        )
    return DatabaseQueue(sessions)


def lease_until(lease_seconds: float) -> datetime:
    return now() + timedelta(seconds=lease_seconds)

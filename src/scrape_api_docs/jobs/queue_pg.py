"""The job queue on PostgreSQL: procrastinate (its job manager over a psycopg connector).

Procrastinate runs a task function in its own worker loop; our workers instead *claim*
work and run it themselves (``JobQueue``). The two meet at procrastinate's job manager,
the layer under its worker, used directly:

==========================  ==========================================================
``JobQueue``                procrastinate
==========================  ==========================================================
``enqueue``                 ``defer_job_async`` (queue ``jobs``/``conversions``, priority,
                            ``queueing_lock`` = the work id: never waiting twice)
``claim``                   ``fetch_job`` for a registered procrastinate worker (one per
                            claimer, ``register_worker``), then our row -> running
``heartbeat``               ``update_heartbeat`` of that worker, and our row's lease
``finish`` / ``fail``       ``finish_job_by_id_async`` (succeeded / failed / aborted)
``retry``, a hand-back      ``retry_job_by_id_async`` (todo again)
``request_cancel``          ``cancel_job_by_id_async(abort=True)``
``wait_for_work``           ``LISTEN`` on procrastinate's channel: its trigger NOTIFYs
                            every deferred job, so a claimer waiting in any process wakes
                            at once (the poll every ``queue_poll_seconds`` stays, as the
                            fallback while the listening connection reconnects)
``recover_expired``         our leases (as embedded), then ``get_stalled_jobs`` (doing,
                            worker without a heartbeat) and ``prune_stalled_workers``
``prune_finished``          ``delete_old_jobs`` (every end: succeeded, failed, aborted)
==========================  ==========================================================

Our jobs table stays the record of each job (its status, attempts and the lease the API and
every worker read); procrastinate holds the order of waiting work and who fetched it. Every
change goes to our row first (conditional, as embedded: that decides who won), then to the
library's job; a library job left behind by a crash between the two is settled by recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker

from scrape_api_docs.jobs.queue import (
    CONVERSIONS,
    JOBS,
    PRIORITY_RANK,
    DatabaseQueue,
    Heartbeat,
    Recovered,
    is_conversion,
    lease_until,
)
from scrape_api_docs.storage.repositories import QueueRepository

TASKS = {JOBS: "scrape_api_docs.scrape", CONVERSIONS: "scrape_api_docs.convert"}
"""procrastinate's task names of our two queues (shown by its admin tools)."""

_ENDED = {"completed": "succeeded", "failed": "failed", "cancelled": "aborted"}
"""Our final status -> procrastinate's."""


UNQUEUED_GRACE = 10.0
"""Seconds stored work may wait to be deferred by the request that stored it."""

CHANNEL = "procrastinate_any_queue_v1"
"""Where procrastinate's trigger announces every job deferred (``job_inserted``); work we
put back to wait (a hand-back, a retry) is announced there by us."""
LISTEN_CHECK = 30.0
"""Seconds without a notification after which the listening connection is checked (a
connection cut without a word from the network would otherwise wait forever)."""

log = structlog.get_logger("queue")


def library_priority(rank: int) -> int:
    """Our rank (0 = urgent runs first) as procrastinate's priority (higher runs first)."""
    return -rank


class ProcrastinateQueue(DatabaseQueue):
    """``JobQueue`` on procrastinate (see the module's docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        conninfo: str,
        lease_seconds: float = 30.0,
        pool_size: int = 4,
        *,
        listen: bool = True,
    ) -> None:
        """``listen``: wake on notifications (off: polling only, as ``bench/queue_wakeup.py``
        compares)."""
        super().__init__(sessions)
        from procrastinate import PsycopgConnector
        from procrastinate.manager import JobManager

        self._conninfo = conninfo
        self._connector = PsycopgConnector(conninfo=conninfo, min_size=1, max_size=pool_size)
        self._listen_on = listen
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        """Set while this queue LISTENs (started by the first ``wait_for_work``)."""
        self._manager = JobManager(self._connector)
        self._lease = lease_seconds
        self._opened = False
        self._opening = asyncio.Lock()
        self._workers: dict[str, int] = {}
        """Our claimer id -> its procrastinate worker id (registered at its first claim)."""

    async def _jobs(self) -> Any:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self._connector.open_async()
                    self._opened = True
        return self._manager

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
            self._listener = None
        if not self._opened:
            return
        with contextlib.suppress(Exception):
            for worker in self._workers.values():
                await self._manager.unregister_worker(worker)
        self._workers.clear()
        await self._connector.close_async()
        self._opened = False

    async def _worker(self, worker_id: str) -> int:
        jobs = await self._jobs()
        if worker_id not in self._workers:
            self._workers[worker_id] = await jobs.register_worker()
        return self._workers[worker_id]

    # --- the interface -----------------------------------------------------------------
    async def enqueue(
        self, job_id: str, priority: int, queue: str = JOBS, *, trace: str | None = None
    ) -> None:
        from procrastinate import exceptions
        from procrastinate.jobs import Job as LibraryJob

        if queue == JOBS:
            async with self._sessions() as session, session.begin():
                if not await QueueRepository(session).enqueue(job_id, priority, trace):
                    return  # cancelled meanwhile
        jobs = await self._jobs()
        try:
            deferred = await jobs.defer_job_async(
                LibraryJob(
                    queue=queue,
                    task_name=TASKS[queue],
                    priority=library_priority(priority),
                    lock=None,
                    queueing_lock=job_id,
                    task_kwargs={"work_id": job_id},
                )
            )
        except exceptions.AlreadyEnqueued:
            return  # already waiting
        async with self._sessions() as session, session.begin():
            await QueueRepository(session).set_queue_ref(
                job_id, int(deferred.id), conversion=queue == CONVERSIONS
            )
        self._wake.set()

    async def claim(self, worker_id: str, lease_seconds: float, queue: str = JOBS) -> str | None:
        self._wake.clear()
        jobs = await self._jobs()
        worker = await self._worker(worker_id)
        await jobs.update_heartbeat(worker)  # idle claimers beat too: never pruned
        for _ in range(self._claim_attempts):
            fetched = await jobs.fetch_job([queue], worker)
            if fetched is None:
                return None
            work_id = str(fetched.task_kwargs["work_id"])
            async with self._sessions() as session, session.begin():
                repo = QueueRepository(session)
                until = lease_until(lease_seconds)
                if queue == CONVERSIONS:
                    taken = await repo.take_conversion(work_id, worker_id, until)
                else:
                    taken = await repo.take(work_id, worker_id, until)
                if taken:
                    await repo.set_queue_ref(
                        work_id, int(fetched.id), conversion=queue == CONVERSIONS
                    )
                    return work_id
                state = await repo.work_state(work_id, conversion=queue == CONVERSIONS)
            # Our row is not claimable (cancelled, finished or deleted meanwhile): settle
            # the library's job and look again.
            status = _ENDED.get(state[0], "aborted") if state else "aborted"
            await self._settle(int(fetched.id), status)
        self._wake.set()
        return None

    async def heartbeat(self, worker_id: str, job_id: str, lease_seconds: float) -> Heartbeat:
        worker = self._workers.get(worker_id)
        if worker is not None:
            with contextlib.suppress(Exception):  # our lease below is what decides
                await (await self._jobs()).update_heartbeat(worker)
        return await super().heartbeat(worker_id, job_id, lease_seconds)

    async def finish(self, job_id: str, worker_id: str) -> None:
        conversion = is_conversion(job_id)
        async with self._sessions() as session, session.begin():
            repo = QueueRepository(session)
            state = await repo.work_state(job_id, conversion=conversion)
            if conversion:
                released = await repo.release_conversion(job_id, worker_id)
            else:
                released = await repo.release(job_id, worker_id)
        if not released or state is None:
            return  # not ours any more (taken back): the new holder settles it
        status, ref = state
        if ref is None:
            return  # never went through the library (a synchronous job)
        if status in _ENDED:
            await self._settle(ref, _ENDED[status])
        elif status in ("queued", "processing"):
            await self._requeue(ref)  # handed back (a stopping worker): waits again

    async def fail(self, job_id: str, message: str, worker_id: str | None = None) -> bool:
        failed = await super().fail(job_id, message, worker_id)
        if failed:
            await self._mirror(job_id)
        return failed

    async def retry(self, job_id: str, max_attempts: int, worker_id: str | None = None) -> bool:
        requeued = await super().retry(job_id, max_attempts, worker_id)
        await self._mirror(job_id)  # waits again, or failed at the attempt limit
        return requeued

    async def request_cancel(self, job_id: str) -> bool:
        cancelled = await super().request_cancel(job_id)
        state = await self._state(job_id) if cancelled else None
        if state is not None and state[1] is not None:
            ref = state[1]
            # todo -> cancelled; doing -> abort requested (our row already says so, and
            # the worker running it sees that at its next heartbeat)
            await (await self._jobs()).cancel_job_by_id_async(ref, abort=True)
        return cancelled

    async def recover_expired(self, max_attempts: int, sync_grace: float = 60.0) -> Recovered:
        out = await super().recover_expired(max_attempts, sync_grace)
        jobs = await self._jobs()
        # Library jobs fetched by a worker that stopped beating, whose row nobody holds (a
        # crash between the fetch and our claim, or between our write and the library's).
        stalled = list(await jobs.get_stalled_jobs(seconds_since_heartbeat=self._lease))
        if stalled:
            async with self._sessions() as session:
                rows = await QueueRepository(session).work_by_ref([int(j.id) for j in stalled])
            for job in stalled:
                _, status = rows.get(int(job.id), ("", "gone"))
                if status == "running":
                    continue  # our lease governs it (recovered above when expired)
                await self._follow(int(job.id), status)
        await jobs.prune_stalled_workers(max(self._lease * 4, 120.0))
        # Work stored but never deferred (the storing process stopped in between), or
        # handed back without the library hearing so: deferred now. Jobs just submitted
        # are left to their own request for a few seconds.
        async with self._sessions() as session:
            waiting = await QueueRepository(session).unqueued_work(lease_until(-UNQUEUED_GRACE))
        for work_id, priority in waiting:
            if is_conversion(work_id):
                await self.enqueue(work_id, PRIORITY_RANK["normal"], CONVERSIONS)
            else:
                await self.enqueue(work_id, priority)
            out.requeued.append(work_id)
        return out

    async def wait_for_work(self, seconds: float) -> None:
        if self._listen_on and (self._listener is None or self._listener.done()):
            # Only processes that claim ever wait: an API replica never listens.
            self._listener = asyncio.create_task(self._listen())
        await super().wait_for_work(seconds)

    async def _listen(self) -> None:
        """Wake this process's claimers on every ``job_inserted`` notification, on a
        connection of its own (LISTEN needs one held open). It reconnects by itself when
        the database restarts; each (re)connection wakes the claimers once, for work
        deferred while nobody listened."""
        import psycopg
        from psycopg import sql

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=5
                ) as connection:
                    await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self._wake.set()
                    self.listening.set()
                    delay = 0.5
                    while True:
                        async for note in connection.notifies(timeout=LISTEN_CHECK):
                            if '"job_inserted"' in note.payload:
                                self._wake.set()
                        await connection.execute("SELECT 1")  # still there?
            except asyncio.CancelledError:
                self.listening.clear()
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("queue_listen_lost", reason=type(exc).__name__, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _announce(self) -> None:
        """Wake the claimers of every process: work waits again (a hand-back, a retry),
        which procrastinate's trigger announces only for new jobs."""
        payload = json.dumps({"type": "job_inserted", "job_id": None})
        with contextlib.suppress(Exception):  # the poll finds it anyway
            await self._connector.execute_query_async(
                "SELECT pg_notify(%(channel)s, %(payload)s)", channel=CHANNEL, payload=payload
            )

    async def prune_finished(self, older_than_hours: int) -> None:
        """procrastinate keeps every finished job (and its events) until deleted: the ones
        that ended more than ``older_than_hours`` ago go, whatever their end."""
        await (await self._jobs()).delete_old_jobs(
            older_than_hours, include_failed=True, include_cancelled=True, include_aborted=True
        )

    # --- the library's side ------------------------------------------------------------
    async def _state(self, work_id: str) -> tuple[str, int | None] | None:
        async with self._sessions() as session:
            return await QueueRepository(session).work_state(
                work_id, conversion=is_conversion(work_id)
            )

    async def _mirror(self, work_id: str) -> None:
        """Bring the library's job to what our row says (after a retry or a failure)."""
        state = await self._state(work_id)
        if state is not None and state[1] is not None:
            await self._follow(state[1], state[0])

    async def _follow(self, ref: int, status: str) -> None:
        if status in ("queued", "processing"):
            await self._requeue(ref)  # waiting again (a conversion: with nobody building it)
        elif status != "running":
            await self._settle(ref, _ENDED.get(status, "aborted"))

    async def _settle(self, ref: int, status: str) -> None:
        """End the library's job (a no-op when it already ended)."""
        from procrastinate.exceptions import ConnectorException
        from procrastinate.jobs import Status

        with contextlib.suppress(ConnectorException):
            await (await self._jobs()).finish_job_by_id_async(ref, Status(status), delete_job=False)

    async def _requeue(self, ref: int) -> None:
        """The library's job waits again (a no-op when it is not running or failed)."""
        from procrastinate.exceptions import ConnectorException

        with contextlib.suppress(ConnectorException):
            await (await self._jobs()).retry_job_by_id_async(ref, retry_at=datetime.now(UTC))
            await self._announce()
        self._wake.set()

"""The job queue's contract, run against every implementation: the embedded one over the
service's own database ("embedded", SQLite), and procrastinate on PostgreSQL ("postgres").

A harness per implementation stores jobs the way the service does and reads back what the
queue did to them; the tests speak only to the ``JobQueue`` interface otherwise.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from scrape_api_docs.jobs.queue import (
    CONVERSIONS,
    PRIORITY_RANK,
    DatabaseQueue,
    JobQueue,
    _process_start,
    new_worker_id,
)
from scrape_api_docs.jobs.queue_pg import ProcrastinateQueue
from scrape_api_docs.storage.db import make_engine, migrate, sessions
from scrape_api_docs.storage.postgres import libpq_url
from scrape_api_docs.storage.repositories import ConversionRepository, JobRepository, now
from scrape_api_docs.storage.tables import Conversion, Job
from tests.support.jobs import queued_job

LONG = 600.0
"""A lease no test outlives."""
SHORT = 0.01
"""A lease every test outlives (it sleeps past it before looking)."""


@dataclass
class Harness:
    """One implementation: ``queue``, a second ``other`` as a second process would see it,
    and the ways to store a job and to read its state back."""

    queue: JobQueue
    other: JobQueue
    sessions: async_sessionmaker[Any]
    engines: list[AsyncEngine]
    seq: int = 0

    async def add(
        self, priority: str = "normal", *, sync: bool = False, enqueue: bool = True
    ) -> str:
        self.seq += 1
        job_id = f"job_{self.seq:04d}"
        async with self.sessions() as session, session.begin():
            JobRepository(session).add(
                queued_job(job_id, self.seq, priority=PRIORITY_RANK[priority], sync=int(sync))
            )
        if not sync and enqueue:
            await self.queue.enqueue(job_id, PRIORITY_RANK[priority])
        return job_id

    async def add_conversion(self, job_id: str) -> str:
        self.seq += 1
        conversion_id = f"conv_{self.seq:04d}"
        async with self.sessions() as session, session.begin():
            ConversionRepository(session).add(
                Conversion(
                    id=conversion_id,
                    job_id=job_id,
                    owner="local",
                    target_format="markdown",
                    options={},
                    status="processing",
                    created_at=now(),
                )
            )
        await self.queue.enqueue(conversion_id, PRIORITY_RANK["normal"], CONVERSIONS)
        return conversion_id

    async def conversion(self, conversion_id: str) -> Conversion:
        async with self.sessions() as session:
            found = await session.scalar(select(Conversion).where(Conversion.id == conversion_id))
        assert found is not None
        return found

    async def row(self, job_id: str) -> Job:
        async with self.sessions() as session:
            job = await session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        return job

    async def set_holder(self, job_id: str, worker_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(Job).where(Job.id == job_id).values(worker_id=worker_id))


async def _database(path: Path) -> tuple[AsyncEngine, async_sessionmaker[Any]]:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    return engine, sessions(engine)


@pytest.fixture(params=["embedded", "postgres"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        engines = [make_engine(url), make_engine(url)]  # two processes, one database
        made, made2 = sessions(engines[0]), sessions(engines[1])
        queues = [
            ProcrastinateQueue(made, libpq_url(url)),
            ProcrastinateQueue(made2, libpq_url(url)),
        ]
        yield Harness(queues[0], queues[1], made, engines)
        for queue in queues:
            await queue.close()
        for each in engines:
            await each.dispose()
        return
    engine, made = await _database(tmp_path / "scraper.db")
    # A second engine on the same file: what another process (a `scrape-docs worker`) has.
    engine2, made2 = await _database(tmp_path / "scraper.db")
    yield Harness(DatabaseQueue(made), DatabaseQueue(made2), made, [engine, engine2])
    for each in (engine, engine2):
        await each.dispose()


async def test_claims_highest_priority_first_then_first_come(harness: Harness) -> None:
    low = await harness.add("low")
    normal1 = await harness.add("normal")
    urgent = await harness.add("urgent")
    high = await harness.add("high")
    normal2 = await harness.add("normal")
    await harness.add("normal", sync=True)  # run in place by its request, never handed out
    worker = new_worker_id()
    claimed = [await harness.queue.claim(worker, LONG) for _ in range(6)]
    assert claimed == [urgent, high, normal1, normal2, low, None]
    job = await harness.row(urgent)
    assert (job.status, job.worker_id, job.attempts) == ("running", worker, 1)


async def test_an_expired_lease_is_taken_back_and_claimed_again(harness: Harness) -> None:
    first, second = new_worker_id(), new_worker_id()
    kept = await harness.add()
    expiring = await harness.add()
    assert await harness.queue.claim(first, LONG) == kept
    assert await harness.queue.claim(first, SHORT) == expiring
    await asyncio.sleep(SHORT * 10)

    recovered = await harness.other.recover_expired(max_attempts=3)
    assert (recovered.requeued, recovered.failed) == ([expiring], [])
    assert (await harness.row(kept)).status == "running"  # its lease holds: left alone
    assert await harness.other.claim(second, LONG) == expiring
    assert (await harness.row(expiring)).attempts == 2

    # The first worker lost it: its heartbeat says so, and its finish releases nothing.
    assert await harness.queue.heartbeat(first, expiring, LONG) == "lost"
    await harness.queue.finish(expiring, first)
    assert (await harness.row(expiring)).worker_id == second
    assert await harness.other.heartbeat(second, expiring, LONG) == "ok"


async def test_heartbeats_keep_the_lease(harness: Harness) -> None:
    worker = new_worker_id()
    job_id = await harness.add()
    assert await harness.queue.claim(worker, SHORT) == job_id
    assert await harness.queue.heartbeat(worker, job_id, LONG) == "ok"
    await asyncio.sleep(SHORT * 10)  # past the claim's lease, not the heartbeat's
    recovered = await harness.other.recover_expired(max_attempts=3)
    assert (recovered.requeued, recovered.failed) == ([], [])
    job = await harness.row(job_id)
    assert (job.status, job.worker_id) == ("running", worker)


async def test_a_dead_local_worker_is_recovered_without_waiting_for_its_lease(
    harness: Harness,
) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = _process_start(child.pid)
    child.wait()
    job_id = await harness.add()
    assert await harness.queue.claim(new_worker_id(), LONG) == job_id
    host = new_worker_id().split(":")[0]
    await harness.set_holder(job_id, f"{host}:{child.pid}:{start or ''}:1-dead00")
    recovered = await harness.other.recover_expired(max_attempts=3)
    assert recovered.requeued == [job_id]
    assert (await harness.row(job_id)).status == "queued"


async def test_retries_are_bounded_by_the_attempts_stored_with_the_job(
    harness: Harness,
) -> None:
    worker = new_worker_id()
    job_id = await harness.add()
    assert await harness.queue.claim(worker, LONG) == job_id
    assert await harness.queue.retry(job_id, max_attempts=2, worker_id=worker) is True
    assert (await harness.row(job_id)).status == "queued"
    assert await harness.other.claim(worker, LONG) == job_id
    assert await harness.queue.retry(job_id, max_attempts=2, worker_id=worker) is False
    job = await harness.row(job_id)
    assert (job.status, job.error_message, job.attempts) == (
        "failed",
        "gave up after 2 attempts",
        2,
    )
    assert await harness.queue.claim(worker, LONG) is None


async def test_recovery_fails_a_stalled_job_at_the_attempt_limit(harness: Harness) -> None:
    job_id = await harness.add()
    for attempt in (1, 2):
        assert await harness.queue.claim(new_worker_id(), SHORT) == job_id
        await asyncio.sleep(SHORT * 10)
        recovered = await harness.other.recover_expired(max_attempts=2)
        expected = ([job_id], []) if attempt == 1 else ([], [job_id])
        assert (recovered.requeued, recovered.failed) == expected
    job = await harness.row(job_id)
    assert (job.status, job.error_message) == ("failed", "gave up after 2 attempts")


async def test_cancelling_a_queued_job_means_it_is_never_claimed(harness: Harness) -> None:
    job_id = await harness.add()
    assert await harness.other.request_cancel(job_id) is True
    assert await harness.queue.claim(new_worker_id(), LONG) is None
    assert (await harness.row(job_id)).status == "cancelled"
    assert await harness.other.request_cancel(job_id) is False  # already finished


async def test_cancelling_a_running_job_reaches_its_worker_at_the_next_heartbeat(
    harness: Harness,
) -> None:
    worker = new_worker_id()
    job_id = await harness.add()
    assert await harness.queue.claim(worker, LONG) == job_id
    assert await harness.queue.heartbeat(worker, job_id, LONG) == "ok"
    assert await harness.other.request_cancel(job_id) is True  # from another process
    assert await harness.queue.heartbeat(worker, job_id, LONG) == "cancel"
    await harness.queue.finish(job_id, worker)
    job = await harness.row(job_id)
    assert (job.status, job.worker_id) == ("cancelled", None)
    recovered = await harness.queue.recover_expired(max_attempts=3)
    assert (recovered.requeued, recovered.failed) == ([], [])


async def test_two_consumers_never_claim_the_same_job(harness: Harness) -> None:
    jobs = [await harness.add() for _ in range(40)]
    claims: Counter[str] = Counter()

    async def consume(queue: JobQueue) -> None:
        worker = new_worker_id()
        while (job_id := await queue.claim(worker, LONG)) is not None:
            claims[job_id] += 1
            await asyncio.sleep(0)

    # Eight claimers in each of two "processes" (two engines on one database file).
    await asyncio.gather(*(consume(q) for q in (harness.queue, harness.other) for _ in range(8)))
    assert sorted(claims) == sorted(jobs)
    assert set(claims.values()) == {1}
    for job_id in jobs:
        assert (await harness.row(job_id)).attempts == 1


async def test_an_enqueue_wakes_a_waiting_claimer_in_the_same_process(
    harness: Harness,
) -> None:
    worker = new_worker_id()
    assert await harness.queue.claim(worker, LONG) is None
    waiting = asyncio.create_task(harness.queue.wait_for_work(LONG))
    await asyncio.sleep(0)
    job_id = await harness.add()
    await asyncio.wait_for(waiting, 30)  # woken, not left to its 600 s timeout
    assert await harness.queue.claim(worker, LONG) == job_id


async def test_work_deferred_by_another_process_wakes_a_waiting_claimer(
    harness: Harness,
) -> None:
    """PostgreSQL: LISTEN/NOTIFY. The claimer waits up to 600 s (its poll interval, in
    effect); the other process's enqueue wakes it within seconds. Embedded, work from
    another process is found by polling only (SQLite cannot notify)."""
    if not isinstance(harness.other, ProcrastinateQueue):
        pytest.skip("embedded: work enqueued by another process is found by polling")
    worker = new_worker_id()
    first = asyncio.create_task(harness.other.wait_for_work(0))  # starts its listener
    await asyncio.wait_for(harness.other.listening.wait(), 30)
    await first
    assert await harness.other.claim(worker, LONG) is None  # (clears its wake-up)
    waiting = asyncio.create_task(harness.other.wait_for_work(LONG))
    job_id = await harness.add()  # through ``harness.queue``: another process
    await asyncio.wait_for(waiting, 30)  # woken by the notification, not its 600 s timeout
    assert await harness.other.claim(worker, LONG) == job_id

    # Work put back to wait (a hand-back) wakes the other process too.
    assert await harness.other.claim(worker, LONG) is None
    waiting = asyncio.create_task(harness.other.wait_for_work(LONG))
    second = new_worker_id()
    assert await harness.queue.retry(job_id, max_attempts=5, worker_id=worker)
    await asyncio.wait_for(waiting, 30)
    assert await harness.other.claim(second, LONG) == job_id


async def _library_rows(harness: Harness) -> dict[str, str]:
    """procrastinate's jobs (work id -> its status); none in the embedded queue."""
    if not isinstance(harness.queue, ProcrastinateQueue):
        return {}
    async with harness.sessions() as session:
        rows = await session.execute(
            text("SELECT args->>'work_id', status::text FROM procrastinate_jobs")
        )
    return {work_id: status for work_id, status in rows.all()}


async def test_pruning_forgets_finished_work_only_past_its_age(harness: Harness) -> None:
    """The queue library's rows of work that ended (succeeded, failed) go once older than
    asked; waiting work stays, and the jobs table (the record) is never touched."""
    worker = new_worker_id()
    done, broken = await harness.add(), await harness.add()
    assert await harness.queue.claim(worker, LONG) == done
    async with harness.sessions() as session, session.begin():
        await JobRepository(session).update(done, status="completed")
    await harness.queue.finish(done, worker)
    assert await harness.queue.claim(worker, LONG) == broken
    assert await harness.queue.fail(broken, "boom", worker)
    waiting = await harness.add()
    before = await _library_rows(harness)

    await harness.other.prune_finished(24)  # ended seconds ago: kept
    assert await _library_rows(harness) == before
    await harness.other.prune_finished(0)
    after = await _library_rows(harness)
    if isinstance(harness.queue, ProcrastinateQueue):
        assert before == {done: "succeeded", broken: "failed", waiting: "todo"}, before
        assert after == {waiting: "todo"}, after
    else:  # embedded: the jobs table is the queue, nothing is kept apart to prune
        assert before == after == {}
    statuses = [(await harness.row(j)).status for j in (done, broken, waiting)]
    assert statuses == ["completed", "failed", "queued"]
    assert await harness.other.claim(worker, LONG) == waiting  # still claimable


async def test_conversions_are_queued_work_with_leases_too(harness: Harness) -> None:
    """A conversion waits in its own queue, is claimed once, and one whose worker stopped
    beating is claimed again (it never stays ``processing`` with nobody building it)."""
    job_id = await harness.add()
    first, second = new_worker_id(), new_worker_id()
    assert await harness.queue.claim(first, LONG) == job_id  # the jobs queue: the job only
    assert await harness.queue.claim(first, LONG) is None
    conversion_id = await harness.add_conversion(job_id)
    assert await harness.queue.claim(first, SHORT, CONVERSIONS) == conversion_id
    assert await harness.other.claim(second, LONG, CONVERSIONS) is None
    await asyncio.sleep(SHORT * 10)
    recovered = await harness.other.recover_expired(max_attempts=3)
    assert recovered.requeued == [conversion_id]
    assert await harness.other.claim(second, LONG, CONVERSIONS) == conversion_id
    assert await harness.queue.heartbeat(first, conversion_id, LONG) == "lost"
    assert await harness.other.heartbeat(second, conversion_id, LONG) == "ok"
    await harness.other.finish(conversion_id, second)
    found = await harness.conversion(conversion_id)
    assert (found.worker_id, found.attempts) == (None, 2)


async def test_a_job_stored_but_never_enqueued_is_not_lost(harness: Harness) -> None:
    """The process that stored the job stopped before handing it to the queue: recovery
    (in any process) makes it claimable."""
    job_id = await harness.add(enqueue=False)
    async with harness.sessions() as session, session.begin():
        await session.execute(
            update(Job).where(Job.id == job_id).values(updated_at=now() - timedelta(minutes=1))
        )
    await harness.other.recover_expired(max_attempts=3)
    assert await harness.queue.claim(new_worker_id(), LONG) == job_id
    assert await harness.other.claim(new_worker_id(), LONG) is None


async def test_a_worker_pool_prunes_the_library_rows_by_itself(
    postgres_url: str, tmp_path: Path
) -> None:
    """The pool's periodic round (``queue_prune_hours`` 0 here: every finished row goes):
    procrastinate's row of a finished job is deleted without anyone asking; the job's own
    row stays."""
    from scrape_api_docs.jobs.parts import job_system
    from scrape_api_docs.settings import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        queue_prune_hours=0,
        extract_processes=1,
    )
    async with job_system(settings, 1, service="worker") as pool:
        harness = Harness(pool.ctx.queue, pool.ctx.queue, pool.ctx.sessions, [])
        worker = new_worker_id()
        job_id = await harness.add()
        assert await harness.queue.claim(worker, LONG) == job_id
        async with harness.sessions() as session, session.begin():
            await JobRepository(session).update(job_id, status="completed")
        await harness.queue.finish(job_id, worker)
        assert await _library_rows(harness) == {job_id: "succeeded"}
        pool.start()
        for _ in range(600):  # the first round comes RECOVER_EVERY (5 s) after the start
            if not await _library_rows(harness):
                break
            await asyncio.sleep(0.1)
        assert await _library_rows(harness) == {}
        assert (await harness.row(job_id)).status == "completed"

"""All SQL of the service. Every query that reads a tenant's data filters by its owner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Select, column, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from scrape_api_docs.storage.changes import touch
from scrape_api_docs.storage.tables import ApiKey, Artifact, Conversion, Credential, Job, JobLog

SORTABLE = {"created_at": Job.created_at, "updated_at": Job.updated_at, "duration": Job.duration}


def now() -> datetime:
    return datetime.now(UTC)


# --- statements shared by the async repositories and the one-hop sync reads ---------------
def _job_query(job_id: str, owner: str | None) -> Select[Job]:
    query = select(Job).where(Job.id == job_id)
    return query.where(Job.owner == owner) if owner is not None else query


@dataclass(frozen=True)
class JobListQuery:
    """One page of a job list: which jobs, in which order (hashable: a cache key too)."""

    status: str | None = None
    limit: int = 20
    offset: int = 0
    sort: str = "created_at"
    order: str = "desc"


def _list_queries(owner: str, q: JobListQuery) -> tuple[Select[int], Select[Job]]:
    query = select(Job).where(Job.owner == owner)
    if q.status:
        query = query.where(Job.status == q.status)
    count = select(func.count()).select_from(query.subquery())
    column = SORTABLE[q.sort]
    # Ties (and equal NULL durations) fall back to submission order, in the same
    # direction, so pages never overlap or skip rows.
    ascending = q.order == "asc"
    ordering = (column.asc(), Job.seq.asc()) if ascending else (column.desc(), Job.seq.desc())
    return count, query.order_by(*ordering).limit(q.limit).offset(q.offset)


class LogLine(NamedTuple):
    timestamp: datetime
    level: str
    message: str


def _recent_logs_query(job_id: str, limit: int) -> Select[datetime, str, str]:
    # By the time each line happened (buffered lines can be written after a later,
    # direct one), then by insertion order; plain rows, not ORM objects (a poll reads 50).
    return (
        select(JobLog.timestamp, JobLog.level, JobLog.message)
        .where(JobLog.job_id == job_id)
        .order_by(JobLog.timestamp.desc(), JobLog.id.desc())
        .limit(limit)
    )


def _artifacts_query(job_id: str) -> Select[Artifact]:
    return select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id)


def _formats_query(job_ids: Sequence[str]) -> Select[str, str]:
    return select(Artifact.job_id, Artifact.format).where(Artifact.job_id.in_(job_ids))


def _formats(rows: Any) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for job_id, fmt in rows:
        found.setdefault(job_id, set()).add(fmt)
    return {job_id: sorted(formats) for job_id, formats in found.items()}


def read_job_view(
    session: Session, job_id: str, owner: str, log_limit: int
) -> tuple[Job, list[Artifact], list[LogLine]] | None:
    """A job with its artifacts and newest logs (newest last), or None if not the owner's."""
    job = session.execute(_job_query(job_id, owner)).scalar_one_or_none()
    if job is None:
        return None
    artifacts = list(session.execute(_artifacts_query(job_id)).scalars().all())
    rows = session.execute(_recent_logs_query(job_id, log_limit)).all()
    logs = [LogLine(*row) for row in reversed(rows)]
    return job, artifacts, logs


def read_job_page(
    session: Session, owner: str, query: JobListQuery
) -> tuple[list[tuple[Job, list[str]]], int]:
    """One page of the owner's jobs, each with its export formats, and the total."""
    count, page = _list_queries(owner, query)
    total = int(session.scalar(count) or 0)
    jobs = list(session.execute(page).scalars().all())
    formats = _formats(session.execute(_formats_query([j.id for j in jobs]))) if jobs else {}
    return [(job, formats.get(job.id, [])) for job in jobs], total


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_seq(self) -> int:
        """The next job number: from a sequence on PostgreSQL (replicas submitting at once
        never share one); max+1 on SQLite, where one writer at a time holds the file."""
        if self.session.get_bind().dialect.name == "postgresql":
            return int(await self.session.scalar(select(func.nextval("job_numbers"))) or 0)
        value = await self.session.scalar(select(func.max(Job.seq)))
        return int(value or 0) + 1

    def add(self, job: Job) -> None:
        self.session.add(job)
        touch(self.session, job.id)

    async def get(self, job_id: str, owner: str | None = None) -> Job | None:
        return (await self.session.execute(_job_query(job_id, owner))).scalar_one_or_none()

    async def count_by_status(self, owner: str | None = None) -> dict[str, int]:
        """Jobs per status: ``owner``'s, or every owner's (None: the operator's metrics)."""
        query = select(Job.status, func.count()).group_by(Job.status)
        if owner is not None:
            query = query.where(Job.owner == owner)
        rows = await self.session.execute(query)
        return {status: int(count) for status, count in rows.all()}

    async def ids(self, owner: str) -> Sequence[str]:
        return (
            (await self.session.execute(select(Job.id).where(Job.owner == owner))).scalars().all()
        )

    async def queued_count(self) -> int:
        value = await self.session.scalar(
            select(func.count()).select_from(Job).where(Job.status == "queued")
        )
        return int(value or 0)

    async def update(self, job_id: str, **values: Any) -> None:
        values.setdefault("updated_at", now())
        touch(self.session, job_id)
        await self.session.execute(update(Job).where(Job.id == job_id).values(**values))

    async def claim(self, job_id: str, worker_id: str, lease_until: datetime) -> bool:
        """queued -> running, once, held by ``worker_id`` until ``lease_until``: False if
        someone else took it or it was cancelled. (Jobs run in place, the synchronous ones;
        queued work is claimed through ``QueueRepository.take``.)"""
        return await QueueRepository(self.session).take(job_id, worker_id, lease_until)

    async def delete(self, job_id: str) -> None:
        touch(self.session, job_id)
        await self.session.execute(delete(JobLog).where(JobLog.job_id == job_id))
        await self.session.execute(delete(Artifact).where(Artifact.job_id == job_id))
        await self.session.execute(delete(Conversion).where(Conversion.job_id == job_id))
        await self.session.execute(delete(Job).where(Job.id == job_id))

    async def performance(self, owner: str | None = None) -> dict[str, float]:
        query = select(func.avg(Job.duration), func.count()).where(Job.status == "completed")
        if owner is not None:
            query = query.where(Job.owner == owner)
        row = (await self.session.execute(query)).one()
        return {"avg_job_duration": float(row[0] or 0.0), "completed": float(row[1] or 0)}

    async def completed_statistics(self, owner: str | None = None) -> Sequence[dict[str, Any]]:
        query = select(Job.statistics).where(Job.status.in_(("completed", "failed", "cancelled")))
        if owner is not None:
            query = query.where(Job.owner == owner)
        rows = await self.session.execute(query)
        return rows.scalars().all()


class LeasedJob(NamedTuple):
    id: str
    worker_id: str | None
    lease_expires_at: datetime | None
    attempts: int
    sync: int


class QueueRepository:
    """The queue's SQL over the jobs table: what the embedded ``DatabaseQueue`` runs.

    Written in SQLAlchemy Core so it runs on PostgreSQL too (where picking the next job
    skips rows another claimer holds locked); every state change is a conditional update,
    so two claimers never both get one job.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, job_id: str, priority: int, trace: str | None = None) -> bool:
        """Make a stored job claimable at ``priority`` (it is already queued, or was
        handed back), with the traceparent its worker continues (kept when None); False
        when it is not queued (cancelled meanwhile)."""
        values: dict[str, Any] = {"priority": priority, "worker_id": None, "lease_expires_at": None}
        if trace is not None:
            values["traceparent"] = trace
        result = await self.session.execute(
            update(Job).where(Job.id == job_id, Job.status == "queued").values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def next_queued(self) -> str | None:
        """The next job to run: highest priority first, then first come first served.
        Synchronous jobs are run in place by their request, never handed out."""
        return await self.session.scalar(
            select(Job.id)
            .where(Job.status == "queued", Job.sync == 0, Job.cancel_requested == 0)
            .order_by(Job.priority, Job.seq)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def take(self, job_id: str, worker_id: str, lease_until: datetime) -> bool:
        """queued -> running for ``worker_id``, counting the attempt; False if the job is
        no longer queued (another claimer won, or it was cancelled)."""
        touch(self.session, job_id)
        stamp = now()
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued", Job.cancel_requested == 0)
            .values(
                status="running",
                started_at=stamp,
                updated_at=stamp,
                attempts=Job.attempts + 1,
                worker_id=worker_id,
                lease_expires_at=lease_until,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def extend(self, job_id: str, worker_id: str, lease_until: datetime) -> bool:
        """The heartbeat: extend the lease of a running job ``worker_id`` still holds and
        nobody asked to cancel; False otherwise."""
        result = await self.session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.worker_id == worker_id,
                Job.status == "running",
                Job.cancel_requested == 0,
            )
            .values(lease_expires_at=lease_until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def cancel_state(self, job_id: str) -> tuple[str, int, str | None] | None:
        """(status, cancel_requested, worker_id) of a job, None when it is gone."""
        row = (
            await self.session.execute(
                select(Job.status, Job.cancel_requested, Job.worker_id).where(Job.id == job_id)
            )
        ).one_or_none()
        return None if row is None else (row[0], int(row[1]), row[2])

    async def release(self, job_id: str, worker_id: str) -> bool:
        """The worker is done with the job (its outcome is written): drop its lease; False
        when ``worker_id`` no longer held it."""
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker_id == worker_id)
            .values(worker_id=None, lease_expires_at=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- the queue library's handle of stored work (PostgreSQL: procrastinate's job id) --
    async def set_queue_ref(self, work_id: str, ref: int, *, conversion: bool) -> None:
        table = Conversion if conversion else Job
        await self.session.execute(update(table).where(table.id == work_id).values(queue_ref=ref))

    async def work_state(self, work_id: str, *, conversion: bool) -> tuple[str, int | None] | None:
        """(status, queue_ref) of a job or conversion, None when it is gone."""
        table = Conversion if conversion else Job
        row = (
            await self.session.execute(
                select(table.status, table.queue_ref).where(table.id == work_id)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def unqueued_work(self, before: datetime) -> list[tuple[str, int]]:
        """(id, priority) of waiting work (queued jobs, conversions nobody builds) last
        changed before ``before`` that procrastinate does not hold as waiting or running:
        never handed to it (the process that stored it stopped first) or handed back
        without it hearing so. PostgreSQL only (it reads procrastinate's table)."""
        library = text(
            "SELECT id FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        ).columns(column("id", BigInteger))
        held = library.subquery()
        jobs = await self.session.execute(
            select(Job.id, Job.priority).where(
                Job.status == "queued",
                Job.sync == 0,
                Job.cancel_requested == 0,
                Job.updated_at < before,
                or_(Job.queue_ref.is_(None), Job.queue_ref.not_in(select(held.c.id))),
            )
        )
        conversions = await self.session.execute(
            select(Conversion.id).where(
                Conversion.status == "processing",
                Conversion.worker_id.is_(None),
                Conversion.created_at < before,
                or_(Conversion.queue_ref.is_(None), Conversion.queue_ref.not_in(select(held.c.id))),
            )
        )
        return [(r[0], int(r[1])) for r in jobs.all()] + [(r[0], -1) for r in conversions.all()]

    async def work_by_ref(self, refs: Sequence[int]) -> dict[int, tuple[str, str]]:
        """queue_ref -> (work id, status) of the jobs and conversions with those refs."""
        found: dict[int, tuple[str, str]] = {}
        for table in (Job, Conversion):
            rows = await self.session.execute(
                select(table.queue_ref, table.id, table.status).where(table.queue_ref.in_(refs))
            )
            found.update({int(r[0] or 0): (r[1], r[2]) for r in rows.all()})
        return found

    async def request_cancel(self, job_id: str) -> bool:
        """queued/running -> cancelled, with the request stored for the worker running it;
        False when it has finished meanwhile."""
        touch(self.session, job_id)
        stamp = now()
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(("queued", "running")))
            .values(status="cancelled", cancel_requested=1, completed_at=stamp, updated_at=stamp)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def running(self) -> list[LeasedJob]:
        """Every running job with its lease (recovery picks the stalled ones)."""
        rows = await self.session.execute(
            select(Job.id, Job.worker_id, Job.lease_expires_at, Job.attempts, Job.sync)
            .where(Job.status == "running")
            .order_by(Job.priority, Job.seq)
        )
        return [LeasedJob(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows.all()]

    async def busy_workers(self, stamp: datetime) -> int:
        """Worker processes holding a live lease on a job or a conversion at ``stamp``
        (one ``worker_id`` per process): the cluster's busy workers, whoever asks."""
        holders: set[str] = set()
        for table in (Job, Conversion):
            rows = await self.session.execute(
                select(table.worker_id)
                .where(table.worker_id.is_not(None), table.lease_expires_at > stamp)
                .distinct()
            )
            holders.update(str(row[0]) for row in rows.all())
        return len(holders)

    async def abandoned_sync(self, created_before: datetime) -> list[str]:
        """Synchronous jobs queued again after a run (handed back by a stopping server),
        or never claimed long after submission: their request is gone either way."""
        rows = await self.session.execute(
            select(Job.id).where(
                Job.status == "queued",
                Job.sync == 1,
                or_(Job.attempts > 0, Job.created_at < created_before),
            )
        )
        return list(rows.scalars().all())

    async def requeue(self, job_id: str, worker_id: str | None) -> bool:
        """running -> queued, only while ``worker_id`` (the stalled holder) still has it."""
        touch(self.session, job_id)
        held = Job.worker_id.is_(None) if worker_id is None else Job.worker_id == worker_id
        result = await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running", held)
            .values(status="queued", worker_id=None, lease_expires_at=None, updated_at=now())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def fail(self, job_id: str, message: str, worker_id: str | None = None) -> bool:
        """queued/running -> failed with ``message`` (for a running job: only while
        ``worker_id`` holds it, when given)."""
        touch(self.session, job_id)
        stamp = now()
        query = update(Job).where(Job.id == job_id, Job.status.in_(("queued", "running")))
        if worker_id is not None:
            query = query.where(Job.worker_id == worker_id)
        result = await self.session.execute(
            query.values(
                status="failed",
                error_message=message,
                completed_at=stamp,
                updated_at=stamp,
                worker_id=None,
                lease_expires_at=None,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def attempts(self, job_id: str) -> int:
        return int(await self.session.scalar(select(Job.attempts).where(Job.id == job_id)) or 0)

    # --- conversions: ``processing`` and no holder = waiting; with a holder = running ----
    async def next_conversion(self) -> str | None:
        return await self.session.scalar(
            select(Conversion.id)
            .where(Conversion.status == "processing", Conversion.worker_id.is_(None))
            .order_by(Conversion.created_at, Conversion.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def take_conversion(
        self, conversion_id: str, worker_id: str, lease_until: datetime
    ) -> bool:
        result = await self.session.execute(
            update(Conversion)
            .where(
                Conversion.id == conversion_id,
                Conversion.status == "processing",
                Conversion.worker_id.is_(None),
            )
            .values(
                worker_id=worker_id,
                lease_expires_at=lease_until,
                attempts=Conversion.attempts + 1,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def extend_conversion(
        self, conversion_id: str, worker_id: str, lease_until: datetime
    ) -> bool:
        result = await self.session.execute(
            update(Conversion)
            .where(
                Conversion.id == conversion_id,
                Conversion.worker_id == worker_id,
                Conversion.status == "processing",
            )
            .values(lease_expires_at=lease_until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_conversion(self, conversion_id: str, worker_id: str | None) -> bool:
        """Drop the holder's lease: the conversion waits again if still ``processing``."""
        held = (
            Conversion.worker_id.is_not(None)
            if worker_id is None
            else Conversion.worker_id == worker_id
        )
        result = await self.session.execute(
            update(Conversion)
            .where(Conversion.id == conversion_id, held)
            .values(worker_id=None, lease_expires_at=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def running_conversions(self) -> list[LeasedJob]:
        rows = await self.session.execute(
            select(
                Conversion.id,
                Conversion.worker_id,
                Conversion.lease_expires_at,
                Conversion.attempts,
            ).where(Conversion.status == "processing", Conversion.worker_id.is_not(None))
        )
        return [LeasedJob(r[0], r[1], r[2], int(r[3]), 0) for r in rows.all()]

    async def conversion_attempts(self, conversion_id: str) -> int:
        value = await self.session.scalar(
            select(Conversion.attempts).where(Conversion.id == conversion_id)
        )
        return int(value or 0)

    async def fail_conversion(
        self, conversion_id: str, message: str, worker_id: str | None = None
    ) -> bool:
        query = update(Conversion).where(
            Conversion.id == conversion_id, Conversion.status == "processing"
        )
        if worker_id is not None:
            query = query.where(Conversion.worker_id == worker_id)
        result = await self.session.execute(
            query.values(
                status="failed",
                error_message=message,
                completed_at=now(),
                worker_id=None,
                lease_expires_at=None,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class LogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        job_id: str,
        level: str,
        message: str,
        limit: int,
        timestamp: datetime | None = None,
    ) -> None:
        """Record one log line; ``timestamp`` is when it happened (default: now), which
        for buffered lines is earlier than the write."""
        touch(self.session, job_id)
        self.session.add(
            JobLog(job_id=job_id, timestamp=timestamp or now(), level=level, message=message)
        )
        await self.session.flush()
        # Bounded per job: keep the newest ``limit`` entries.
        cutoff = await self.session.scalar(
            select(JobLog.id)
            .where(JobLog.job_id == job_id)
            .order_by(JobLog.id.desc())
            .offset(limit)
            .limit(1)
        )
        if cutoff is not None:
            await self.session.execute(
                delete(JobLog).where(JobLog.job_id == job_id, JobLog.id <= cutoff)
            )


class ArtifactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_job(self, job_id: str) -> Sequence[Artifact]:
        return (await self.session.execute(_artifacts_query(job_id))).scalars().all()

    async def by_name(self, job_id: str, filename: str) -> Artifact | None:
        rows = await self.session.execute(
            select(Artifact).where(Artifact.job_id == job_id, Artifact.filename == filename)
        )
        return rows.scalar_one_or_none()

    async def replace(self, artifact: Artifact) -> None:
        touch(self.session, artifact.job_id)
        await self.session.execute(
            delete(Artifact).where(
                Artifact.job_id == artifact.job_id, Artifact.filename == artifact.filename
            )
        )
        self.session.add(artifact)

    async def delete_for_job(self, job_id: str) -> None:
        touch(self.session, job_id)
        await self.session.execute(delete(Artifact).where(Artifact.job_id == job_id))

    async def total_bytes(self, owner: str | None = None) -> int:
        query = select(func.sum(Artifact.size_bytes))
        if owner is not None:
            query = query.join(Job, Job.id == Artifact.job_id).where(Job.owner == owner)
        return int(await self.session.scalar(query) or 0)


class CredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, credential: Credential) -> None:
        self.session.add(credential)

    async def list(self, owner: str) -> Sequence[Credential]:
        rows = await self.session.execute(
            select(Credential).where(Credential.owner == owner).order_by(Credential.created_at)
        )
        return rows.scalars().all()

    async def for_domain(self, owner: str, domain: str) -> Sequence[Credential]:
        rows = await self.session.execute(
            select(Credential).where(Credential.owner == owner, Credential.domain == domain)
        )
        return [c for c in rows.scalars().all() if c.expires_at is None or c.expires_at > now()]

    async def delete(self, owner: str, credential_id: str) -> bool:
        result = await self.session.execute(
            delete(Credential).where(Credential.id == credential_id, Credential.owner == owner)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class KeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        rows = await self.session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))
        return rows.scalar_one_or_none()

    async def get(self, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def count(self) -> int:
        """Keys on record, revoked ones included: the server is keyless only at 0."""
        return int(await self.session.scalar(select(func.count()).select_from(ApiKey)) or 0)

    async def delete(self, key_id: str) -> None:
        await self.session.execute(delete(ApiKey).where(ApiKey.id == key_id))

    async def active_count(self) -> int:
        value = await self.session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
        return int(value or 0)

    async def all(self) -> Sequence[ApiKey]:
        return (
            (await self.session.execute(select(ApiKey).order_by(ApiKey.created_at))).scalars().all()
        )


class ConversionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, conversion: Conversion) -> None:
        self.session.add(conversion)

    async def get(self, conversion_id: str, owner: str | None = None) -> Conversion | None:
        query = select(Conversion).where(Conversion.id == conversion_id)
        if owner is not None:
            query = query.where(Conversion.owner == owner)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def update(self, conversion_id: str, **values: Any) -> None:
        await self.session.execute(
            update(Conversion).where(Conversion.id == conversion_id).values(**values)
        )


async def reassign_owner(session: AsyncSession, old: str, new: str) -> int:
    """Hand every job, credential and conversion of ``old`` to ``new``; how many jobs."""
    jobs = await session.execute(update(Job).where(Job.owner == old).values(owner=new))
    await session.execute(update(Credential).where(Credential.owner == old).values(owner=new))
    await session.execute(update(Conversion).where(Conversion.owner == old).values(owner=new))
    return int(jobs.rowcount)  # type: ignore[attr-defined]


async def rotate_secrets(session: AsyncSession, rotate: Callable[[str], str]) -> int:
    """Rewrite every stored secret (keys' webhook secrets, credentials, jobs' credentials
    and webhook secrets) with ``rotate``; how many values were rewritten."""
    count = 0
    for key in (await session.execute(select(ApiKey))).scalars():
        if key.webhook_secret_enc:
            key.webhook_secret_enc = rotate(key.webhook_secret_enc)
            count += 1
    for credential in (await session.execute(select(Credential))).scalars():
        credential.ciphertext = rotate(credential.ciphertext)
        count += 1
    for job in (await session.execute(select(Job))).scalars():
        if job.auth_enc:
            job.auth_enc = rotate(job.auth_enc)
            count += 1
        if job.webhook_secret_enc:
            job.webhook_secret_enc = rotate(job.webhook_secret_enc)
            count += 1
    return count

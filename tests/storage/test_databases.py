"""One schema, two databases: the Alembic migrations and the repositories behave the same on
SQLite (the embedded default) and on PostgreSQL (scale-out; skipped, saying why, where no
server answers). Job numbers come from a sequence on PostgreSQL: submissions at once from
several processes never share one."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from scrape_api_docs.storage.db import (
    MIGRATIONS,
    Reader,
    head_revision,
    make_engine,
    migrate,
    sessions,
)
from scrape_api_docs.storage.repositories import (
    ArtifactRepository,
    CredentialRepository,
    JobRepository,
    KeyRepository,
    LogRepository,
    now,
    read_job_view,
    reassign_owner,
)
from scrape_api_docs.storage.tables import ApiKey, Artifact, Credential, Job
from tests.support import postgres
from tests.support.jobs import queued_job


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scraper.db'}"
        return
    with postgres.database() as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = make_engine(database_url)
    await migrate(made)
    yield made
    await made.dispose()


def _alembic(connection: Connection, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


OURS = {"api_keys", "credentials", "jobs", "artifacts", "conversions", "job_logs", "pages"}


async def test_migrations_go_down_and_up_again(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        assert await connection.run_sync(_tables) >= OURS
        await connection.run_sync(_alembic, "downgrade", "base")
        assert not (OURS & await connection.run_sync(_tables))
    await migrate(engine)  # from nothing again (procrastinate's schema: already there)
    await migrate(engine)  # and idempotent
    async with engine.begin() as connection:
        tables = await connection.run_sync(_tables)
    assert tables >= OURS
    if engine.dialect.name == "postgresql":
        assert {"procrastinate_jobs", "procrastinate_workers"} <= tables


def test_head_revision_is_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


MIGRATE_AND_TELL = (
    "import asyncio, sys\n"
    "from scrape_api_docs.storage.db import make_engine, migrate\n"
    "async def main():\n"
    "    engine = make_engine(sys.argv[1])\n"
    "    await migrate(engine)\n"
    "    await engine.dispose()\n"
    "asyncio.run(main())\n"
    "print('alembic' in sys.modules)\n"
)


async def test_current_schema_is_not_migrated_again(engine: AsyncEngine, database_url: str) -> None:
    """A start on a current schema (nearly every start) leaves Alembic unloaded; one on a
    schema a revision behind migrates it."""

    async def migrate_in_a_process() -> bool:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MIGRATE_AND_TELL, database_url, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return out.decode().strip() == "True"

    def stored(connection: Connection) -> list[str]:
        return [v for (v,) in connection.execute(text("SELECT version_num FROM alembic_version"))]

    assert not await migrate_in_a_process()
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "-1")
        assert await connection.run_sync(stored) != [head_revision()]
    assert await migrate_in_a_process()
    async with engine.begin() as connection:
        assert await connection.run_sync(stored) == [head_revision()]


async def test_migrations_at_once_from_several_processes(tmp_path: Path) -> None:
    """Replicas and workers starting together on a new database each migrate it: one at a
    time on PostgreSQL (an advisory lock), so none fails on a table another just made."""
    with postgres.database() as url:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", MIGRATE_AND_TELL, url, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        results = [await p.communicate() for p in processes]
        failed = [
            err.decode()[-2000:]
            for p, (_, err) in zip(processes, results, strict=True)
            if p.returncode
        ]
        assert not failed, failed[0]
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                assert await connection.run_sync(_tables) >= OURS
        finally:
            await engine.dispose()


def job(job_id: str, seq: int, owner: str = "key_a", status: str = "queued") -> Job:
    return queued_job(
        job_id,
        seq,
        owner=owner,
        status=status,
        priority=2,
        options={"max_pages": 5},
        statistics={"pages": 0},
        metadata_={"team": "docs"},
    )


async def test_job_numbers_are_never_shared(engine: AsyncEngine) -> None:
    """Twelve submissions at once, each in its own transaction (on PostgreSQL a sequence;
    SQLite has one writer at a time and keeps max+1)."""
    made = sessions(engine)

    async def submit(n: int) -> int:
        async with made() as session, session.begin():
            jobs = JobRepository(session)
            seq = await jobs.next_seq()
            jobs.add(job(f"job_{n:03d}", seq))
            return seq

    if engine.dialect.name == "postgresql":
        numbers = await asyncio.gather(*(submit(n) for n in range(12)))
    else:
        numbers = [await submit(n) for n in range(12)]
    assert sorted(numbers) == list(range(1, 13))


async def test_repositories_round_trip(engine: AsyncEngine) -> None:
    made = sessions(engine)
    stamp = now()
    async with made() as session, session.begin():
        jobs = JobRepository(session)
        jobs.add(job("job_1", await jobs.next_seq()))
        jobs.add(job("job_2", await jobs.next_seq(), status="completed"))
        jobs.add(job("job_3", await jobs.next_seq(), owner="key_b"))
        KeyRepository(session).add(
            ApiKey(
                id="key_a", name="a", key_hash="h" * 64, webhook_secret_enc="x", created_at=stamp
            )
        )
        credentials = CredentialRepository(session)
        for n, expires in ((1, None), (2, stamp - timedelta(hours=1)), (3, stamp + timedelta(1))):
            credentials.add(
                Credential(
                    id=f"cred_{n}",
                    owner="key_a",
                    domain="docs.example",
                    auth_type="bearer",
                    ciphertext="secret",
                    created_at=stamp,
                    expires_at=expires,
                )
            )
    async with made() as session, session.begin():
        jobs = JobRepository(session)
        await jobs.update("job_1", status="running", progress={"pages_done": 3})
        logs = LogRepository(session)
        for n in range(15):
            await logs.add("job_1", "info", f"line {n}", limit=10)
        await ArtifactRepository(session).replace(
            Artifact(
                job_id="job_1",
                format="markdown",
                filename="output.md",
                key="job_1/output.md",
                size_bytes=1234,
                checksum="sha256:0",
                content_type="text/markdown",
                created_at=stamp,
            )
        )
    async with made() as session:
        jobs = JobRepository(session)
        got = await jobs.get("job_1", owner="key_a")
        assert got is not None and got.progress == {"pages_done": 3}
        assert got.metadata_ == {"team": "docs"}
        assert await jobs.get("job_1", owner="key_b") is None  # tenants apart
        assert await jobs.count_by_status("key_a") == {"running": 1, "completed": 1}
        assert await jobs.queued_count() == 1
        assert await ArtifactRepository(session).total_bytes("key_a") == 1234
        assert await ArtifactRepository(session).total_bytes("key_b") == 0
        live = await CredentialRepository(session).for_domain("key_a", "docs.example")
        assert sorted(c.id for c in live) == ["cred_1", "cred_3"]  # the expired one left out
        assert await KeyRepository(session).count() == 1

    reader = Reader(engine, made)
    try:
        view = await reader(lambda s: read_job_view(s, "job_1", "key_a", 5))
    finally:
        reader.close()
    assert view is not None
    found, artifacts, lines = view
    assert found.id == "job_1" and [a.key for a in artifacts] == ["job_1/output.md"]
    assert [line.message for line in lines] == [f"line {n}" for n in range(10, 15)]

    async with made() as session, session.begin():
        assert await reassign_owner(session, "key_a", "key_b") == 2
        await JobRepository(session).delete("job_1")
    async with made() as session:
        assert await JobRepository(session).count_by_status("key_b") == {
            "queued": 1,
            "completed": 1,
        }


def _writer_gets_in(path: Path) -> bool:
    """Whether another connection could start writing now (no waiting)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        other.close()


async def test_a_connection_dropped_mid_transaction_leaves_the_database_unlocked(
    tmp_path: Path,
) -> None:
    """A task cancelled between a write and a SELECT that follows it in the same
    transaction (a heartbeat whose lease was already released: UPDATE, then the SELECT of
    the job's state) makes SQLAlchemy drop the connection as it stands: no rollback, the
    SELECT's cursor left open, referenced by the cancel's traceback. SQLite then keeps
    that connection, and its write lock, until the cursor is garbage collected: every
    other writer waited (``database is locked`` after 30 s). Here that state is made
    explicitly: a write, a SELECT read in part, the connection invalidated."""
    path = tmp_path / "scraper.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    try:
        connection = await engine.connect()
        await connection.begin()
        await connection.execute(
            text("UPDATE jobs SET lease_expires_at = NULL WHERE id = 'job_gone'")
        )
        unfinished = await connection.stream(text("SELECT 1 UNION ALL SELECT 2"))
        assert await unfinished.fetchmany(1) == [(1,)]
        assert not _writer_gets_in(path)  # (the transaction holds the write lock)
        await connection.invalidate()  # what a cancel in the middle of a statement does
        assert _writer_gets_in(path), "a dropped connection still holds the write lock"
        del unfinished
    finally:
        await engine.dispose()

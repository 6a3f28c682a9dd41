"""The async engine: SQLite (WAL) by default, PostgreSQL when ``database_url`` says so.

Migrations (Alembic) run at start-up, before the service accepts work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from scrape_api_docs.storage.changes import CommitWatch

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


class RollbackOnClose(sqlite3.Connection):
    """A SQLite connection that ends its transaction before it closes.

    Python 3.11's ``close()`` is ``sqlite3_close_v2``: while any statement of the
    connection is still unfinished (a SELECT stepped but not read to its end, its cursor
    still referenced), SQLite keeps the connection open as a "zombie", with its
    transaction and so its write lock, until that statement is finalized, that is until
    the garbage collector frees the cursor: tens of seconds later when the cursor sits in
    a reference cycle (an exception's traceback). SQLAlchemy closes a connection that way
    when a task is cancelled in the middle of a statement (it treats the cancel as a
    disconnect: no rollback, the cursor left open): a heartbeat or a log flush cancelled
    between a write and the SELECT after it held the jobs database locked for every other
    writer (``database is locked`` after ``busy_timeout``). Rolled back first, the zombie
    holds nothing."""

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.in_transaction:
                self.rollback()
        super().close()


def _sqlite_connect_args() -> dict[str, Any]:
    return {"timeout": 30, "factory": RollbackOnClose}


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args=_sqlite_connect_args())
        _sqlite_pragmas(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


class Reader:
    """Runs a read-only function over a synchronous ``Session`` in ONE thread hop.

    aiosqlite hands every cursor operation to its thread separately (about 28 hand-offs
    for a job view of three queries, each a wake-up and a GIL hand-over); a job poll is
    cheaper as one ``to_thread`` call over plain ``sqlite3``. Other databases run the
    same function through the async session's ``run_sync``.
    """

    def __init__(self, engine: AsyncEngine, async_sessions: async_sessionmaker[Any]) -> None:
        self._async_sessions = async_sessions
        self._sync: sessionmaker[Session] | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            sync_engine = create_engine(
                url.set(drivername="sqlite"), connect_args=_sqlite_connect_args()
            )
            _sqlite_pragmas(sync_engine)
            self._sync = sessionmaker(sync_engine, expire_on_commit=False)

    async def __call__(self, read: Callable[[Session], T]) -> T:
        if self._sync is None:
            async with self._async_sessions() as session:
                result: T = await session.run_sync(read)
                return result
        return await asyncio.to_thread(self._run, read)

    def _run(self, read: Callable[[Session], T]) -> T:
        assert self._sync is not None
        with self._sync() as session:
            return read(session)

    def close(self) -> None:
        if self._sync is not None:
            bind = self._sync.kw.get("bind")
            if isinstance(bind, Engine):
                bind.dispose()


def sessions(engine: AsyncEngine, watch: CommitWatch | None = None) -> async_sessionmaker[Any]:
    """The session factory on ``engine``; with ``watch``, its commits bump and announce
    the jobs they wrote (``storage/changes.py``)."""
    if watch is None:
        return async_sessionmaker(engine, expire_on_commit=False)
    return async_sessionmaker(
        engine, expire_on_commit=False, sync_session_class=watch.session_class()
    )


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (health checks); raises when it cannot answer."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _upgrade(connection: Connection) -> None:
    # Alembic is imported here, when a schema is checked or migrated, not by every module
    # that only needs an engine or a session.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


MIGRATION_LOCK = 0x5CA1AB1E
"""PostgreSQL advisory lock key held while migrating: processes starting at once on a new
database (API replicas and workers) migrate one after the other, the later ones finding
the schema current (without it, two ``CREATE TABLE`` at once: a unique violation)."""


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; on PostgreSQL one process at a
    time)."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Released with the transaction (the migration's, DDL being transactional).
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        if await connection.run_sync(_stored_revisions) == [head_revision()]:
            return  # current: every start but the first after an upgrade
        await connection.run_sync(_upgrade)


_REVISION = re.compile(r"^revision\s*=\s*['\"](\w+)['\"]\s*$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(?:None|['\"](\w+)['\"])\s*$", re.M)


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision: the one no other migration revises, read from the
    files' ``revision`` / ``down_revision`` lines. None when that is not one plain chain
    (a merge, a branch, an unexpected line): then Alembic decides.

    Every process start (``serve``, ``worker``, each ``keys`` command) checks the schema;
    Alembic's imports (mako, pygments) and its environment cost ~0.15 s of CPU for a
    schema that is nearly always current already, so that case is settled here."""
    revises: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revises[revision[0]] = down[0] or None
    heads = set(revises) - set(revises.values())
    return heads.pop() if len(heads) == 1 else None


def _stored_revisions(connection: Connection) -> list[str]:
    """The revisions Alembic recorded in the database (none before the first migration)."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return [str(version) for (version,) in rows]

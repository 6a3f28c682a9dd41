"""Throwaway PostgreSQL databases for tests: one per use, named ``sad_pg_<worker>_<random>``
on the server at ``SCRAPER_TEST_POSTGRES`` (default ``127.0.0.1:5432``, user postgres),
dropped afterwards. Where no server answers, the tests that need one are skipped, saying
why."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest

SERVER = os.environ.get("SCRAPER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)


def unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        with _admin():
            return None
    except Exception as exc:  # any failure means "absent"
        return f"PostgreSQL is not reachable at {SERVER}: {type(exc).__name__}"


def skip_without_postgres() -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A new empty database; yields its ``postgresql+asyncpg://`` URL."""
    skip_without_postgres()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"sad_pg_{worker}_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


TABLES = (
    "jobs, conversions, artifacts, job_logs, credentials, api_keys, pages, "
    "procrastinate_events, procrastinate_jobs, procrastinate_workers"
)


def migrated(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (what the service does)."""
    import asyncio
    import concurrent.futures

    from scrape_api_docs.storage.db import make_engine, migrate

    async def run() -> None:
        engine = make_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    # In a thread of its own: callers may be inside a running event loop (async tests).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def empty(url: str) -> None:
    """Every row of the service's (and procrastinate's) tables gone, the schema kept."""
    libpq = url.replace("postgresql+asyncpg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")


def libpq(url: str) -> str:
    """A test database's URL as psycopg takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")

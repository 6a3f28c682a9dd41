"""Which errors say the database server is unreachable (and so answer 503 and hand a job
back) and which do not (a bug or a busy SQLite file stays what it is)."""

from __future__ import annotations

import sqlite3

import psycopg
import sqlalchemy.exc

from scrape_api_docs.storage.outage import unreachable


def _chained(outer: Exception, cause: BaseException) -> Exception:
    try:
        raise outer from cause
    except Exception as exc:
        return exc


def test_connection_failures_are_outages() -> None:
    assert unreachable(ConnectionRefusedError(111, "refused")) == "ConnectionRefusedError"
    assert unreachable(psycopg.OperationalError("server closed the connection")) == (
        "OperationalError"
    )
    # wrapped, as procrastinate's connector and SQLAlchemy wrap the driver's error
    wrapped = _chained(RuntimeError("connector failed"), ConnectionResetError())
    assert unreachable(wrapped) == "ConnectionResetError"
    invalidated = sqlalchemy.exc.DBAPIError(
        "SELECT 1", None, ConnectionResetError(), connection_invalidated=True
    )
    assert unreachable(invalidated) == "ConnectionResetError"


def test_other_failures_are_not() -> None:
    assert unreachable(None) is None
    assert unreachable(ValueError("bad value")) is None
    locked = sqlalchemy.exc.OperationalError(
        "INSERT", None, sqlite3.OperationalError("database is locked")
    )
    assert unreachable(locked) is None
    assert unreachable(psycopg.errors.UndefinedTable("no such table")) is None
    assert unreachable(_chained(KeyError("x"), ValueError("y"))) is None

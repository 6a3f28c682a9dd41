"""Telling a database outage (a restart, a network cut) from any other failure.

Light on purpose: the crawler asks it about a page store's errors, and must not import
SQLAlchemy or a driver to learn "no" (the drivers' classes are looked at only when the
error came from them, so they are loaded already).
"""

from __future__ import annotations


def unreachable(exc: BaseException | None) -> str | None:
    """Why the database server cannot be reached, when ``exc`` (or an error that caused
    it) says so: a connection refused, reset or cut, the server shutting down or not yet
    accepting connections, a pool with no connection to give. The name of that error, or
    None for any other failure (a bad query or a locked SQLite file is not an outage).

    Both drivers and the queue library's connector are recognised (asyncpg under
    SQLAlchemy; psycopg under procrastinate and the page store); the service reconnects
    by itself once the server answers again (pre-ping, pool checks, the page store's
    reconnect)."""
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "connection_invalidated", False):  # SQLAlchemy's DBAPIError
            orig = getattr(current, "orig", None)
            return type(orig if isinstance(orig, BaseException) else current).__name__
        if isinstance(current, ConnectionError) or _driver_outage(current):
            return type(current).__name__
        orig = getattr(current, "orig", None)
        current = (orig if isinstance(orig, BaseException) and id(orig) not in seen else None) or (
            current.__cause__ or current.__context__
        )
    return None


def _driver_outage(exc: BaseException) -> bool:
    module = type(exc).__module__
    if module.startswith("asyncpg"):
        import asyncpg  # type: ignore[import-untyped]

        return isinstance(
            exc,
            asyncpg.PostgresConnectionError  # (connection does not exist, too many...)
            | asyncpg.exceptions.AdminShutdownError
            | asyncpg.exceptions.CrashShutdownError
            | asyncpg.exceptions.CannotConnectNowError,
        ) or "connection is closed" in str(exc)
    if module.startswith("psycopg"):
        import psycopg

        # Connection failed or lost, server shutting down, pool timeout (its subclass).
        return isinstance(exc, psycopg.OperationalError)
    return False

"""What PostgreSQL needs beyond the shared SQLAlchemy code: telling its URL apart, the
libpq form of it (for psycopg: the queue library and the page store), and procrastinate's
schema (applied by our migration 0005, see there)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, make_url


def is_postgres(url: str | None) -> bool:
    """Whether a database URL names PostgreSQL (any driver)."""
    return bool(url) and make_url(url or "").get_backend_name() == "postgresql"


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://u:p@h:5432/db`` -> ``postgresql://u:p@h:5432/db`` (what
    psycopg takes); the password kept, never logged."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def apply_procrastinate_schema(connection: Connection) -> None:
    """Create procrastinate's tables and functions (once: nothing happens when they are
    there). Its schema is several statements with ``$$`` bodies, so it is run as one
    script through the driver's own connection: a simple query, never a prepared one."""
    from procrastinate.schema import SchemaManager

    if connection.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar():
        return
    script = SchemaManager.get_schema()
    raw: Any = connection.connection.driver_connection
    if connection.dialect.driver == "asyncpg":
        from sqlalchemy.util import await_only

        await_only(raw.execute(script))  # asyncpg: a script without arguments
    else:
        raw.execute(script)  # psycopg: no parameters, so no placeholders to escape

"""What PostgreSQL needs beyond the shared SQLAlchemy code: telling its URL apart, the
libpq form of it (for psycopg: the queue library and the page store), and procrastinate's
schema (applied by our migration 0005, see there)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# SQLAlchemy is imported where used: the page store (in export processes) asks
# ``is_postgres`` and should not pay for the database layer's import to learn "no".


def is_postgres(url: str | None) -> bool:
    """Whether a database URL names PostgreSQL (any driver)."""
    scheme = (url or "").partition("://")[0]
    return scheme.partition("+")[0] in ("postgresql", "postgres")


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://u:p@h:5432/db`` -> ``postgresql://u:p@h:5432/db`` (what
    psycopg takes); the password kept, never logged."""
    from sqlalchemy.engine import make_url

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

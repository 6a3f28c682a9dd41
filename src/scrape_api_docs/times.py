"""Times: everything the service stores and shows is UTC.

``as_utc`` is the one rule for a datetime that may come without a zone (a client's
``expires_at``, an HTTP date, what SQLite hands back): a naive one is UTC. Rows of the
database come back aware already (``storage/tables.UTCDateTime`` applies this rule).
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

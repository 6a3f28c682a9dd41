"""The service's tables (SQLAlchemy 2 declarative). Secrets are stored only as ciphertext."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from scrape_api_docs.times import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back aware (SQLite keeps no zone and
    hands back naive values): no caller ever handles a naive datetime from a row."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: UTCDateTime(),
    }


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the key, hex; the key itself is shown once and never stored."""
    webhook_secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_created", "owner", "created_at"),
        Index("ix_jobs_status_priority", "status", "priority", "seq"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    """Submission order: first come, first served within one priority."""
    owner: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]]
    export_formats: Mapped[list[str]]
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict[str, Any]]
    statistics: Mapped[dict[str, Any]]
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    auth_enc: Mapped[str | None] = mapped_column(Text)
    """The job's own credentials, encrypted; used for this job only."""
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Times a worker claimed the job (the queue's retry bound counts these)."""
    sync: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(120), default=None)
    """The worker holding the running job (``host:pid:start:n``), None when not running."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """Until when the worker holds it; heartbeats extend it, recovery takes it back after."""
    cancel_requested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """A stored cancel request: the worker running the job stops it at its next heartbeat."""
    traceparent: Mapped[str | None] = mapped_column(String(64), default=None)
    """The W3C traceparent of the request that queued the job (tracing on): the worker
    continues that trace."""
    queue_ref: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """The queue library's id of the work (procrastinate's job id on PostgreSQL)."""


class JobLog(Base):
    __tablename__ = "job_logs"
    __table_args__ = (Index("ix_job_logs_job_time", "job_id", "timestamp", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    timestamp: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index("ux_artifacts_job_file", "job_id", "filename", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(Text)
    """Where the artifact store keeps the file (``<job_id>/<filename>``); never a path."""
    size_bytes: Mapped[int] = mapped_column(Integer)
    checksum: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40), index=True)
    domain: Mapped[str] = mapped_column(String(255))
    auth_type: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class Conversion(Base):
    __tablename__ = "conversions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str] = mapped_column(String(40))
    target_format: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(120), default=None)
    """The worker building it; None while it waits in the queue (status ``processing``
    covers both) or once done."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    queue_ref: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Page(Base):
    """A job's crawled document, for the PostgreSQL page store (``storage.pages_pg``
    writes it with psycopg; the embedded store keeps a SQLite file per job instead)."""

    __tablename__ = "pages"
    __table_args__ = (
        Index("ux_pages_job_key", "job_id", "key", unique=True),
        Index("ix_pages_job_seq", "job_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    """Crawl order (a page stored again moves to the end, as in the SQLite store)."""
    job_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    markdown: Mapped[str] = mapped_column(Text)
    meta: Mapped[str] = mapped_column(Text)

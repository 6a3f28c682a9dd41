"""What the API answers. Field names follow the design; every model has an example."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The parts a job's WebSocket messages share with its detail: written once, with the events.
from scrape_api_docs.jobs.events import ExportInfo as ExportInfo
from scrape_api_docs.jobs.events import JobProgress as JobProgress
from scrape_api_docs.jobs.events import JobStatistics as JobStatistics
from scrape_api_docs.jobs.events import JobStatusName as JobStatusName
from scrape_api_docs.jobs.events import LogEntry as LogEntry

GeneratedSecret = Annotated[
    str | None,
    Field(
        exclude_if=lambda value: value is None,
        description=(
            "The secret this job's webhook deliveries are signed with, when the server made "
            "it (a webhook_url sent without webhook_secret and no API key secret). Shown "
            "only here: store it now. Absent otherwise."
        ),
    ),
]


class ScrapeAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "job_2f1c9a7d3b4e5f60",
                    "status": "queued",
                    "created_at": "2026-11-30T19:00:00Z",
                    "estimated_duration": 300,
                    "status_url": "/api/v1/jobs/job_2f1c9a7d3b4e5f60",
                    "websocket_url": "ws://127.0.0.1:8000/api/v1/jobs/job_2f1c9a7d3b4e5f60/stream",
                }
            ]
        }
    )

    job_id: str
    status: JobStatusName
    created_at: datetime
    estimated_duration: float | None = Field(
        description="Seconds the crawl should take (pages estimated x time per page), or "
        "null when the site could not be read quickly enough to estimate."
    )
    status_url: str
    websocket_url: str
    webhook_secret: GeneratedSecret = None


class SyncScrapeResult(BaseModel):
    job_id: str
    status: JobStatusName
    duration: float | None
    pages_scraped: int
    exports: list[ExportInfo]
    statistics: JobStatistics
    error_message: str | None = None
    webhook_secret: GeneratedSecret = None


class ValidateResult(BaseModel):
    valid: bool
    estimated_pages: int | None
    estimated_duration: float | None
    warnings: list[str]
    recommendations: dict[str, Any]
    details: dict[str, Any] = Field(default_factory=dict)


class JobSummary(BaseModel):
    job_id: str
    url: str
    status: JobStatusName
    priority: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    duration: float | None
    pages_scraped: int
    exports_available: list[str]


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool


class JobList(BaseModel):
    jobs: list[JobSummary]
    pagination: Pagination


class JobDetail(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "job_2f1c9a7d3b4e5f60",
                    "url": "https://docs.example.com/",
                    "status": "running",
                    "priority": "normal",
                    "progress": {
                        "current_page": 23,
                        "total_pages": 45,
                        "percent_complete": 51.1,
                        "current_operation": "Crawling https://docs.example.com/guide/",
                    },
                    "created_at": "2026-11-30T19:00:00Z",
                    "updated_at": "2026-11-30T19:00:17Z",
                    "started_at": "2026-11-30T19:00:05Z",
                    "completed_at": None,
                    "estimated_completion": "2026-11-30T19:00:28Z",
                    "estimated_duration": 11.0,
                    "duration": None,
                    "statistics": {"pages_discovered": 45, "pages_processed": 23},
                    "exports": [],
                    "error_message": None,
                    "logs": [
                        {
                            "timestamp": "2026-11-30T19:00:17Z",
                            "level": "info",
                            "message": "Processed page: https://docs.example.com/guide/",
                        }
                    ],
                }
            ]
        }
    )

    job_id: str
    url: str
    status: JobStatusName
    priority: str
    # Nullable fields default to None: they are always in responses (as null), and the
    # OpenAPI document, which drops nulls from examples, stays consistent with its example.
    progress: JobProgress | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    estimated_completion: datetime | None = None
    estimated_duration: float | None = None
    duration: float | None = None
    statistics: JobStatistics
    exports: list[ExportInfo]
    error_message: str | None = None
    logs: list[LogEntry]


class JobDeleted(BaseModel):
    job_id: str
    status: str
    message: str


class ConversionAccepted(BaseModel):
    conversion_id: str
    status: Literal["processing", "completed", "failed"]
    status_url: str


class ConversionStatus(BaseModel):
    conversion_id: str
    job_id: str
    target_format: str
    status: Literal["processing", "completed", "failed"]
    created_at: datetime
    completed_at: datetime | None
    error_message: str | None
    export: ExportInfo | None


class FormatInfo(BaseModel):
    available: bool
    url: str | None = None
    size_bytes: int | None = None
    created_at: datetime | None = None
    message: str | None = None


class ExportMetadata(BaseModel):
    job_id: str
    formats: dict[str, FormatInfo]


class BookPreview(BaseModel):
    job_id: str
    filename: str = Field(description="The Markdown book this preview shows.")
    size_bytes: int = Field(description="Size of the whole book.")
    truncated: bool = Field(description="True when only the book's beginning is shown.")
    html: str = Field(
        description="The book as sanitised HTML (the exports' sanitiser: no scripts, event "
        "handlers or remote images; ids prefixed with 'pv-')."
    )


class CredentialInfo(BaseModel):
    credential_id: str
    domain: str
    auth_type: str
    created_at: datetime
    expires_at: datetime | None = None


class CredentialList(BaseModel):
    credentials: list[CredentialInfo]


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    uptime: float
    dependencies: dict[str, str]
    details: dict[str, str] = Field(default_factory=dict)


class StatsResources(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cache_size_mb": 42.5,
                    "storage_used_gb": 1.25,
                    "artifacts_mb": 310.2,
                    "active_workers": 2,
                }
            ]
        }
    )

    cache_size_mb: float
    storage_used_gb: float
    artifacts_mb: float
    active_workers: int = Field(description="Workers running a job right now")


class Stats(BaseModel):
    jobs: dict[str, int]
    performance: dict[str, float]
    resources: StatsResources

"""Database rows -> response models (the one place that knows both shapes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scrape_api_docs.api.models.responses import (
    JobDetail,
    JobList,
    JobProgress,
    JobStatistics,
    JobSummary,
    LogEntry,
    Pagination,
)
from scrape_api_docs.exporters.registry import EXPORTERS
from scrape_api_docs.jobs.job_runner import estimate_remaining
from scrape_api_docs.jobs.job_runner import export_info as export_info  # one shape: the events'
from scrape_api_docs.jobs.queue import PRIORITY_NAMES
from scrape_api_docs.jobs.service import JobView
from scrape_api_docs.storage.repositories import JobListQuery
from scrape_api_docs.storage.tables import Job


def available_formats(built: list[str]) -> list[str]:
    """The export formats of a job a client can ask for by name (download, convert, the
    metadata endpoint): companion files such as ``llms_full`` (``llms-full.txt``, built with
    ``llms``) are listed among the job's exports, not here."""
    return [name for name in built if name in EXPORTERS]


def statistics(job: Job) -> JobStatistics:
    return JobStatistics.model_validate(job.statistics or {})


def estimates(job: Job) -> tuple[float | None, datetime | None]:
    """Seconds left and when that is, for queued and running jobs."""
    if job.status not in ("queued", "running"):
        return None, None
    remaining = estimate_remaining(job.statistics or {}, job.options or {})
    if remaining is None:
        return None, None
    return remaining, datetime.now(UTC) + timedelta(seconds=remaining)


def job_detail(view: JobView) -> JobDetail:
    job = view.job
    remaining, completion = estimates(job)
    progress = JobProgress.model_validate(job.progress) if job.progress else None
    return JobDetail(
        job_id=job.id,
        url=job.url,
        status=job.status,  # type: ignore[arg-type]
        priority=PRIORITY_NAMES.get(job.priority, "normal"),
        progress=progress,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
        estimated_completion=completion,
        estimated_duration=remaining,
        duration=job.duration,
        statistics=statistics(job),
        exports=[export_info(a) for a in view.artifacts],
        error_message=job.error_message,
        logs=[
            LogEntry(timestamp=log.timestamp, level=log.level, message=log.message)
            for log in view.logs
        ],
    )


def job_list(rows: list[tuple[Job, list[str]]], total: int, query: JobListQuery) -> JobList:
    jobs = [
        JobSummary(
            job_id=job.id,
            url=job.url,
            status=job.status,  # type: ignore[arg-type]
            priority=PRIORITY_NAMES.get(job.priority, "normal"),
            created_at=job.created_at,
            updated_at=job.updated_at,
            completed_at=job.completed_at,
            duration=job.duration,
            pages_scraped=statistics(job).pages_processed,
            exports_available=available_formats(formats),
        )
        for job, formats in rows
    ]
    end = query.offset + len(jobs)
    return JobList(
        jobs=jobs,
        pagination=Pagination(
            total=total, limit=query.limit, offset=query.offset, has_more=end < total
        ),
    )

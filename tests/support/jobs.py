"""A job row as the queue and the repositories see it, without the service that validates
a submission: for tests and benchmarks of the queue and the storage layer."""

from __future__ import annotations

from typing import Any

from scrape_api_docs.jobs.queue import PRIORITY_RANK
from scrape_api_docs.storage.repositories import now
from scrape_api_docs.storage.tables import Job


def queued_job(job_id: str, seq: int, **fields: Any) -> Job:
    """A queued job of the local owner, normal priority, Markdown export; ``fields`` set
    any other column (``priority``, ``sync``, ``status``, ``options``...)."""
    stamp = now()
    values: dict[str, Any] = {
        "id": job_id,
        "seq": seq,
        "owner": "local",
        "url": "http://127.0.0.1/",
        "options": {},
        "export_formats": ["markdown"],
        "priority": PRIORITY_RANK["normal"],
        "status": "queued",
        "created_at": stamp,
        "updated_at": stamp,
        "progress": {},
        "statistics": {},
        "metadata_": {},
        "attempts": 0,
        "sync": 0,
    }
    return Job(**{**values, **fields})

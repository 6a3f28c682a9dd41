"""Job operations the API calls: submit, look up, cancel, delete, convert, credentials.

Every lookup is by owner (the API key's id, or "local" without keys): another owner's
job, credential or export does not exist as far as the caller can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from scrape_api_docs.crawler.browser import BrowserUnavailable, require_browser
from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.errors import (
    InsufficientStorageError,
    InvalidOptionsError,
    JobNotFoundError,
    ScraperError,
)
from scrape_api_docs.jobs.auth import headers_for
from scrape_api_docs.jobs.context import JobContext
from scrape_api_docs.jobs.estimate import Estimate, estimate_site
from scrape_api_docs.jobs.job_runner import JobRunner
from scrape_api_docs.jobs.queue import CONVERSIONS, PRIORITY_RANK
from scrape_api_docs.jobs.webhooks import has_signing_secret, new_webhook_secret
from scrape_api_docs.storage.repositories import (
    ArtifactRepository,
    ConversionRepository,
    CredentialRepository,
    JobListQuery,
    JobRepository,
    LogLine,
    LogRepository,
    now,
    read_job_page,
    read_job_view,
)
from scrape_api_docs.storage.space import free_mb
from scrape_api_docs.storage.tables import Artifact, Conversion, Credential, Job
from scrape_api_docs.tracing import carrier

TERMINAL = ("completed", "failed", "cancelled")


class QueueFullError(ScraperError):
    code = "RATE_LIMIT_EXCEEDED"


class NotFoundError(ScraperError):
    code = "NOT_FOUND"


@dataclass(frozen=True)
class JobSpec:
    url: str
    options: ScrapeOptions
    export_formats: list[str]
    priority: str = "normal"
    authentication: dict[str, Any] | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class Submission:
    job: Job
    estimated_duration: float | None
    """Seconds, from ``jobs.estimate`` (None for sync jobs or when the site is unreadable)."""
    webhook_secret: str | None
    """The signing secret made for this job's webhook, shown once (None when the request
    or the API key had one)."""


@dataclass
class JobView:
    job: Job
    artifacts: list[Artifact]
    logs: list[LogLine]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class JobService:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx

    # --- jobs ------------------------------------------------------------------------
    def require_space(self) -> None:
        """507 (INSUFFICIENT_STORAGE) while the data folder's disk has less free space than
        ``min_free_disk_mb``: new work would only fill it up and fail."""
        minimum = self.ctx.settings.min_free_disk_mb
        if not minimum:
            return
        free = free_mb(self.ctx.settings.data_dir)
        if free < minimum:
            raise InsufficientStorageError(
                f"the disk holding the data folder has {free:g} MB free, below this server's "
                f"minimum of {minimum} MB; free some space (delete old jobs) and retry",
                details={"free_mb": free, "min_free_mb": minimum},
            )

    async def submit(self, owner: str, spec: JobSpec, *, sync: bool = False) -> Submission:
        """Check everything a user can get wrong now, not in the worker later; then, for a
        queued job, estimate its duration (bounded: ``estimate_seconds``) and queue it.

        A ``webhook_url`` with nothing to sign with (no ``webhook_secret``, no API key's
        secret) gets a secret made here, returned once in the submission."""
        self.ctx.policy.check_url(spec.url)
        self.require_space()
        generated: str | None = None
        if spec.webhook_url:
            await self._check_reachable_policy(spec.webhook_url)
            if not spec.webhook_secret and not await has_signing_secret(
                self.ctx.sessions, self.ctx.cipher, owner
            ):
                generated = new_webhook_secret()
                spec = replace(spec, webhook_secret=generated)
        if spec.authentication:
            headers_for(spec.authentication.get("type", "none"), spec.authentication)
        if spec.options.render_mode != "never":
            try:
                require_browser(self.ctx.settings.browser_path)
            except BrowserUnavailable as exc:
                raise InvalidOptionsError(
                    f"render_javascript {json.dumps(spec.options.render_javascript)} needs a "
                    f"browser, and this server has none: {exc}; submit with render_javascript "
                    "false",
                    details={"option": "render_javascript", "reason": str(exc)},
                ) from exc
        auth_enc = self.ctx.cipher.encrypt(spec.authentication) if spec.authentication else None
        estimate = None
        if not sync:
            await self._check_queue_room()  # a full queue answers at once, not after estimating
            estimate = await self._estimate(owner, spec, auth_enc)
        async with self.ctx.sessions() as session, session.begin():
            jobs = JobRepository(session)
            if not sync and await jobs.queued_count() >= self.ctx.settings.max_queued_jobs:
                raise self._queue_full()
            stamp = now()
            job = Job(
                id=new_id("job"),
                seq=await jobs.next_seq(),
                owner=owner,
                url=spec.url,
                options=spec.options.model_dump(mode="json"),
                export_formats=spec.export_formats,
                priority=PRIORITY_RANK[spec.priority],
                status="queued",
                created_at=stamp,
                updated_at=stamp,
                progress={},
                statistics={},
                webhook_url=spec.webhook_url,
                webhook_secret_enc=(
                    self.ctx.cipher.encrypt(spec.webhook_secret) if spec.webhook_secret else None
                ),
                auth_enc=auth_enc,
                metadata_=spec.metadata or {},
                attempts=0,
                sync=int(sync),
            )
            jobs.add(job)
            if estimate is not None:
                await LogRepository(session).add(
                    job.id, "info", estimate.describe(), self.ctx.settings.job_log_limit
                )
        if not sync:
            # The request's trace goes with the job: the worker's spans continue it.
            trace = carrier() if self.ctx.tracer is not None else None
            await self.ctx.queue.enqueue(job.id, job.priority, trace=trace)
        duration = estimate.duration(spec.options.rate_limit) if estimate else None
        return Submission(job, duration, generated)

    async def _estimate(self, owner: str, spec: JobSpec, auth_enc: str | None) -> Estimate | None:
        """The site's size within ``estimate_seconds`` (0: none), fetched with the
        credentials the crawl will send, to the same origins only."""
        budget = self.ctx.settings.estimate_seconds
        if budget <= 0:
            return None
        try:
            credentials = await JobRunner(self.ctx).credentials_for(
                Job(url=spec.url, owner=owner, auth_enc=auth_enc)
            )
        except ScraperError:  # e.g. a stored credential no key can decrypt: the job says so
            return None
        return await estimate_site(
            spec.url,
            spec.options,
            policy=self.ctx.policy,
            user_agent=self.ctx.settings.user_agent,
            budget=budget,
            credentials=credentials,
        )

    async def _check_queue_room(self) -> None:
        async with self.ctx.sessions() as session:
            queued = await JobRepository(session).queued_count()
        if queued >= self.ctx.settings.max_queued_jobs:
            raise self._queue_full()

    def _queue_full(self) -> QueueFullError:
        return QueueFullError(
            f"the queue is full ({self.ctx.settings.max_queued_jobs} jobs waiting); retry later",
            details={"queued": self.ctx.settings.max_queued_jobs},
        )

    async def _check_reachable_policy(self, url: str) -> None:
        self.ctx.policy.check_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        with contextlib.suppress(OSError):  # unresolvable now: checked again at delivery
            await self.ctx.policy.resolve(
                host, parts.port or (443 if parts.scheme == "https" else 80)
            )

    async def get(self, owner: str, job_id: str) -> Job:
        async with self.ctx.sessions() as session:
            job = await JobRepository(session).get(job_id, owner)
        if job is None:
            raise JobNotFoundError(f"job {job_id} not found", details={"job_id": job_id})
        return job

    async def view(self, owner: str, job_id: str, log_limit: int = 50) -> JobView:
        found = await self.ctx.read(
            lambda session: read_job_view(session, job_id, owner, log_limit)
        )
        if found is None:
            raise JobNotFoundError(f"job {job_id} not found", details={"job_id": job_id})
        return JobView(*found)

    async def list_jobs(
        self, owner: str, query: JobListQuery
    ) -> tuple[list[tuple[Job, list[str]]], int]:
        return await self.ctx.read(lambda session: read_job_page(session, owner, query))

    async def cancel(self, owner: str, job_id: str) -> bool:
        """Cancel a queued or running job (pages fetched so far are kept). False when it
        had already finished. The request is stored: a worker in another process stops the
        job at its next heartbeat; one in this process is stopped right here."""
        await self.get(owner, job_id)
        self.ctx.cancel_requested.add(job_id)
        cancelled = await self.ctx.queue.request_cancel(job_id)
        if not cancelled:
            self.ctx.cancel_requested.discard(job_id)
            return False
        async with self.ctx.sessions() as session, session.begin():
            await LogRepository(session).add(
                job_id, "warning", "cancelled by request", self.ctx.settings.job_log_limit
            )
        task = self.ctx.active_jobs.get(job_id)
        if task is not None:
            task.cancel()
        return True

    async def cancel_or_delete(self, owner: str, job_id: str) -> tuple[str, str]:
        """Cancel a queued or running job (pages kept); delete a finished one with its files."""
        job = await self.get(owner, job_id)
        if job.status not in TERMINAL:
            if await self.cancel(owner, job_id):
                return "cancelled", "job cancelled; pages fetched so far are kept"
            job = await self.get(owner, job_id)  # it finished meanwhile
            return job.status, f"job already {job.status}; DELETE it again to delete it"
        task = self.ctx.active_jobs.get(job_id)
        if task is not None:
            # Cancelled a moment ago and still winding down: let it stop writing first.
            task.cancel()
            await asyncio.wait([task], timeout=10)
        async with self.ctx.sessions() as session, session.begin():
            await JobRepository(session).delete(job_id)
        await self.ctx.remove_job_files(job_id)
        return "deleted", "job and its files deleted"

    # --- artifacts and conversions --------------------------------------------------------
    async def artifact(self, owner: str, job_id: str, filename: str) -> Artifact:
        await self.get(owner, job_id)
        async with self.ctx.sessions() as session:
            artifact = await ArtifactRepository(session).by_name(job_id, filename)
        if artifact is None:
            raise NotFoundError(
                f"job {job_id} has no export named {filename!r}",
                details={"job_id": job_id, "filename": filename},
            )
        return artifact

    async def create_conversion(
        self, owner: str, job_id: str, target_format: str, options: dict[str, Any]
    ) -> Conversion:
        job = await self.get(owner, job_id)
        self.require_space()
        if not await asyncio.to_thread(self.ctx.pages.exists, job_id):
            raise InvalidOptionsError(
                f"job {job_id} has no stored pages to convert (status {job.status})",
                details={"job_id": job_id, "status": job.status},
            )
        conversion = Conversion(
            id=new_id("conv"),
            job_id=job_id,
            owner=owner,
            target_format=target_format,
            options=options,
            status="processing",
            error_message=None,
            created_at=now(),
            completed_at=None,
        )
        async with self.ctx.sessions() as session, session.begin():
            ConversionRepository(session).add(conversion)
        # Queued work like a job: a worker (in this process or another) builds it, and one
        # that stops or dies hands it back instead of leaving it ``processing`` forever.
        await self.ctx.queue.enqueue(conversion.id, PRIORITY_RANK["normal"], CONVERSIONS)
        return conversion

    async def conversion(self, owner: str, conversion_id: str) -> Conversion:
        async with self.ctx.sessions() as session:
            conversion = await ConversionRepository(session).get(conversion_id, owner)
        if conversion is None:
            raise NotFoundError(
                f"conversion {conversion_id} not found", details={"conversion_id": conversion_id}
            )
        return conversion

    # --- credentials ---------------------------------------------------------------------
    async def add_credential(
        self,
        owner: str,
        domain: str,
        auth_type: str,
        values: dict[str, Any],
        expires_at: datetime | None,
    ) -> Credential:
        headers_for(auth_type, values)  # a clear 4xx now for a credential that cannot work
        credential = Credential(
            id=new_id("cred"),
            owner=owner,
            domain=domain.lower().rstrip("."),
            auth_type=auth_type,
            ciphertext=self.ctx.cipher.encrypt(values),
            created_at=now(),
            expires_at=expires_at,
        )
        async with self.ctx.sessions() as session, session.begin():
            CredentialRepository(session).add(credential)
        return credential

    async def credentials(self, owner: str) -> list[Credential]:
        async with self.ctx.sessions() as session:
            return list(await CredentialRepository(session).list(owner))

    async def delete_credential(self, owner: str, credential_id: str) -> None:
        async with self.ctx.sessions() as session, session.begin():
            deleted = await CredentialRepository(session).delete(owner, credential_id)
        if not deleted:
            raise NotFoundError(
                f"credential {credential_id} not found", details={"credential_id": credential_id}
            )

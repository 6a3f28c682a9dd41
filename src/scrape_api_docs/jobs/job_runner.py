"""Workers: take jobs off the queue and run each end to end, reporting as they go.

One job = crawl into the job's page store (kept, so a restarted job resumes and
conversions never crawl again), then each export, put into the artifact store and
recorded by its key. Progress is written to the database about once a second and
published on the event bus as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any

import structlog

from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
from scrape_api_docs.crawler.options import CrawlConfig, ScrapeOptions
from scrape_api_docs.errors import ScraperError
from scrape_api_docs.exporters.registry import get_exporter
from scrape_api_docs.jobs.auth import Origin, domain_of, headers_for, origins_for_domain
from scrape_api_docs.jobs.context import JobContext
from scrape_api_docs.jobs.events import (
    CompleteData,
    CompleteEvent,
    EventSender,
    ExportInfo,
    JobProgress,
    JobStatistics,
    LogEntry,
    LogEvent,
    ProgressData,
    ProgressEvent,
)
from scrape_api_docs.jobs.export_process import run_in_child
from scrape_api_docs.jobs.pipeline import Artifact as BuiltFile
from scrape_api_docs.jobs.pipeline import build_export_in_worker, crawl_then_export
from scrape_api_docs.jobs.queue import CONVERSIONS, JOBS, lease_until
from scrape_api_docs.jobs.webhooks import signing_secret
from scrape_api_docs.logs import redact_text
from scrape_api_docs.storage.artifacts import artifact_key
from scrape_api_docs.storage.outage import unreachable
from scrape_api_docs.storage.repositories import (
    ArtifactRepository,
    ConversionRepository,
    CredentialRepository,
    JobRepository,
    LogRepository,
    now,
)
from scrape_api_docs.storage.secrets import SecretsError
from scrape_api_docs.storage.space import filled_up_message, is_disk_full
from scrape_api_docs.storage.tables import Artifact, Job
from scrape_api_docs.times import as_utc
from scrape_api_docs.tracing import span

log = structlog.get_logger("worker")
MAX_ATTEMPTS = 3
"""The default of ``Settings.job_max_attempts``."""
CRAWL_CONCURRENCY = 8  # CrawlConfig.concurrency's default
IMAGE_FORMATS = frozenset({"pdf", "epub"})
"""Exports that embed images: a rendering crawl lets the browser load them (lazy loaders)."""
FLUSH_EVERY = 1.0
FINISH_ATTEMPTS = 30
FINISH_RETRY_DELAY = 2.0
"""A final status the database could not store (a full disk, the database unreachable) is
tried again this often, this many times (a minute) before the job is left to recovery."""
PUBLISH_EVERY = 0.2
HEARTBEAT_EVERY = 1.0
"""A running job's heartbeat: extends its lease and sees a cancel stored by any process
(so a cancelled job stops within two of these)."""
RECOVER_EVERY = 5.0
"""How often a worker pool takes back jobs whose lease expired."""
HAND_BACK_SECONDS = 5.0
"""Of a stopping worker's grace period, the part kept for handing its running jobs back
and closing (at most half of it); the rest is for them to finish."""
PRUNE_EVERY = 600.0
"""How often a worker pool has the queue forget finished work (``queue_prune_hours``)."""


async def stopped(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and return once it has ended (its cleanup done), whatever it
    ended with."""
    task.cancel()
    await asyncio.wait([task])


def drain_seconds(grace: float) -> float:
    """How long a worker stopping with ``grace`` seconds lets its running jobs finish
    before it hands them back."""
    return max(0.0, grace - min(HAND_BACK_SECONDS, grace / 2))


def progress_of(stats: CrawlStats, operation: str, *, finished: bool = False) -> JobProgress:
    """``total_pages`` is the pages discovered so far, so the percentage is honest about
    what is known: it can go down when the crawl finds more pages."""
    total = max(stats.discovered, stats.processed)
    done = stats.processed + stats.errors
    percent = 100.0 if finished else (round(100.0 * min(done, total) / total, 1) if total else 0.0)
    return JobProgress(
        current_page=stats.processed,
        total_pages=total,
        percent_complete=percent,
        current_operation=operation,
    )


def progress_payload(
    stats: CrawlStats, operation: str, *, finished: bool = False
) -> dict[str, Any]:
    """The progress as stored with the job."""
    return progress_of(stats, operation, finished=finished).model_dump()


def statistics_payload(
    stats: CrawlStats,
    crawl_duration: float | None = None,
    export_durations: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The crawl's counters; once known, the crawl's own duration (the rate of the crawl
    is pages over this, not over the job's duration, which includes the exports) and the
    seconds each export took."""
    timings: dict[str, Any] = {}
    if crawl_duration is not None:
        timings["crawl_duration"] = round(crawl_duration, 3)
    if export_durations:
        timings["export_durations"] = {k: round(v, 3) for k, v in export_durations.items()}
    return JobStatistics(
        pages_discovered=stats.discovered,
        pages_processed=stats.processed,
        cache_hits=stats.cache_hits,
        cache_misses=stats.cache_misses,
        errors=stats.errors,
        avg_page_time=round(stats.avg_page_time, 4),
        pages_skipped=stats.skipped_total,
        skipped_reasons=dict(stats.skipped),
        **timings,
    ).model_dump(exclude_unset=True)  # the timings only once known


def stored_stats(statistics: dict[str, Any]) -> CrawlStats:
    """The counters ``statistics_payload`` stored, back: what a job taken up again (after a
    restart, a hand-back, a lost lease) reports until its crawl, resumed from the stored
    pages, reports its own. A fresh job's (``{}``): zeros."""
    processed = int(statistics.get("pages_processed") or 0)
    skipped = statistics.get("skipped_reasons") or {}
    return CrawlStats(
        discovered=int(statistics.get("pages_discovered") or 0),
        processed=processed,
        cache_hits=int(statistics.get("cache_hits") or 0),
        cache_misses=int(statistics.get("cache_misses") or 0),
        errors=int(statistics.get("errors") or 0),
        skipped=Counter({str(k): int(v) for k, v in skipped.items()}),
        page_time_total=float(statistics.get("avg_page_time") or 0.0) * processed,
    )


def estimate_remaining(statistics: dict[str, Any], options: dict[str, Any]) -> float | None:
    """Seconds left: pages discovered but not yet done, times the slower of the rate
    limit's spacing and the measured page time spread over the concurrent fetches."""
    discovered = int(statistics.get("pages_discovered") or 0)
    done = int(statistics.get("pages_processed") or 0) + int(statistics.get("errors") or 0)
    if discovered == 0:
        return None
    rate = float(options.get("rate_limit") or 2.0)
    page_time = float(statistics.get("avg_page_time") or 0.0)
    per_page = max(1.0 / rate, page_time / CRAWL_CONCURRENCY)
    return round(max(0, discovered - done) * per_page, 1)


class JobReporter:
    """Turns crawl events into progress, logs and bus messages for one job."""

    def __init__(self, ctx: JobContext, job: Job) -> None:
        self.ctx = ctx
        self.job = job
        self.events = EventSender(ctx.bus, job.id)
        # Not zeros for a job taken up again: its row and its stream keep the counters of
        # the attempt before until the resumed crawl reports (from the pages stored).
        self.stats = stored_stats(job.statistics or {})
        self.operation = "starting"
        self._logs: list[tuple[datetime, str, str]] = []
        """Lines not yet written, each with the time it happened (not the flush time)."""
        self._dirty = False
        self._last_publish = 0.0
        self.crawl_duration: float | None = None
        self.export_durations: dict[str, float] = {}

    def statistics(self) -> dict[str, Any]:
        return statistics_payload(self.stats, self.crawl_duration, self.export_durations)

    def crawl_finished(self, stats: CrawlStats, duration: float) -> None:
        self.stats, self.crawl_duration, self._dirty = stats, duration, True
        rate = stats.processed / duration if duration > 0 else 0.0
        self.log(
            "info",
            f"Crawl finished: {stats.processed} pages in {duration:.1f}s ({rate:.1f} pages/s)",
        )

    def export_started(self, name: str) -> None:
        self.operation, self._dirty = f"Exporting {name}", True
        self.log("info", self.operation)
        self.publish_progress()

    def export_finished(self, name: str, files: list[BuiltFile], seconds: float) -> None:
        self.export_durations[name] = seconds
        size = sum(file.size_bytes for file in files)
        self.operation, self._dirty = f"{name} written ({_size(size)}, {seconds:.1f} s)", True
        self.log("info", self.operation)
        self.publish_progress()

    def log(self, level: str, message: str) -> None:
        message = redact_text(message)  # a start URL's user:password@, a ?token= ...
        stamp = now()
        self._logs.append((stamp, level, message))
        entry = LogEntry(
            timestamp=as_utc(stamp).replace(microsecond=0), level=level, message=message
        )
        self.events.send(LogEvent(data=entry))

    def on_event(self, event: CrawlEvent, stats: CrawlStats) -> None:
        self.stats = stats
        self._dirty = True
        if event.kind == "page":
            self.ctx.metrics.page_done(event.from_cache)
            self.operation = f"Crawling {event.url}"
            self.log(
                "info", f"Processed page: {event.url}" + (" (cache)" if event.from_cache else "")
            )
        elif event.kind == "error":
            self.log("error", event.message)
        elif event.kind == "info":
            self.log("info", event.message)
        clock = time.monotonic()
        if clock - self._last_publish >= PUBLISH_EVERY or event.kind != "page":
            self._last_publish = clock
            self.publish_progress()

    def publish_progress(self, status: str = "running") -> None:
        finished = status in ("completed", "failed", "cancelled")
        progress = progress_of(self.stats, self.operation, finished=finished)
        data = ProgressData(job_id=self.job.id, status=status, **progress.model_dump())  # type: ignore[arg-type]
        self.events.send(ProgressEvent(data=data))

    async def flush(self) -> None:
        """Write progress and pending log lines. Lines leave the buffer only once written,
        so a flush interrupted (cancelled, database busy) loses nothing."""
        pending = len(self._logs)
        if not pending and not self._dirty:
            return
        logs = self._logs[:pending]
        self._dirty = False
        limit = self.ctx.settings.job_log_limit
        try:
            async with self.ctx.sessions() as session, session.begin():
                await JobRepository(session).update(
                    self.job.id,
                    progress=progress_payload(self.stats, self.operation),
                    statistics=self.statistics(),
                )
                logs_repo = LogRepository(session)
                for stamp, level, message in logs[-limit:]:
                    await logs_repo.add(self.job.id, level, message, limit, timestamp=stamp)
        except BaseException:
            self._dirty = True
            raise
        del self._logs[:pending]

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            with contextlib.suppress(Exception):
                await self.flush()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


def _iso(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")


def export_info(artifact: Artifact) -> ExportInfo:
    """An export as the API shows it (job detail, WebSocket ``complete``, webhooks)."""
    return ExportInfo(
        format=artifact.format,
        filename=artifact.filename,
        url=f"/api/v1/exports/{artifact.job_id}/{artifact.filename}",
        size_bytes=artifact.size_bytes,
        checksum=f"sha256:{artifact.checksum}",
        content_type=artifact.content_type,
        created_at=as_utc(artifact.created_at).replace(microsecond=0),
    )


class JobExports:
    """The pipeline's export and record steps for a job: each format built in a child
    process, put into the artifact store and recorded in the database
    (``JobRunner.build_exports``)."""

    def __init__(self, runner: JobRunner, job: Job, reporter: JobReporter | None) -> None:
        self.runner, self.job, self.reporter = runner, job, reporter

    async def build(self, formats: Sequence[str]) -> list[Artifact]:
        return await self.runner.build_exports(self.job, list(formats), {}, self.reporter)


class JobRunner:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.finishing: set[asyncio.Future[None]] = set()
        """Final status writes in flight; shielded, so a stop waits for them explicitly."""

    async def credentials_for(self, job: Job) -> dict[Origin, dict[str, str]]:
        """Stored credentials of the job's owner for the start URL's exact domain, then the
        job's own credentials (which win). Only those origins ever get the headers."""
        domain = domain_of(job.url)
        out: dict[Origin, dict[str, str]] = {}
        async with self.ctx.sessions() as session:
            stored = await CredentialRepository(session).for_domain(job.owner, domain)
        for credential in stored:
            headers = headers_for(
                credential.auth_type, self.ctx.cipher.decrypt(credential.ciphertext)
            )
            for origin in origins_for_domain(credential.domain):
                out.setdefault(origin, {}).update(headers)
        if job.auth_enc:
            auth = self.ctx.cipher.decrypt(job.auth_enc)
            headers = headers_for(auth.get("type", "none"), auth)
            for origin in origins_for_domain(domain):
                out.setdefault(origin, {}).update(headers)
        return out

    async def run(self, job_id: str, *, claimed: bool = False) -> None:
        """Run one job end to end; never raises (the outcome is in the database).
        ``claimed``: the queue already handed it to this worker; otherwise (a synchronous
        job, run in place) it is claimed here, by id."""
        settings = self.ctx.settings
        if not claimed:
            async with self.ctx.sessions() as session, session.begin():
                claimed = await JobRepository(session).claim(
                    job_id, self.ctx.worker_id, lease_until(settings.job_lease_seconds)
                )
        job = None
        if claimed:
            async with self.ctx.sessions() as session:
                job = await JobRepository(session).get(job_id)
        if job is None:
            self.ctx.cancel_requested.discard(job_id)  # cancelled while queued
            return
        task = asyncio.current_task()
        self.ctx.active_jobs[job_id] = task
        beat = asyncio.create_task(self._heartbeat(job_id, task))
        try:
            if job_id in self.ctx.cancel_requested:
                # Cancelled between the claim and this registration: the canceller found
                # no task to stop, so stop here (the status already says cancelled).
                return
            # One trace per job: the span continues the request that queued it.
            with (
                structlog.contextvars.bound_contextvars(job_id=job_id),
                span(
                    self.ctx.tracer,
                    "job",
                    parent=job.traceparent,
                    kind="consumer",
                    attributes={"scraper.job_id": job_id, "scraper.attempt": job.attempts},
                ),
            ):
                log.info("job_started", attempt=job.attempts)
                await self.execute(job)
        finally:
            self.ctx.active_jobs.pop(job_id, None)
            self.ctx.cancel_requested.discard(job_id)
            with contextlib.suppress(Exception):
                await self._to_the_end(self._release(job_id, beat))

    async def _to_the_end(self, write: Coroutine[Any, Any, None]) -> None:
        """Run a final write (an outcome, a lease's release) shielded from cancellation,
        and known to ``finishing``: a stopping pool waits for it before the database
        closes, even when the task that started it was cancelled meanwhile."""
        done = asyncio.ensure_future(write)
        self.finishing.add(done)
        done.add_done_callback(self.finishing.discard)
        await asyncio.shield(done)

    async def _release(self, job_id: str, beat: asyncio.Task[None] | None) -> None:
        """Stop the work's heartbeat, wait until it has ended, then release the lease.

        A heartbeat cancelled in the middle of its write still owns that write: its thread
        runs the UPDATE and the rollback after it, whatever the task. Left running, it
        races the release, the next claim and, at shutdown, the disposal of the engine
        (its connection outlives the pool that made it). So the lease is released only
        once the heartbeat has finished."""
        if beat is not None:
            await stopped(beat)
        await self.ctx.queue.finish(job_id, self.ctx.worker_id)

    async def _heartbeat(self, job_id: str, task: asyncio.Task[Any] | None) -> None:
        """Keep the job's lease, and stop the job when a cancel request is stored (by any
        process) or the lease was lost: checked every ``HEARTBEAT_EVERY`` seconds."""
        lease = self.ctx.settings.job_lease_seconds
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                state = await self.ctx.queue.heartbeat(self.ctx.worker_id, job_id, lease)
            except Exception as exc:
                outage = unreachable(exc)  # (a known outage: one line, no traceback)
                log.warning("heartbeat_failed", job_id=job_id, reason=outage, exc_info=not outage)
                continue
            if state == "ok" or task is None:
                continue
            if job_id not in self.ctx.cancel_requested:  # not already being stopped here
                if state == "cancel":
                    self.ctx.cancel_requested.add(job_id)
                else:
                    log.warning("job_lease_lost", job_id=job_id)
                task.cancel()
            return

    async def execute(self, job: Job) -> None:
        reporter = JobReporter(self.ctx, job)
        flusher = asyncio.create_task(reporter.flush_forever())
        started = time.monotonic()
        reporter.log("info", f"Started crawling {job.url} (attempt {job.attempts})")
        await self._webhook(job, "started", {})
        outcome: tuple[str, str | None] = ("failed", "internal error")
        error_code: str | None = None  # the design's code of a failure, for /scrape/sync
        try:
            artifacts = await self._crawl_and_export(job, reporter)
            outcome = ("completed", None)
            reporter.log(
                "info", f"Completed: {reporter.stats.processed} pages, {len(artifacts)} exports"
            )
        except asyncio.CancelledError:
            if job.id in self.ctx.cancel_requested:
                outcome = ("cancelled", "cancelled by request")
            else:
                outcome = ("queued", None)  # shutdown: hand the job back for the next start
                reporter.log("warning", "worker stopping; job handed back to the queue")
        except Exception as exc:
            outage = unreachable(exc)
            if outage is not None:
                # The database went away under the job (a restart, a cut): nothing is
                # wrong with the job. Handed back once the database answers again (see
                # ``_finish``); it resumes from the pages already stored. A synchronous
                # one has nobody to resume it (its request waits): it fails, saying why.
                log.warning("job_database_unreachable", job_id=job.id, reason=outage)
                if job.sync:
                    lost = f"the database stopped answering ({outage}); resubmit"
                    outcome = ("failed", lost)
                    reporter.log("error", lost)
                else:
                    outcome = ("queued", None)
                    reporter.log(
                        "warning",
                        f"the database stopped answering ({outage}); the job is handed back "
                        "to the queue and resumes from the pages already stored",
                    )
                return
            if is_disk_full(exc):
                error = await self._out_of_space(job)
            elif isinstance(exc, ScraperError):
                error = exc.message
                error_code = exc.code
            else:
                log.exception("job_crashed", job_id=job.id)
                error = f"internal error ({type(exc).__name__}); see the server log"
            outcome = ("failed", error)
            reporter.log("error", error)
        finally:
            flusher.cancel()
            status, message = outcome
            await self._to_the_end(
                self._finish(job, reporter, status, message, started, flusher, error_code)
            )

    async def _crawl_and_export(self, job: Job, reporter: JobReporter) -> list[Artifact]:
        options = ScrapeOptions.model_validate(job.options)
        settings = self.ctx.settings
        max_pages = options.max_pages
        if job.sync:
            max_pages = min(max_pages, settings.sync_max_pages)
        config = CrawlConfig.from_options(
            job.url,
            options,
            user_agent=settings.user_agent,
            max_pages=max_pages,
            max_body_bytes=settings.max_body_bytes,
            max_redirects=settings.max_redirects,
            render_images=bool(IMAGE_FORMATS & set(job.export_formats)),
        )
        credentials = await self.credentials_for(job)
        if credentials and config.cache_enabled:
            # The page cache is shared by URL: pages fetched with someone's credentials must
            # never be served to another job (or owner), so authenticated crawls bypass it.
            config = dataclasses.replace(config, cache_enabled=False)
            reporter.log(
                "info",
                "Page cache not used: this crawl sends credentials (stored for the site or "
                "given with the job), and pages fetched with them are never cached",
            )
        store = self.ctx.pages.open(job.id)
        try:
            outcome = await crawl_then_export(
                config,
                parts=self.ctx.crawl,
                store=store,
                formats=job.export_formats,
                exports=JobExports(self, job, reporter),
                listener=reporter.on_event,
                credentials=credentials,
                resume=True,
                on_crawled=lambda result: reporter.crawl_finished(result.stats, result.duration),
            )
            return outcome.exports
        finally:
            store.close()

    async def build_exports(
        self,
        job: Job,
        formats: list[str],
        options: dict[str, Any],
        reporter: JobReporter | None = None,
    ) -> list[Artifact]:
        """Build each format in a child process of its own (cancelling the job kills it),
        into a staging folder whose files are put into the artifact store only once the
        export is complete: a stopped or failed export leaves nothing behind. The export
        process opens the job's page store by job id."""
        job_dir = self.ctx.job_dir(job.id)
        artifacts = []
        for name in formats:
            exporter = get_exporter(name)
            staging = job_dir / f".building-{name}"
            if reporter is not None:
                reporter.export_started(name)
            began = time.monotonic()
            try:
                await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
                with span(self.ctx.tracer, f"export {name}", attributes={"scraper.format": name}):
                    built = await run_in_child(
                        build_export_in_worker,
                        job.id,
                        job.url,
                        name,
                        staging / exporter.filename,
                        options,
                        self.ctx.settings,
                        job_dir / "images",
                    )
                stored = [
                    (
                        file,
                        await self.ctx.artifacts.put(
                            artifact_key(job.id, file.path.name), file.path, file.content_type
                        ),
                    )
                    for file in built
                ]
            finally:
                await asyncio.shield(asyncio.to_thread(shutil.rmtree, staging, True))
            if reporter is not None:
                reporter.export_finished(
                    name, [file for file, _ in stored], time.monotonic() - began
                )
            for file, put in stored:
                artifact = Artifact(
                    job_id=job.id,
                    format=file.format,
                    filename=file.path.name,
                    key=put.key,
                    size_bytes=put.size,
                    checksum=put.checksum,
                    content_type=put.content_type,
                    created_at=now(),
                )
                async with self.ctx.sessions() as session, session.begin():
                    await ArtifactRepository(session).replace(artifact)
                artifacts.append(artifact)
        return artifacts

    async def _out_of_space(self, job: Job) -> str:
        """The disk filled up under the job: remove everything it wrote (pages, exports,
        images; also what makes room for its final status) and say so."""
        log.error("job_disk_full", job_id=job.id)
        await self.ctx.remove_job_files(job.id)
        with contextlib.suppress(Exception):
            async with self.ctx.sessions() as session, session.begin():
                await ArtifactRepository(session).delete_for_job(job.id)
        return filled_up_message(self.ctx.settings.data_dir)

    async def _finish(
        self,
        job: Job,
        reporter: JobReporter,
        status: str,
        message: str | None,
        started: float,
        flusher: asyncio.Task[None] | None = None,
        error_code: str | None = None,
    ) -> None:
        # The moment the work ended, both ways: the writes below can wait on a busy
        # database, and completed_at - started_at should still say the duration.
        duration, finished_at = round(time.monotonic() - started, 3), now()
        if flusher is not None:
            await asyncio.wait([flusher])  # never two flushes of one job at once
        with contextlib.suppress(Exception):
            await reporter.flush()
        written: tuple[str, list[Artifact]] | None = None
        for attempt in range(FINISH_ATTEMPTS):
            try:
                written = await self._write_outcome(
                    job, reporter, status, message, duration, finished_at, error_code
                )
                break
            except Exception as exc:
                # A full disk, or a database that went away, must not leave the job
                # "running" with no worker on it: try again while space or the database
                # may come back, then leave it to recovery (its lease expires).
                outage = unreachable(exc)
                if not (outage or is_disk_full(exc)) or attempt == FINISH_ATTEMPTS - 1:
                    raise
                event = "job_status_database_unreachable" if outage else "job_status_disk_full"
                log.warning(event, job_id=job.id, attempt=attempt + 1)
                await asyncio.sleep(FINISH_RETRY_DELAY)
        if written is None:
            return
        status, artifacts = written
        log.info("job_finished", status=status, pages=reporter.stats.processed)
        if status != "queued":
            self.ctx.metrics.jobs_finished.labels(status).inc()
        if status == "queued":
            return
        infos = [export_info(a) for a in artifacts]
        exports = [info.model_dump(mode="json") for info in infos]
        reporter.publish_progress(status)
        complete = CompleteData(
            job_id=job.id,
            status=status,  # type: ignore[arg-type]
            exports=infos,
            error_message=message,
        )
        reporter.events.send(CompleteEvent(data=complete))
        with contextlib.suppress(Exception):
            await reporter.events.flush()
        if status in ("completed", "failed"):
            await self._webhook(
                job,
                status,
                {
                    "exports": exports,
                    "error_message": message,
                    "statistics": reporter.statistics(),
                },
            )

    async def _write_outcome(
        self,
        job: Job,
        reporter: JobReporter,
        status: str,
        message: str | None,
        duration: float,
        finished_at: datetime,
        error_code: str | None = None,
    ) -> tuple[str, list[Artifact]] | None:
        """The job's final status (a cancel recorded meanwhile wins) and its artifacts;
        None when the job is gone."""
        async with self.ctx.sessions() as session, session.begin():
            jobs = JobRepository(session)
            current = await jobs.get(job.id)
            if current is None or current.worker_id != self.ctx.worker_id:
                return None  # gone, or taken back from this worker (its lease expired)
            if current.status == "cancelled":
                status = "cancelled"
            values: dict[str, Any] = {"status": status, "error_message": message}
            if status == "queued" and not job.sync:
                # Handed back by a stopping worker: not an attempt that failed, so it does
                # not count towards ``job_max_attempts`` (a synchronous job keeps its
                # count: the next start fails it, its client being gone).
                values["attempts"] = Job.attempts - 1
            if status == "failed" and error_code:
                values["statistics"] = {**(current.statistics or {}), "error_code": error_code}
            if status in ("completed", "failed", "cancelled"):
                operation = {"completed": "Completed", "failed": "Failed"}.get(status, "Cancelled")
                values.update(
                    completed_at=finished_at,
                    duration=duration,
                    progress=progress_payload(
                        reporter.stats, operation, finished=status == "completed"
                    ),
                )
            await jobs.update(job.id, **values)
            return status, list(await ArtifactRepository(session).for_job(job.id))

    async def _webhook(self, job: Job, event: str, extra: dict[str, Any]) -> None:
        if not job.webhook_url:
            return
        try:
            secret = await signing_secret(
                self.ctx.sessions, self.ctx.cipher, job.owner, job.webhook_secret_enc
            )
        except SecretsError:
            log.warning("webhook_secret_unreadable", job_id=job.id)
            return
        if not secret:
            return
        payload = {
            "event": event,
            "job_id": job.id,
            "url": job.url,
            "timestamp": _iso(now()),
            **extra,
        }
        # Fire and forget: a slow receiver never holds a worker; retries happen in the task.
        task = asyncio.create_task(
            self.ctx.webhooks.deliver(job.webhook_url, event, f"{job.id}:{event}", payload, secret)
        )
        self.ctx.background.add(task)
        task.add_done_callback(self.ctx.background.discard)

    async def run_conversion(self, conversion_id: str) -> None:
        """Build a conversion the queue handed to this worker; never raises. Its lease is
        kept by a heartbeat while it builds, and released at the end (a stop in between
        leaves it ``processing`` with no holder: the next worker builds it)."""
        async with self.ctx.sessions() as session:
            conversion = await ConversionRepository(session).get(conversion_id)
            job = await JobRepository(session).get(conversion.job_id) if conversion else None
        beat: asyncio.Task[None] | None = None
        try:
            if conversion is None or job is None:
                return
            beat = asyncio.create_task(self._heartbeat(conversion_id, asyncio.current_task()))
            await self.convert(
                job, conversion_id, conversion.target_format, dict(conversion.options)
            )
        finally:
            with contextlib.suppress(Exception):
                await self._to_the_end(self._release(conversion_id, beat))

    async def convert(
        self, job: Job, conversion_id: str, target_format: str, options: dict[str, Any]
    ) -> None:
        try:
            await self.build_exports(job, [target_format], options)
            values: dict[str, Any] = {"status": "completed", "completed_at": now()}
        except Exception as exc:
            log.exception("conversion_failed", conversion_id=conversion_id)
            values = {"status": "failed", "completed_at": now(), "error_message": str(exc)}
        async with self.ctx.sessions() as session, session.begin():
            await ConversionRepository(session).update(conversion_id, **values)


class WorkerPool:
    """``concurrency`` asyncio workers in this process, each claiming jobs from the queue
    with a lease; one more task takes back jobs whose lease expired, periodically."""

    def __init__(self, ctx: JobContext, concurrency: int) -> None:
        self.ctx = ctx
        self.runner = JobRunner(ctx)
        self.concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []
        self._recovery: asyncio.Task[None] | None = None
        self._converter: asyncio.Task[None] | None = None
        self.busy = 0
        self._holding: set[asyncio.Task[Any]] = set()
        """Worker loops running a job (the others wait for work: a stop cancels them)."""
        self._draining = False
        """Stopping: the loops take no new job."""
        self.requeued = 0
        """Jobs taken back by the recovery at start-up."""

    async def recover(self) -> int:
        """Running jobs whose lease expired (or whose worker process is gone) go back on
        the queue, a crawl resuming from its stored pages; one already claimed
        ``job_max_attempts`` times, or a synchronous one whose client is gone, ends
        ``failed``. Jobs a live worker holds are left alone. Returns how many went back."""
        recovered = await self.ctx.queue.recover_expired(self.ctx.settings.job_max_attempts)
        if recovered.requeued or recovered.failed:
            log.info("jobs_recovered", requeued=recovered.requeued, failed=recovered.failed)
        return len(recovered.requeued)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]
        if self.concurrency:
            self._recovery = asyncio.create_task(self._recover_forever())
            # Conversions take seconds to minutes: their own worker, so they never wait
            # behind a queue of crawls.
            self._converter = asyncio.create_task(self._loop(CONVERSIONS))

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs at once, and hand running ones back (status ``queued``, for
        another worker to resume from their stored pages); returns once their status is
        written, so the database can be closed after. ``grace``: the seconds this may take
        in all, running jobs finishing meanwhile if they can (``drain_seconds``); None:
        handed back at once."""
        deadline = time.monotonic() + (grace if grace is not None else 20.0)
        self._draining = True
        helpers = [t for t in (self._recovery,) if t is not None]
        loops = [t for t in (*self._tasks, self._converter) if t is not None]
        for task in [*helpers, *(t for t in loops if t not in self._holding)]:
            task.cancel()  # idle: waiting for work, or claiming it
        if grace is not None and self._holding:
            await asyncio.wait(set(self._holding), timeout=drain_seconds(grace))
        jobs = list(self.ctx.active_jobs.values())
        for task in [*loops, *jobs]:
            task.cancel()
        await asyncio.gather(*loops, *helpers, return_exceptions=True)
        self._recovery = self._converter = None
        self._tasks = []
        if jobs:
            await asyncio.wait(jobs, timeout=max(0.1, (deadline - time.monotonic()) / 2))
        if self.runner.finishing:  # final (or handed-back) status writes, shielded
            await asyncio.wait(
                set(self.runner.finishing), timeout=max(0.1, deadline - time.monotonic())
            )

    @property
    def alive(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    async def _recover_forever(self) -> None:
        pruned = -PRUNE_EVERY  # at the first round, then every PRUNE_EVERY
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(RECOVER_EVERY)
            try:
                await self.recover()
            except Exception:
                log.warning("recovery_failed", exc_info=True)
            if loop.time() - pruned >= PRUNE_EVERY:
                pruned = loop.time()
                try:
                    await self.ctx.queue.prune_finished(self.ctx.settings.queue_prune_hours)
                except Exception:
                    log.warning("queue_prune_failed", exc_info=True)

    async def _claim(self, queue: str) -> str:
        settings = self.ctx.settings
        outage: str | None = None
        while True:
            try:
                job_id = await self.ctx.queue.claim(
                    self.ctx.worker_id, settings.job_lease_seconds, queue
                )
                if outage is not None:
                    log.info("database_back", queue=queue)
                    outage = None
            except Exception as exc:
                # Database busy or away: try again at the next poll (an outage is said once,
                # not at every poll, and without a traceback).
                if outage is None:
                    outage = unreachable(exc)
                    log.warning("claim_failed", reason=outage, exc_info=outage is None)
                job_id = None
            if job_id is not None:
                return job_id
            await self.ctx.queue.wait_for_work(settings.queue_poll_seconds)

    async def _loop(self, queue: str = JOBS) -> None:
        current = asyncio.current_task()
        while not self._draining:
            job_id = await self._claim(queue)
            counted = queue == JOBS  # ``busy``: the jobs running, as health reports them
            self.busy += counted
            if current is not None:
                self._holding.add(current)
            job_task = asyncio.create_task(
                self.runner.run(job_id, claimed=True)
                if queue == JOBS
                else self.runner.run_conversion(job_id)
            )
            try:
                await job_task
            except asyncio.CancelledError:
                if current is not None and current.cancelling():
                    raise  # the worker itself is stopping
            except Exception:
                log.exception("worker_error", job_id=job_id)
            finally:
                self.busy -= counted
                if current is not None:
                    self._holding.discard(current)
            # Cancelling this loop while it awaits the job cancels the job instead; the job
            # hands itself back and returns normally, so the stop request surfaces here.
            # Without this the worker would take the next job and ``stop()`` would hang.
            if current is not None and current.cancelling():
                raise asyncio.CancelledError

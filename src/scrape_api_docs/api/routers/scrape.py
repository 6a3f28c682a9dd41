"""POST /api/v1/scrape, /scrape/sync and /scrape/validate."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, status

from scrape_api_docs.api.dependencies import (
    CallerDep,
    ContextDep,
    KeyedRoute,
    RunnerDep,
    ServiceDep,
)
from scrape_api_docs.api.errors import APIError
from scrape_api_docs.api.models.requests import ScrapeRequest, ValidateRequest
from scrape_api_docs.api.models.responses import ScrapeAccepted, SyncScrapeResult, ValidateResult
from scrape_api_docs.api.routers.views import export_info, statistics
from scrape_api_docs.jobs.context import JobContext
from scrape_api_docs.jobs.service import JobSpec
from scrape_api_docs.jobs.validate import validate_site
from scrape_api_docs.storage.space import FILLED_UP

router = APIRouter(route_class=KeyedRoute)
SYNC_RETRY_AFTER = 5
"""Seconds a client turned away by the synchronous-scrape bound is told to wait."""


def spec_of(body: ScrapeRequest) -> JobSpec:
    return JobSpec(
        url=str(body.url),
        options=body.options,
        export_formats=body.export_formats,
        priority=body.priority.value,
        authentication=body.authentication.model_dump(exclude_none=True)
        if body.authentication
        else None,
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
        webhook_secret=body.webhook_secret,
        metadata=body.metadata,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ScrapeAccepted)
async def submit(
    body: ScrapeRequest, request: Request, who: CallerDep, svc: ServiceDep
) -> ScrapeAccepted:
    """Queue a crawl; follow it at ``status_url`` or over the WebSocket."""
    submitted = await svc.submit(who.owner, spec_of(body))
    job = submitted.job
    ws_scheme = "wss" if request.url.scheme == "https" else "ws"
    base = f"{ws_scheme}://{request.url.netloc}"
    return ScrapeAccepted(
        job_id=job.id,
        status="queued",
        created_at=job.created_at,
        estimated_duration=submitted.estimated_duration,
        status_url=f"/api/v1/jobs/{job.id}",
        websocket_url=f"{base}/api/v1/jobs/{job.id}/stream",
        webhook_secret=submitted.webhook_secret,
    )


@router.post("/sync", response_model=SyncScrapeResult)
async def scrape_sync(
    body: ScrapeRequest, who: CallerDep, svc: ServiceDep, ctx: ContextDep, run: RunnerDep
) -> SyncScrapeResult:
    """Crawl a small site and answer when done (server caps: pages, seconds, and how many
    run at once)."""
    cap, limit = ctx.settings.sync_max_pages, ctx.settings.sync_timeout
    bound = ctx.settings.sync_concurrency
    if ctx.sync_running >= bound:
        raise APIError(
            429,
            "RATE_LIMIT_EXCEEDED",
            f"{bound} synchronous scrape(s) already running, the most this server runs at "
            f"once; retry in {SYNC_RETRY_AFTER} s, or submit to POST /api/v1/scrape",
            details={"sync_concurrency": bound, "retry_after": SYNC_RETRY_AFTER},
            headers={"Retry-After": str(SYNC_RETRY_AFTER)},
        )
    ctx.sync_running += 1  # held until the crawl ends, even if the client goes away
    try:
        submitted = await svc.submit(who.owner, spec_of(body), sync=True)
    except BaseException:
        ctx.sync_running -= 1
        raise
    job = submitted.job
    task = asyncio.create_task(run.run(job.id))
    ctx.background.add(task)  # keep a reference until it ends, whatever the client does
    task.add_done_callback(ctx.background.discard)
    task.add_done_callback(lambda _: _release_sync_slot(ctx))
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=limit)
    except TimeoutError:
        # Only cancel: a job that finished right at the limit is answered, not deleted.
        if await svc.cancel(who.owner, job.id):
            # Answer once it has stopped: nothing is written into the job after the answer.
            await asyncio.wait([task], timeout=10)
            raise _too_big(
                f"did not finish within {limit:g} s", job.id, limit_seconds=limit
            ) from None
    view = await svc.view(who.owner, job.id)
    stats = statistics(view.job)
    if body.options.max_pages > cap and stats.skipped_reasons.get("page budget"):
        raise _too_big(f"has more than {cap} pages", job.id, limit_pages=cap)
    if view.job.status == "failed" and (view.job.error_message or "").startswith(FILLED_UP):
        raise APIError(
            507, "INSUFFICIENT_STORAGE", view.job.error_message or "", details={"job_id": job.id}
        )
    if view.job.status == "failed":
        if (view.job.statistics or {}).get("error_code") == "AUTHENTICATION_FAILED":
            # The target site's 401/403, not this API's: no WWW-Authenticate challenge.
            raise APIError(
                401,
                "AUTHENTICATION_FAILED",
                view.job.error_message or "the site needs credentials",
                details={"job_id": job.id, "url": job.url},
            )
        raise APIError(
            422,
            "SCRAPING_FAILED",
            view.job.error_message or "the scrape failed",
            details={"job_id": job.id},
        )
    return SyncScrapeResult(
        job_id=job.id,
        webhook_secret=submitted.webhook_secret,
        status=view.job.status,  # type: ignore[arg-type]
        duration=view.job.duration,
        pages_scraped=stats.pages_processed,
        exports=[export_info(a) for a in view.artifacts],
        statistics=stats,
        error_message=view.job.error_message,
    )


@router.post("/validate", response_model=ValidateResult)
async def validate(body: ValidateRequest, who: CallerDep, ctx: ContextDep) -> ValidateResult:
    """Check a URL without crawling: network policy, reachability, robots.txt, sitemap
    size, JavaScript rendering."""
    result = await validate_site(
        str(body.url), body.options, policy=ctx.policy, user_agent=ctx.settings.user_agent
    )
    return ValidateResult.model_validate(result)


def _release_sync_slot(ctx: JobContext) -> None:
    ctx.sync_running -= 1


def _too_big(what: str, job_id: str, **limit: float) -> APIError:
    """413: past a cap of the synchronous endpoint; the answer points to the async one, and
    to the job that holds what was fetched before the cap (its pages; no export is built
    after a time cap)."""
    return APIError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"the site {what}, the limit of /scrape/sync; submit it to POST /api/v1/scrape "
        f"instead (what was fetched is kept in job {job_id})",
        details={"job_id": job_id, "status_url": f"/api/v1/jobs/{job_id}", **limit},
    )

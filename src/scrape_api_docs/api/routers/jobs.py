"""GET/DELETE /api/v1/jobs, GET /api/v1/jobs/{id}, WS /api/v1/jobs/{id}/stream."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, WebSocket, WebSocketDisconnect

from scrape_api_docs.api.dependencies import (
    CallerDep,
    KeyedRoute,
    ServiceDep,
    identify,
)
from scrape_api_docs.api.errors import APIError
from scrape_api_docs.api.models.responses import (
    JobDeleted,
    JobDetail,
    JobList,
    JobProgress,
)
from scrape_api_docs.api.routers.views import job_detail, job_list
from scrape_api_docs.api.view_cache import ViewCache
from scrape_api_docs.errors import JobNotFoundError
from scrape_api_docs.jobs.context import JobContext
from scrape_api_docs.jobs.events import (
    CompleteData,
    CompleteEvent,
    ProgressData,
    ProgressEvent,
    event_json,
)
from scrape_api_docs.storage.repositories import JobListQuery

router = APIRouter(route_class=KeyedRoute)
StatusFilter = Literal["queued", "running", "completed", "failed", "cancelled"]


def _json(body: bytes) -> Response:
    """A body serialised once and kept (view_cache): sent as it is."""
    return Response(body, media_type="application/json")


@router.get("", response_model=JobList)
async def list_jobs(
    request: Request,
    who: CallerDep,
    svc: ServiceDep,
    status: StatusFilter | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    sort: Literal["created_at", "updated_at", "duration"] = "created_at",
    order: Literal["asc", "desc"] = "desc",
) -> Response:
    query = JobListQuery(status, limit, offset, sort, order)

    async def read() -> bytes:
        return job_list(*await svc.list_jobs(who.owner, query), query).model_dump_json().encode()

    views: ViewCache = request.app.state.views
    return _json(await views.get(("jobs", who.owner, query), views.versions.all, read))


@router.get("/{job_id}", response_model=JobDetail)
async def get_job(request: Request, job_id: str, who: CallerDep, svc: ServiceDep) -> Response:
    async def read() -> bytes:
        return job_detail(await svc.view(who.owner, job_id)).model_dump_json().encode()

    views: ViewCache = request.app.state.views
    return _json(await views.get(("job", who.owner, job_id), views.versions.of(job_id), read))


@router.delete("/{job_id}", response_model=JobDeleted)
async def delete_job(job_id: str, who: CallerDep, svc: ServiceDep) -> JobDeleted:
    """Cancel a queued or running job (pages so far are kept), or delete a finished one."""
    outcome, message = await svc.cancel_or_delete(who.owner, job_id)
    return JobDeleted(job_id=job_id, status=outcome, message=message)


async def _ws_owner(websocket: WebSocket) -> str | int:
    """The caller of a WebSocket, by the same lookup as every request (``identify``):
    ``X-API-Key`` header or ``api_key`` query parameter (browsers cannot set headers on
    WebSockets). A refusal is the close code: 4401, or 4429 past the failed-attempt
    budget."""
    key = websocket.headers.get("x-api-key") or websocket.query_params.get("api_key")
    try:
        return (await identify(websocket, key)).owner
    except APIError as refused:
        return 4429 if refused.status == 429 else 4401


@router.websocket("/{job_id}/stream")
async def stream(websocket: WebSocket, job_id: str) -> None:
    """On connect the current state, then progress, log and complete messages; closes
    after complete. Unknown job: close code 4404; bad key: 4401."""
    await websocket.accept()
    owner = await _ws_owner(websocket)
    if isinstance(owner, int):
        reason = "too many failed attempts" if owner == 4429 else "missing or invalid API key"
        await websocket.close(code=owner, reason=reason)
        return
    svc = websocket.app.state.service
    ctx: JobContext = websocket.app.state.ctx
    events = ctx.bus.subscribe(job_id)  # before reading the state: nothing falls between
    try:
        await events.ready()  # (a bus between processes: once its server confirmed)
        try:
            view = await svc.view(owner, job_id)
        except JobNotFoundError:
            await websocket.close(code=4404, reason=f"job {job_id} not found")
            return
        detail = job_detail(view)
        progress = detail.progress or JobProgress(current_operation=detail.status)
        state = ProgressData(job_id=job_id, status=detail.status, **progress.model_dump())
        await websocket.send_json(event_json(ProgressEvent(data=state)))
        if detail.status in ("completed", "failed", "cancelled"):
            done = CompleteData(
                job_id=job_id,
                status=detail.status,
                exports=detail.exports,
                error_message=detail.error_message,
            )
            await websocket.send_json(event_json(CompleteEvent(data=done)))
            await websocket.close(code=1000)
            return
        receive = asyncio.create_task(websocket.receive())
        try:
            while True:
                message = asyncio.create_task(anext(events))
                finished, _ = await asyncio.wait(
                    {receive, message}, return_when=asyncio.FIRST_COMPLETED
                )
                if receive in finished:
                    message.cancel()
                    if receive.result().get("type") == "websocket.disconnect":
                        return
                    receive = asyncio.create_task(websocket.receive())  # ignore client chatter
                    continue
                event = message.result()
                await websocket.send_json(event_json(event))
                if isinstance(event, CompleteEvent):
                    await websocket.close(code=1000)
                    return
        finally:
            receive.cancel()
    except WebSocketDisconnect:
        return
    finally:
        events.close()

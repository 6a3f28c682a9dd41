"""Downloads, export metadata and conversions under /api/v1/exports."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from scrape_api_docs.api.dependencies import (
    CallerDep,
    ContextDep,
    KeyedRoute,
    ServiceDep,
)
from scrape_api_docs.api.download import download_response
from scrape_api_docs.api.errors import APIError
from scrape_api_docs.api.models.requests import ConvertRequest
from scrape_api_docs.api.models.responses import (
    BookPreview,
    ConversionAccepted,
    ConversionStatus,
    ExportMetadata,
    FormatInfo,
)
from scrape_api_docs.api.preview import book_preview, markdown_book
from scrape_api_docs.api.routers.views import export_info
from scrape_api_docs.exporters.registry import EXPORTERS
from scrape_api_docs.storage.repositories import ArtifactRepository

router = APIRouter(route_class=KeyedRoute)


@router.get("/conversions/{conversion_id}", response_model=ConversionStatus)
async def conversion_status(
    conversion_id: str, who: CallerDep, svc: ServiceDep, ctx: ContextDep
) -> ConversionStatus:
    conversion = await svc.conversion(who.owner, conversion_id)
    export = None
    if conversion.status == "completed":
        async with ctx.sessions() as session:
            for artifact in await ArtifactRepository(session).for_job(conversion.job_id):
                if artifact.format == conversion.target_format:
                    export = export_info(artifact)
    return ConversionStatus(
        conversion_id=conversion.id,
        job_id=conversion.job_id,
        target_format=conversion.target_format,
        status=conversion.status,  # type: ignore[arg-type]
        created_at=conversion.created_at,
        completed_at=conversion.completed_at,
        error_message=conversion.error_message,
        export=export,
    )


@router.get("/{job_id}/metadata", response_model=ExportMetadata)
async def export_metadata(job_id: str, who: CallerDep, svc: ServiceDep) -> ExportMetadata:
    view = await svc.view(who.owner, job_id, log_limit=0)
    by_format = {a.format: a for a in view.artifacts}
    formats: dict[str, FormatInfo] = {}
    for name in EXPORTERS:
        artifact = by_format.get(name)
        if artifact is not None:
            info = export_info(artifact)
            formats[name] = FormatInfo(
                available=True, url=info.url, size_bytes=info.size_bytes, created_at=info.created_at
            )
        elif name in (view.job.export_formats or []):
            formats[name] = FormatInfo(
                available=False, message=f"not built yet (job {view.job.status})"
            )
        else:
            formats[name] = FormatInfo(
                available=False,
                message="Not requested in original job; POST .../convert to build it",
            )
    return ExportMetadata(job_id=job_id, formats=formats)


@router.get("/{job_id}/preview", response_model=BookPreview)
async def preview(job_id: str, who: CallerDep, svc: ServiceDep, ctx: ContextDep) -> BookPreview:
    """The beginning of the job's Markdown book as sanitised HTML (the exports' renderer
    and sanitiser), for a page to show; 404 until the book is built."""
    view = await svc.view(who.owner, job_id, log_limit=0)
    return await book_preview(ctx.artifacts, job_id, markdown_book(view.artifacts))


@router.post(
    "/{job_id}/convert", status_code=status.HTTP_202_ACCEPTED, response_model=ConversionAccepted
)
async def convert(
    job_id: str,
    body: ConvertRequest,
    who: CallerDep,
    svc: ServiceDep,
) -> ConversionAccepted:
    """Build another format from the job's stored pages, without crawling again."""
    conversion = await svc.create_conversion(
        who.owner, job_id, body.target_format, body.options.model_dump(exclude_none=True)
    )
    return ConversionAccepted(
        conversion_id=conversion.id,
        status="processing",
        status_url=f"/api/v1/exports/conversions/{conversion.id}",
    )


def _media_types() -> dict[str, dict[str, object]]:
    """Every media type a job's file is served as (each exporter's, and its extra files')."""
    types = {exporter.content_type for exporter in EXPORTERS.values()}
    types |= {extra[2] for exporter in EXPORTERS.values() for extra in exporter.extra_files}
    return {media.split(";")[0].strip(): {} for media in sorted(types)}


@router.get(
    "/{job_id}/{filename}",
    response_class=Response,
    responses={
        200: {"content": _media_types(), "description": "The file, as its format's media type"},
        206: {"content": _media_types(), "description": "The requested byte range of the file"},
        304: {"description": "Not modified: the file still has the ETag sent in If-None-Match"},
    },
)
async def download(
    job_id: str, filename: str, request: Request, who: CallerDep, svc: ServiceDep, ctx: ContextDep
) -> Response:
    """The file itself, streamed from the artifact store, with ETag and Range support.
    ``filename`` is only ever looked up among the files this job wrote; the key it
    resolves to is the one recorded, never built from the request."""
    artifact = await svc.artifact(who.owner, job_id, filename)
    reader = await ctx.artifacts.open(artifact.key)
    if reader is None:
        raise APIError(
            404,
            "NOT_FOUND",
            f"the file of export {artifact.filename!r} is gone; convert again",
            details={"job_id": job_id},
        )
    return download_response(
        request,
        reader,
        etag=f'"{artifact.checksum}"',
        media_type=artifact.content_type,
        filename=artifact.filename,
    )

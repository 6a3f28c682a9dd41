"""The Markdown book of a job as safe HTML, for the dashboard's preview.

The browser never renders Markdown itself: the book's beginning is read from the artifact
store and passed through the exports' own renderer and sanitiser (``html_render``), in a
thread (highlighting a long book is CPU work).
"""

from __future__ import annotations

import asyncio

from scrape_api_docs.api.errors import APIError
from scrape_api_docs.api.models.responses import BookPreview
from scrape_api_docs.exporters.html_render import markdown_preview
from scrape_api_docs.storage.artifacts import ArtifactStore
from scrape_api_docs.storage.tables import Artifact

PREVIEW_BYTES = 256 * 1024
"""How much of the book a preview shows: a screenful many times over, and bounded work."""
ID_PREFIX = "pv-"


def markdown_book(artifacts: list[Artifact]) -> Artifact | None:
    return next((a for a in artifacts if a.format == "markdown"), None)


def beginning(data: bytes, whole: bool) -> str:
    """The text of ``data``; when it is only the start of a file, cut at its last line
    break (no half line, no half UTF-8 sequence)."""
    if not whole:
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut > 0 else data
    return data.decode("utf-8", errors="replace")


async def book_preview(
    store: ArtifactStore, job_id: str, artifact: Artifact | None, limit: int = PREVIEW_BYTES
) -> BookPreview:
    if artifact is None:
        raise APIError(
            404,
            "NOT_FOUND",
            f"job {job_id} has no Markdown book (yet): it is built when the crawl ends, "
            "if the job asked for the markdown format",
            details={"job_id": job_id},
        )
    reader = await store.open(artifact.key)
    if reader is None:
        raise APIError(
            404,
            "NOT_FOUND",
            f"the file of export {artifact.filename!r} is gone; convert again",
            details={"job_id": job_id},
        )
    data = b"".join([chunk async for chunk in reader.chunks(0, limit)])
    truncated = reader.size > limit
    text = beginning(data, not truncated)
    html = await asyncio.to_thread(markdown_preview, text, ID_PREFIX)
    return BookPreview(
        job_id=job_id,
        filename=artifact.filename,
        size_bytes=reader.size,
        truncated=truncated,
        html=html,
    )

"""A download of a stored artifact: streamed from the artifact store, with ETag,
If-None-Match (304), Range (206, one range or several) and If-Range.

What ``FileResponse`` did for a local path, for any ``ArtifactReader``: the same headers
(Content-Disposition, Accept-Ranges, Last-Modified, Content-Length) and the same Range
parser, so nothing a client sees changed when files stopped being paths. Refusals are
the error envelope (400 malformed, 416 outside the file), not plain text.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from email.utils import formatdate
from urllib.parse import quote

import anyio
from fastapi.responses import FileResponse
from starlette.requests import Request
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.types import Receive, Scope, Send

from scrape_api_docs.api.errors import APIError
from scrape_api_docs.storage.artifacts import ArtifactReader

Ranges = list[tuple[int, int]]
"""Byte ranges as (start, end exclusive)."""


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of tags, compared weakly."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = (tag.strip().removeprefix("W/") for tag in header.split(","))
    return etag in tags


def requested_ranges(request: Request, etag: str, last_modified: str, size: int) -> Ranges:
    """The ranges to send; empty for the whole file. A Range the file cannot satisfy is
    refused with the error envelope; one that If-Range says is stale is ignored."""
    header = request.headers.get("range")
    if header is None:
        return []
    if_range = request.headers.get("if-range")
    if if_range is not None:
        if_range = if_range.strip()
        if if_range.startswith("W/") or if_range not in (etag, last_modified):
            return []  # a changed file: the whole of it is sent, the range ignored
    try:
        # The parser FileResponse used: the two can never disagree on what a Range means.
        return FileResponse._parse_range_header(header, size)
    except MalformedRangeHeader as exc:
        raise APIError(
            400,
            "BAD_REQUEST",
            f"malformed Range header ({exc.content}); use e.g. 'bytes=0-99'",
            details={"range": header[:100]},
        ) from None
    except RangeNotSatisfiable:
        raise APIError(
            416,
            "RANGE_NOT_SATISFIABLE",
            f"the requested range is outside the file ({size} bytes)",
            details={"size_bytes": size},
            headers={"Content-Range": f"bytes */{size}"},
        ) from None


def download_response(
    request: Request, reader: ArtifactReader, *, etag: str, media_type: str, filename: str
) -> Response:
    """The response to a GET of a stored artifact."""
    last_modified = formatdate(reader.modified, usegmt=True)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    ranges = requested_ranges(request, etag, last_modified, reader.size)
    headers["Last-Modified"] = last_modified
    return ArtifactResponse(
        reader, ranges, media_type=media_type, filename=filename, headers=headers
    )


class ArtifactResponse(Response):
    """Streams ``reader`` (whole, one range, or several as multipart/byteranges). The
    last chunk says it is the last, so a small body is never sent as a stream (the
    compression middleware leaves it, and its Content-Length, alone)."""

    def __init__(
        self,
        reader: ArtifactReader,
        ranges: Ranges,
        *,
        media_type: str,
        filename: str,
        headers: dict[str, str],
    ) -> None:
        self.reader = reader
        self.ranges = ranges
        self.status_code = 206 if ranges else 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self.headers.setdefault("accept-ranges", "bytes")
        quoted = quote(filename)
        self.headers.setdefault(
            "content-disposition",
            f"attachment; filename*=utf-8''{quoted}"
            if quoted != filename
            else f'attachment; filename="{filename}"',
        )
        size = reader.size
        self._boundary = ""
        if len(ranges) == 1:
            start, end = ranges[0]
            self.headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
            self.headers["content-length"] = str(end - start)
        elif ranges:
            self._boundary = secrets.token_hex(13)
            length = sum(len(self._part_head(s, e)) + (e - s) + 2 for s, e in ranges)
            length += len(self._closing())
            self.headers["content-type"] = f"multipart/byteranges; boundary={self._boundary}"
            self.headers["content-length"] = str(length)
        else:
            self.headers["content-length"] = str(size)

    def _part_head(self, start: int, end: int) -> bytes:
        return (
            f"--{self._boundary}\r\nContent-Type: {self.media_type}\r\n"
            f"Content-Range: bytes {start}-{end - 1}/{self.reader.size}\r\n\r\n"
        ).encode("latin-1")

    def _closing(self) -> bytes:
        return f"--{self._boundary}--".encode("latin-1")

    async def _pieces(self) -> AsyncIterator[bytes]:
        if not self.ranges:
            async for chunk in self.reader.chunks():
                yield chunk
        elif len(self.ranges) == 1:
            start, end = self.ranges[0]
            async for chunk in self.reader.chunks(start, end):
                yield chunk
        else:
            for start, end in self.ranges:
                yield self._part_head(start, end)
                async for chunk in self.reader.chunks(start, end):
                    yield chunk
                yield b"\r\n"
            yield self._closing()

    async def _send_body(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        previous: bytes | None = None
        async for piece in self._pieces():
            if previous is not None:
                await send({"type": "http.response.body", "body": previous, "more_body": True})
            previous = piece
        await send({"type": "http.response.body", "body": previous or b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                await self._send_body(send)
                group.cancel_scope.cancel()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()  # the client left: stop reading the file

            group.start_soon(stream)
            group.start_soon(watch)

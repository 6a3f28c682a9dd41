"""``AsyncClient``: the same calls as ``Client``, for asyncio (one ``await`` each)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from scrape_api_docs.api.models.responses import (
    ConversionAccepted,
    ConversionStatus,
    CredentialInfo,
    CredentialList,
    ExportMetadata,
    Health,
    JobDeleted,
    JobDetail,
    JobList,
    ScrapeAccepted,
    Stats,
    SyncScrapeResult,
    ValidateResult,
)
from scrape_api_docs.client import core
from scrape_api_docs.client.common import (
    DEFAULT_SERVER,
    EventHandler,
    RetryNotice,
    closed_error,
    connection_failed,
    headers,
)
from scrape_api_docs.client.core import Body, Call, JobStatus, RetryPolicy
from scrape_api_docs.client.files import PartFile, target_path
from scrape_api_docs.jobs.events import CompleteEvent, JobEvent, parse_event

T = TypeVar("T")


class AsyncClient:
    """``Client`` for asyncio: ``async with AsyncClient(url) as api: await api.wait(id)``."""

    def __init__(
        self,
        base_url: str = DEFAULT_SERVER,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        poll_interval: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers(api_key), timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- transport -------------------------------------------------------------------
    async def _send(
        self, call: Call[Any], *, stream: bool = False, http_timeout: Any = None
    ) -> httpx.Response:
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.params or None,
            json=call.json,
            timeout=self.timeout if http_timeout is None else http_timeout,
        )
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                raise connection_failed(self.base_url, exc) from exc
            wait = core.should_retry(call, self.retry, response, attempt)
            if wait is None:
                return response
            await response.aclose()
            attempt += 1
            if self.on_retry is not None:
                self.on_retry(
                    RetryNotice(call.method, call.path, response.status_code, wait, attempt)
                )
            await asyncio.sleep(wait)

    async def _call(self, call: Call[T], *, http_timeout: Any = None) -> T:
        return core.result(call, await self._send(call, http_timeout=http_timeout))

    # --- scrape ----------------------------------------------------------------------
    async def submit(self, request: Body | str, /, **fields: Any) -> ScrapeAccepted:
        """Queue a crawl: ``submit(ScrapeRequest(...))``, ``submit({...})`` or
        ``submit("https://docs.example.com/", options={"max_depth": 3}, ...)``."""
        return await self._call(core.submit(core.request_body(request, fields)))

    async def scrape_sync(self, request: Body | str, /, **fields: Any) -> SyncScrapeResult:
        """Crawl a small site and answer when done (no client timeout: the server's caps)."""
        body = core.request_body(request, fields)
        return await self._call(
            core.scrape_sync(body), http_timeout=httpx.Timeout(self.timeout, read=None)
        )

    async def validate(self, request: Body | str, /, **fields: Any) -> ValidateResult:
        return await self._call(core.validate(core.request_body(request, fields)))

    # --- jobs ------------------------------------------------------------------------
    async def list_jobs(
        self,
        status: JobStatus | None = None,
        *,
        limit: int = 20,
        offset: int = 0,
        sort: str = "created_at",
        order: str = "desc",
    ) -> JobList:
        return await self._call(core.list_jobs(status, limit, offset, sort, order))

    async def get_job(self, job_id: str) -> JobDetail:
        return await self._call(core.get_job(job_id))

    async def delete_job(self, job_id: str) -> JobDeleted:
        """Cancel a queued or running job (its pages so far are kept), or delete a
        finished one with its exports."""
        return await self._call(core.delete_job(job_id))

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's WebSocket messages: its current state first, then progress and log
        messages, ending with ``complete``. Raises ``NotFound``/``Unauthorized`` when the
        server closes the socket with 4404/4401. Bound it with ``asyncio.timeout``."""
        url = core.websocket_url(self.base_url, job_id)
        async with connect(
            url, additional_headers=headers(self.api_key), open_timeout=self.timeout
        ) as ws:
            while True:
                try:
                    raw = await ws.recv()
                except ConnectionClosed as exc:
                    error = closed_error(exc, job_id)
                    if error is None:
                        raise
                    raise error from exc
                event = parse_event(raw)
                yield event
                if isinstance(event, CompleteEvent):
                    return

    async def wait(
        self, job_id: str, *, on_event: EventHandler | None = None, websocket: bool = True
    ) -> JobDetail:
        """``Client.wait`` for asyncio: follow the WebSocket (poll where it cannot connect
        or drops) until the job ends; its final detail. Bound it with ``asyncio.timeout``
        (the job goes on)."""
        ended = False
        if websocket:
            try:
                async for event in self.events(job_id):
                    ended = isinstance(event, CompleteEvent)
                    if on_event is not None:
                        on_event(event)
            except (OSError, InvalidHandshake, ConnectionClosed, ValueError):
                pass  # polled from here on (a bad message too: ValueError)
        last: Any = None
        while True:
            detail = await self.get_job(job_id)
            if ended and detail.status in core.FINISHED:
                return detail  # its messages were heard already
            for event in core.events_of(detail):
                if on_event is not None and event != last:
                    on_event(event)
                last = event
            if detail.status in core.FINISHED:
                return detail
            await asyncio.sleep(self.poll_interval)

    # --- exports ---------------------------------------------------------------------
    async def export_metadata(self, job_id: str) -> ExportMetadata:
        return await self._call(core.export_metadata(job_id))

    async def convert(
        self, job_id: str, target_format: str, options: Body | None = None
    ) -> ConversionAccepted:
        """Build another format from the job's stored pages (no new crawl)."""
        body = core.body_json(None, target_format=target_format, options=options)
        return await self._call(core.convert(job_id, body))

    async def get_conversion(self, conversion_id: str) -> ConversionStatus:
        return await self._call(core.conversion(conversion_id))

    async def download(
        self, job_id: str, format: str = "markdown", path: str | os.PathLike[str] = "."
    ) -> Path:
        """Stream the job's ``format`` export to ``path`` (a file, or a folder to keep the
        server's file name), checked against its checksum; returns where it went."""
        export = core.export_for(await self.get_job(job_id), format)
        part = PartFile(target_path(path, export), export)
        try:
            call: Call[None] = Call("GET", core.download_path(job_id, export.filename), None)
            response = await self._send(call, stream=True)
            try:
                if not response.is_success:
                    await response.aread()
                    core.check(response)
                async for chunk in response.aiter_bytes():
                    part.write(chunk)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            part.discard()
            raise connection_failed(self.base_url, exc) from exc
        except BaseException:
            part.discard()
            raise
        return part.finish()

    # --- credentials -----------------------------------------------------------------
    async def add_credential(
        self,
        domain: str,
        auth_type: str,
        credentials: Mapping[str, Any],
        expires_at: datetime | None = None,
    ) -> CredentialInfo:
        """Store credentials for one domain (encrypted; never returned)."""
        body = core.body_json(
            None,
            domain=domain,
            auth_type=auth_type,
            credentials=dict(credentials),
            expires_at=expires_at,
        )
        return await self._call(core.add_credential(body))

    async def list_credentials(self) -> CredentialList:
        return await self._call(core.list_credentials())

    async def delete_credential(self, credential_id: str) -> None:
        await self._call(core.delete_credential(credential_id))

    # --- system ----------------------------------------------------------------------
    async def health(self) -> Health:
        """The server's checks (an unhealthy server's 503 is returned, not raised)."""
        return await self._call(core.health())

    async def metrics(self) -> str:
        """Prometheus text format."""
        return await self._call(core.metrics())

    async def stats(self) -> Stats:
        return await self._call(core.stats())

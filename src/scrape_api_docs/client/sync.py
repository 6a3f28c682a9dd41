"""``Client``: the API over httpx, one blocking call per endpoint."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

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
from scrape_api_docs.client.errors import WaitTimeout
from scrape_api_docs.client.files import PartFile, target_path
from scrape_api_docs.jobs.events import CompleteEvent, JobEvent, parse_event

T = TypeVar("T")


class Client:
    """A client of one scrape-api-docs server.

    >>> with Client("http://127.0.0.1:8000", api_key="...") as api:
    ...     job = api.submit("https://docs.example.com/", export_formats=["markdown"])
    ...     done = api.wait(job.job_id)
    ...     api.download(job.job_id, "markdown", "book.md")

    Results are the API's own response models; errors are ``APIError`` subclasses that
    carry the error envelope. 429 and 503 answers are retried after ``Retry-After``
    (bounded by ``retry``); ``on_retry`` hears of each wait.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_SERVER,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        poll_interval: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers(api_key), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------
    def _send(
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
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                raise connection_failed(self.base_url, exc) from exc
            wait = core.should_retry(call, self.retry, response, attempt)
            if wait is None:
                return response
            response.close()
            attempt += 1
            if self.on_retry is not None:
                self.on_retry(
                    RetryNotice(call.method, call.path, response.status_code, wait, attempt)
                )
            time.sleep(wait)

    def _call(self, call: Call[T], *, http_timeout: Any = None) -> T:
        return core.result(call, self._send(call, http_timeout=http_timeout))

    # --- scrape ----------------------------------------------------------------------
    def submit(self, request: Body | str, /, **fields: Any) -> ScrapeAccepted:
        """Queue a crawl: ``submit(ScrapeRequest(...))``, ``submit({...})`` or
        ``submit("https://docs.example.com/", options={"max_depth": 3}, ...)``."""
        return self._call(core.submit(core.request_body(request, fields)))

    def scrape_sync(self, request: Body | str, /, **fields: Any) -> SyncScrapeResult:
        """Crawl a small site and answer when done (no client timeout: the server's caps)."""
        body = core.request_body(request, fields)
        return self._call(
            core.scrape_sync(body), http_timeout=httpx.Timeout(self.timeout, read=None)
        )

    def validate(self, request: Body | str, /, **fields: Any) -> ValidateResult:
        return self._call(core.validate(core.request_body(request, fields)))

    # --- jobs ------------------------------------------------------------------------
    def list_jobs(
        self,
        status: JobStatus | None = None,
        *,
        limit: int = 20,
        offset: int = 0,
        sort: str = "created_at",
        order: str = "desc",
    ) -> JobList:
        return self._call(core.list_jobs(status, limit, offset, sort, order))

    def get_job(self, job_id: str) -> JobDetail:
        return self._call(core.get_job(job_id))

    def delete_job(self, job_id: str) -> JobDeleted:
        """Cancel a queued or running job (its pages so far are kept), or delete a
        finished one with its exports."""
        return self._call(core.delete_job(job_id))

    def events(self, job_id: str, *, timeout: float | None = None) -> Iterator[JobEvent]:
        """The job's WebSocket messages: its current state first, then progress and log
        messages, ending with ``complete``. Raises ``NotFound``/``Unauthorized`` when the
        server closes the socket with 4404/4401, ``WaitTimeout`` past ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        url = core.websocket_url(self.base_url, job_id)
        with connect(
            url, additional_headers=headers(self.api_key), open_timeout=self.timeout
        ) as ws:
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    raw = ws.recv(timeout=left)
                except TimeoutError:
                    raise WaitTimeout(f"job {job_id} not finished after {timeout:g} s") from None
                except ConnectionClosed as exc:
                    error = closed_error(exc, job_id)
                    if error is None:
                        raise
                    raise error from exc
                event = parse_event(raw)
                yield event
                if isinstance(event, CompleteEvent):
                    return

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_event: EventHandler | None = None,
        websocket: bool = True,
    ) -> JobDetail:
        """Follow the job until it ends and return its final detail. Follows the
        WebSocket; where that cannot connect or drops (a proxy without WebSockets, a
        restart), polls ``GET /jobs/{id}`` every ``poll_interval`` seconds instead.
        ``on_event`` hears every message (polls are turned into the same messages).
        ``WaitTimeout`` past ``timeout`` seconds (the job goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ended = False
        if websocket:
            try:
                for event in self.events(job_id, timeout=timeout):
                    ended = isinstance(event, CompleteEvent)
                    if on_event is not None:
                        on_event(event)
            except WaitTimeout:
                raise
            except (OSError, InvalidHandshake, ConnectionClosed, ValueError):
                pass  # polled from here on (a bad message too: ValueError)
        last: Any = None
        while True:
            detail = self.get_job(job_id)
            if ended and detail.status in core.FINISHED:
                return detail  # its messages were heard already
            for event in core.events_of(detail):
                if on_event is not None and event != last:
                    on_event(event)
                last = event
            if detail.status in core.FINISHED:
                return detail
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id} not finished after {timeout:g} s")
            time.sleep(self.poll_interval)

    # --- exports ---------------------------------------------------------------------
    def export_metadata(self, job_id: str) -> ExportMetadata:
        return self._call(core.export_metadata(job_id))

    def convert(
        self, job_id: str, target_format: str, options: Body | None = None
    ) -> ConversionAccepted:
        """Build another format from the job's stored pages (no new crawl)."""
        body = core.body_json(None, target_format=target_format, options=options)
        return self._call(core.convert(job_id, body))

    def get_conversion(self, conversion_id: str) -> ConversionStatus:
        return self._call(core.conversion(conversion_id))

    def download(
        self, job_id: str, format: str = "markdown", path: str | os.PathLike[str] = "."
    ) -> Path:
        """Stream the job's ``format`` export to ``path`` (a file, or a folder to keep the
        server's file name), checked against its checksum; returns where it went."""
        export = core.export_for(self.get_job(job_id), format)
        part = PartFile(target_path(path, export), export)
        try:
            call: Call[None] = Call("GET", core.download_path(job_id, export.filename), None)
            response = self._send(call, stream=True)
            try:
                if not response.is_success:
                    response.read()
                    core.check(response)
                for chunk in response.iter_bytes():
                    part.write(chunk)
            finally:
                response.close()
        except httpx.TransportError as exc:
            part.discard()
            raise connection_failed(self.base_url, exc) from exc
        except BaseException:
            part.discard()
            raise
        return part.finish()

    # --- credentials -----------------------------------------------------------------
    def add_credential(
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
        return self._call(core.add_credential(body))

    def list_credentials(self) -> CredentialList:
        return self._call(core.list_credentials())

    def delete_credential(self, credential_id: str) -> None:
        self._call(core.delete_credential(credential_id))

    # --- system ----------------------------------------------------------------------
    def health(self) -> Health:
        """The server's checks (an unhealthy server's 503 is returned, not raised)."""
        return self._call(core.health())

    def metrics(self) -> str:
        """Prometheus text format."""
        return self._call(core.metrics())

    def stats(self) -> Stats:
        return self._call(core.stats())

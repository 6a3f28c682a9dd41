"""The client without I/O: what each endpoint sends, how answers become models, when to
retry. ``Client`` and ``AsyncClient`` only carry these calls over httpx."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from scrape_api_docs.api.models.responses import (
    ConversionAccepted,
    ConversionStatus,
    CredentialInfo,
    CredentialList,
    ExportInfo,
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
from scrape_api_docs.client.errors import BadAnswer, NotFound, api_error
from scrape_api_docs.jobs.events import (
    CompleteData,
    CompleteEvent,
    JobEvent,
    JobProgress,
    ProgressData,
    ProgressEvent,
)

API = "/api/v1"
API_KEY_HEADER = "X-API-Key"
FINISHED = frozenset({"completed", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 503})
T = TypeVar("T")
Body = BaseModel | Mapping[str, Any]
JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


@dataclass(frozen=True)
class RetryPolicy:
    """429 and 503 answers are tried again after the server's ``Retry-After`` (or
    ``backoff`` x 2^attempt without one), at most ``retries`` times, and only while each
    wait is at most ``max_wait`` seconds: a longer wait is the caller's decision."""

    retries: int = 3
    max_wait: float = 30.0
    backoff: float = 0.5

    def delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying ``response``'s request again, or None."""
        if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
            return None
        wait = retry_after(response.headers.get("retry-after"))
        if wait is None:
            wait = self.backoff * 2**attempt
        return wait if wait <= self.max_wait else None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the type its answer is read as (None: no body)."""

    method: str
    path: str
    result: TypeAdapter[T] | None
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    retry_503: bool = True
    """Health answers 503 with its own body (unhealthy): not a busy server."""
    ok: frozenset[int] = frozenset()
    """Statuses besides 2xx whose body is the result (health's 503)."""
    text: bool = False
    """The answer is plain text (Prometheus metrics), not JSON."""


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(kind: type[T]) -> TypeAdapter[T]:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def body_json(body: Body | None, **fields: Any) -> dict[str, Any]:
    """A request body as JSON: a model as it was set (the server's defaults apply to the
    rest), a mapping as it is (the server is the one that checks it), plus ``fields``."""
    out: dict[str, Any] = {}
    if isinstance(body, BaseModel):
        out.update(body.model_dump(mode="json", exclude_unset=True))
    elif body is not None:
        out.update(_jsonable(dict(body)))
    for name, value in fields.items():
        if value is not None:
            out[name] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    return to_jsonable_python(value)


def request_body(request: Body | str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A scrape or validate body from a model, a mapping or a URL, plus keyword fields."""
    if isinstance(request, str):
        return body_json(None, url=request, **fields)
    return body_json(request, **fields)


def segment(value: str) -> str:
    """A path segment: ids and file names never change the path they are put in."""
    return quote(value, safe="")


# --- every endpoint ------------------------------------------------------------------
def submit(body: dict[str, Any]) -> Call[ScrapeAccepted]:
    return Call("POST", f"{API}/scrape", _adapter(ScrapeAccepted), json=body)


def scrape_sync(body: dict[str, Any]) -> Call[SyncScrapeResult]:
    return Call("POST", f"{API}/scrape/sync", _adapter(SyncScrapeResult), json=body)


def validate(body: dict[str, Any]) -> Call[ValidateResult]:
    return Call("POST", f"{API}/scrape/validate", _adapter(ValidateResult), json=body)


def list_jobs(
    status: JobStatus | None, limit: int, offset: int, sort: str, order: str
) -> Call[JobList]:
    params: dict[str, Any] = {"limit": limit, "offset": offset, "sort": sort, "order": order}
    if status is not None:
        params["status"] = status
    return Call("GET", f"{API}/jobs", _adapter(JobList), params=params)


def get_job(job_id: str) -> Call[JobDetail]:
    return Call("GET", f"{API}/jobs/{segment(job_id)}", _adapter(JobDetail))


def delete_job(job_id: str) -> Call[JobDeleted]:
    return Call("DELETE", f"{API}/jobs/{segment(job_id)}", _adapter(JobDeleted))


def export_metadata(job_id: str) -> Call[ExportMetadata]:
    return Call("GET", f"{API}/exports/{segment(job_id)}/metadata", _adapter(ExportMetadata))


def convert(job_id: str, body: dict[str, Any]) -> Call[ConversionAccepted]:
    path = f"{API}/exports/{segment(job_id)}/convert"
    return Call("POST", path, _adapter(ConversionAccepted), json=body)


def conversion(conversion_id: str) -> Call[ConversionStatus]:
    path = f"{API}/exports/conversions/{segment(conversion_id)}"
    return Call("GET", path, _adapter(ConversionStatus))


def download_path(job_id: str, filename: str) -> str:
    return f"{API}/exports/{segment(job_id)}/{segment(filename)}"


def add_credential(body: dict[str, Any]) -> Call[CredentialInfo]:
    return Call("POST", f"{API}/auth/credentials", _adapter(CredentialInfo), json=body)


def list_credentials() -> Call[CredentialList]:
    return Call("GET", f"{API}/auth/credentials", _adapter(CredentialList))


def delete_credential(credential_id: str) -> Call[None]:
    return Call("DELETE", f"{API}/auth/credentials/{segment(credential_id)}", None)


def health() -> Call[Health]:
    path = f"{API}/system/health"
    return Call("GET", path, _adapter(Health), retry_503=False, ok=frozenset({503}))


def stats() -> Call[Stats]:
    return Call("GET", f"{API}/system/stats", _adapter(Stats))


def metrics() -> Call[str]:
    return Call("GET", f"{API}/system/metrics", _adapter(str), text=True)


# --- answers -------------------------------------------------------------------------
def check(response: httpx.Response, ok: frozenset[int] = frozenset()) -> None:
    """Raise the typed error of an error answer (the body must have been read)."""
    if response.is_success or response.status_code in ok:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    raise api_error(
        response.status_code,
        body,
        reason=response.reason_phrase,
        retry_after=retry_after(response.headers.get("retry-after")),
    )


def result(call: Call[T], response: httpx.Response) -> T:
    """The typed answer, or the typed error (an error status, or a body that is not the
    API's: a proxy's page, a server of another version)."""
    check(response, call.ok)
    if call.result is None:
        return None  # type: ignore[return-value]
    try:
        if call.text:
            return call.result.validate_python(response.text)
        return call.result.validate_json(response.content)
    except ValidationError as exc:
        check(response)  # an error status allowed in ``ok`` whose body is the envelope
        raise BadAnswer(
            f"{call.method} {call.path}: the answer (HTTP {response.status_code}) is not "
            f"the API's: {exc.errors()[0]['msg']}"
        ) from None


def should_retry(
    call: Call[Any], policy: RetryPolicy, response: httpx.Response, attempt: int
) -> float | None:
    if response.status_code == 503 and not call.retry_503:
        return None
    return policy.delay(response, attempt)


# --- following a job -----------------------------------------------------------------
def websocket_url(base_url: str, job_id: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + f"{API}/jobs/{segment(job_id)}/stream"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def events_of(detail: JobDetail) -> list[JobEvent]:
    """What a poll of the job says, as the WebSocket would have said it."""
    progress = detail.progress or JobProgress(current_operation=detail.status)
    data = ProgressData(job_id=detail.job_id, status=detail.status, **progress.model_dump())
    out: list[JobEvent] = [ProgressEvent(data=data)]
    if detail.status in FINISHED:
        done = CompleteData(
            job_id=detail.job_id,
            status=detail.status,
            exports=detail.exports,
            error_message=detail.error_message,
        )
        out.append(CompleteEvent(data=done))
    return out


def export_for(detail: JobDetail, fmt: str) -> ExportInfo:
    """The job's file of export format ``fmt`` (its main file, not a companion)."""
    for export in detail.exports:
        if export.format == fmt:
            return export
    built = ", ".join(sorted({e.format for e in detail.exports})) or "none"
    if detail.status not in FINISHED:
        message = f"job {detail.job_id} is {detail.status}: no export yet (wait for it first)"
    else:
        message = (
            f"job {detail.job_id} has no {fmt!r} export (built: {built}); "
            f"convert it first (POST .../exports/{detail.job_id}/convert)"
        )
    raise NotFound(404, "NOT_FOUND", message, details={"job_id": detail.job_id, "format": fmt})

"""Every error a client sees: the design's envelope, with a request id, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from scrape_api_docs.errors import ScraperError
from scrape_api_docs.storage.outage import unreachable
from scrape_api_docs.strict import UNKNOWN_NAME, error_sentence

log = structlog.get_logger("api")
_BAD_KEY = "missing or invalid API key: send a valid key in the X-API-Key header"

STATUS_FOR_CODE = {
    "INVALID_URL": 400,
    "VALIDATION_ERROR": 422,
    "INVALID_OPTIONS": 400,
    "AUTHENTICATION_FAILED": 401,
    "RATE_LIMIT_EXCEEDED": 429,
    "JOB_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "SCRAPING_FAILED": 502,
    "EXPORT_FAILED": 500,
    "PAYLOAD_TOO_LARGE": 413,
    "CONFLICT": 409,
    "QUEUE_FULL": 429,
    "INSUFFICIENT_STORAGE": 507,
    "INTERNAL_ERROR": 500,
}
CODE_FOR_STATUS = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_FAILED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
    507: "INSUFFICIENT_STORAGE",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "INVALID_URL",
                    "message": "url must be an http or https URL",
                    "details": {
                        "errors": [{"field": "url", "message": "url must be an http or https URL"}]
                    },
                    "timestamp": "2026-11-30T19:00:00Z",
                    "request_id": "req_9b1d2c3e4f5a6b7c",
                }
            ]
        }
    )

    code: str = Field(description="One of the design's error codes, e.g. JOB_NOT_FOUND.")
    message: str = Field(description="What happened and what to do about it.")
    details: dict[str, Any] = Field(description="Machine-readable context; may be empty.")
    timestamp: str = Field(description="When, in UTC (ISO 8601, seconds).")
    request_id: str = Field(description="Also in the X-Request-ID header; quote it.")


class ErrorResponse(BaseModel):
    """The one shape of every error answer (4xx and 5xx)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "JOB_NOT_FOUND",
                        "message": "job job_2f1c9a7d3b4e5f60 not found",
                        "details": {"job_id": "job_2f1c9a7d3b4e5f60"},
                        "timestamp": "2026-11-30T19:00:00Z",
                        "request_id": "req_9b1d2c3e4f5a6b7c",
                    }
                }
            ]
        }
    )

    error: ErrorDetail


def error_example(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "timestamp": "2026-11-30T19:00:00Z",
            "request_id": "req_9b1d2c3e4f5a6b7c",
        }
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the envelope and an example."""
    known: dict[int, tuple[str, dict[str, Any]]] = {
        400: (
            "Refused: the URL is malformed or not allowed (INVALID_URL), or names an option "
            "or format this server does not have (INVALID_OPTIONS)",
            error_example(
                "INVALID_URL",
                "http://169.254.169.254/ points to a private or reserved address (169.254.169.254)",
                {"url": "http://169.254.169.254/"},
            ),
        ),
        401: (
            "Missing, unknown or revoked API key (only once a key exists)",
            error_example("AUTHENTICATION_FAILED", _BAD_KEY),
        ),
        404: (
            "No such job, export or conversion (or it belongs to another key)",
            error_example(
                "JOB_NOT_FOUND",
                "job job_2f1c9a7d3b4e5f60 not found",
                {"job_id": "job_2f1c9a7d3b4e5f60"},
            ),
        ),
        413: (
            "Too big for /scrape/sync: more pages or seconds than its limits",
            error_example(
                "PAYLOAD_TOO_LARGE",
                "the site has more than 50 pages, the limit of /scrape/sync; "
                "submit it to POST /api/v1/scrape instead",
                {"job_id": "job_2f1c9a7d3b4e5f60", "limit_pages": 50},
            ),
        ),
        422: (
            "The request does not match the schema",
            error_example(
                "VALIDATION_ERROR",
                "options.max_depth must be at most 100",
                {
                    "errors": [
                        {
                            "field": "options.max_depth",
                            "message": "options.max_depth must be at most 100",
                        }
                    ]
                },
            ),
        ),
        429: (
            "Too many requests for this key, or the job queue is full (see Retry-After)",
            error_example(
                "RATE_LIMIT_EXCEEDED", "too many requests; retry in 2 s", {"retry_after": 2}
            ),
        ),
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, example = known[status]
        out[status] = {
            "model": ErrorResponse,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    return out


# Any other 4xx or 5xx answer has the same envelope.
ANY_ERROR: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "Client error (the error envelope)"},
    "5XX": {
        "model": ErrorResponse,
        "description": "Server error, or 503 while the server shuts down (the error envelope)",
    },
}


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def envelope(
    request: Request, code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "request_id": request_id(request),
        }
    }


# A 429 that knows no better (the job queue is full) asks for a retry this much later.
DEFAULT_RETRY_AFTER = 30


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope; a request that drew on a rate limit says where it stands
    (``X-RateLimit-*``), and every 429 says when to retry (``Retry-After``)."""
    out: dict[str, str] = {}
    quota = getattr(request.state, "quota", None)
    if quota is not None:
        out.update(quota.headers())
    out.update(headers or {})
    if status == 429 and not any(name.lower() == "retry-after" for name in out):
        out["Retry-After"] = str(DEFAULT_RETRY_AFTER)
    return JSONResponse(envelope(request, code, message, details), status, headers=out)


class APIError(ScraperError):
    """An error raised by the web layer itself with an explicit status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.error_code = code
        self.headers = headers


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(
            request, exc.status, exc.error_code, exc.message, exc.details, exc.headers
        )

    @app.exception_handler(ScraperError)
    async def _scraper_error(request: Request, exc: ScraperError) -> JSONResponse:
        status = STATUS_FOR_CODE.get(exc.code, 400)
        return error_response(request, status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, status, problems = validation_problems(exc.errors())
        message = problems[0]["message"] if problems else "the request is not valid"
        return error_response(request, status, code, message, {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            # FastAPI's answer to a body that is not even text (bad UTF-8): the same cause,
            # code and status as any other body that is not JSON.
            error = {"type": "json_invalid", "loc": ("body",), "ctx": {"error": "not UTF-8"}}
            code, status, problems = validation_problems([error])
            return error_response(
                request, status, code, problems[0]["message"], {"errors": problems}
            )
        code = CODE_FOR_STATUS.get(exc.status_code, "HTTP_ERROR")
        message = str(exc.detail) if exc.detail else code.replace("_", " ").lower()
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        return error_response(request, exc.status_code, code, message, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Sent by Starlette's outermost middleware, past the one that stamps X-Request-ID
        # (errors raised in a middleware, or by a route when no handler below took them).
        outage = database_unavailable(request, exc)
        if outage is not None:
            outage.headers["X-Request-ID"] = request_id(request)
            return outage
        log.exception("unhandled_error", request_id=request_id(request))
        return error_response(
            request,
            500,
            "INTERNAL_ERROR",
            "unexpected server error; quote the request id when reporting it",
            headers={"X-Request-ID": request_id(request)},
        )

    # Raised by a route: answered here, inside the middlewares (no traceback logged, and
    # the response goes out like any other).
    for kind in _OUTAGE_ERRORS:

        @app.exception_handler(kind)
        async def _outage(request: Request, exc: Exception) -> JSONResponse:
            return database_unavailable(request, exc) or await _unexpected(request, exc)


DATABASE_RETRY_AFTER = 5
_OUTAGE_ERRORS: tuple[type[Exception], ...] = (ConnectionError, DBAPIError)
"""What a lost database raises under a route (``unreachable`` decides which ones are)."""


def database_unavailable(request: Request, exc: BaseException) -> JSONResponse | None:
    """503 ``SERVICE_UNAVAILABLE`` when ``exc`` says the database is unreachable (a
    restart, a network cut): the server reconnects by itself, so the client is told to
    retry shortly; None for any other error."""
    reason = unreachable(exc)
    if reason is None:
        return None
    log.warning("database_unavailable", reason=reason, path=request.url.path)
    return error_response(
        request,
        503,
        "SERVICE_UNAVAILABLE",
        f"the database is not answering ({reason}); the server reconnects by itself: "
        f"retry in {DATABASE_RETRY_AFTER} s, and see GET /api/v1/system/health",
        {"dependency": "database", "reason": reason, "retry_after": DATABASE_RETRY_AFTER},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's words
_WHERE = frozenset({"body", "query", "path", "header", "cookie"})
URL_FIELDS = frozenset({"url", "webhook_url"})


def validation_problems(errors: Sequence[Any]) -> tuple[str, int, list[dict[str, str]]]:
    """The code, status and ``[{field, message}]`` of a request the models refused.

    By cause: a URL field that is wrong in any way is 400 ``INVALID_URL`` (as when the
    network policy refuses it); a field, option or format we don't have is 400
    ``INVALID_OPTIONS`` naming the valid ones; any other value of the wrong form is 422
    ``VALIDATION_ERROR``. Each message is a sentence that names the field.
    """
    problems: list[dict[str, str]] = []
    url_problem = unknown = False
    kept: list[dict[str, str]] = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in _WHERE]
        if error.get("type") == "json_invalid":
            loc = []
        field = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc
        ).removeprefix(".")
        problem = {"field": field, "message": error_sentence(field, error)}
        problems.append(problem)
        if len(loc) == 1 and loc[0] in URL_FIELDS:
            url_problem = True
        if error.get("type") == UNKNOWN_NAME:
            unknown = True
            kept.append(problem)
    if url_problem:
        urls = [p for p in problems if p["field"] in URL_FIELDS]
        return "INVALID_URL", 400, urls + [p for p in problems if p not in urls]
    if unknown:
        return "INVALID_OPTIONS", 400, kept
    return "VALIDATION_ERROR", 422, problems


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own 405 names only the
    first route that matched the path, and each method of a path is its own route."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)

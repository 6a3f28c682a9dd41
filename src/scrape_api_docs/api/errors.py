"""Every error a client sees: the design's envelope, with a request id, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scrape_api_docs.errors import ScraperError

log = structlog.get_logger("api")

STATUS_FOR_CODE = {
    "INVALID_URL": 400,
    "VALIDATION_ERROR": 422,
    "AUTHENTICATION_FAILED": 401,
    "RATE_LIMIT_EXCEEDED": 429,
    "JOB_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "SCRAPING_FAILED": 502,
    "EXPORT_FAILED": 500,
    "PAYLOAD_TOO_LARGE": 413,
    "CONFLICT": 409,
    "QUEUE_FULL": 429,
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


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(envelope(request, code, message, details), status, headers=headers)


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
        problems = [
            {
                "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
                "message": error.get("msg", ""),
            }
            for error in exc.errors()
        ]
        url_problem = any(p["field"] in ("url", "webhook_url") for p in problems)
        code = "INVALID_URL" if url_problem else "VALIDATION_ERROR"
        first = problems[0] if problems else {"field": "", "message": "invalid request"}
        message = f"{first['field'] or 'request'}: {first['message']}"
        return error_response(request, 422, code, message, {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODE_FOR_STATUS.get(exc.status_code, "HTTP_ERROR")
        message = str(exc.detail) if exc.detail else code.replace("_", " ").lower()
        return error_response(request, exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", request_id=request_id(request))
        return error_response(
            request,
            500,
            "INTERNAL_ERROR",
            "unexpected server error; quote the request id when reporting it",
        )

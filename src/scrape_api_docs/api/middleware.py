"""Request ids and access logs, as plain ASGI middleware (no response buffering)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections.abc import Callable

import structlog
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scrape_api_docs.api.errors import envelope
from scrape_api_docs.tracing import span

log = structlog.get_logger("api")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Request ids tell requests apart in logs; they guard nothing, so they come from a PRNG
# seeded by the OS (reseeded in forked children) instead of a getrandom() system call
# per request, which py-spy showed at 5% of a busy server's samples.
_ids = random.Random(os.urandom(16))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(16)))


def new_request_id() -> str:
    return f"req_{_ids.getrandbits(64):016x}"


class RequestIdMiddleware:
    """Every response carries ``X-Request-ID``: the client's, if it sent a sane one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status_holder: dict[str, int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = rid
                status_holder["status"] = message["status"]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except asyncio.CancelledError:
                # The server cancels requests still running when it stops (uvicorn's
                # graceful-shutdown timeout, e.g. a long /scrape/sync): answer 503 in the
                # envelope, so the client knows to retry, instead of a bare 500.
                if scope["type"] != "http" or "status" in status_holder:
                    raise
                await _unavailable(scope, send_with_id)
            except Exception:
                # Answered (500, the envelope) by Starlette's outermost middleware.
                status_holder.setdefault("status", 500)
                raise
            finally:
                if scope["type"] == "http":
                    log.info(
                        "request",
                        method=scope.get("method"),
                        path=scope.get("path"),
                        status=status_holder.get("status"),
                        ms=round((time.perf_counter() - started) * 1000, 1),
                    )


async def _unavailable(scope: Scope, send: Send) -> None:
    body = json.dumps(
        envelope(
            Request(scope),
            "SERVICE_UNAVAILABLE",
            "the server is shutting down; retry in a few seconds",
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"5"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TracingMiddleware:
    """A server span per HTTP request while tracing is on (``ctx.tracer``), named by its
    route template (``POST /api/v1/scrape``); a client's ``traceparent`` header is
    continued. Tracing off: one attribute lookup per request."""

    def __init__(self, app: ASGIApp, route_of: Callable[[Scope], str]) -> None:
        self.app = app
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        ctx = getattr(app.state, "ctx", None) if app is not None else None
        tracer = ctx.tracer if ctx is not None else None
        if scope["type"] != "http" or tracer is None:
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import Status, StatusCode

        method = str(scope.get("method", ""))
        parent = dict(scope.get("headers") or []).get(b"traceparent", b"").decode("latin-1")
        status: dict[str, int] = {}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        with span(
            tracer,
            method,
            parent=parent or None,
            kind="server",
            attributes={"http.request.method": method, "url.path": scope.get("path")},
        ) as current:
            assert current is not None
            try:
                await self.app(scope, receive, capture)
            finally:
                route = self.route_of(scope)
                current.update_name(f"{method} {route}")
                current.set_attribute("http.route", route)
                code = status.get("code", 500)
                current.set_attribute("http.response.status_code", code)
                if code >= 500:
                    current.set_status(Status(StatusCode.ERROR))

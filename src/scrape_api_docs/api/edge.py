"""The API's edge, as plain ASGI middleware: what is refused before a route runs or a body
is read (foreign ``Host`` names, cross-origin callers, oversized bodies), and the headers of
deprecated routes.

The API key itself is checked by ``KeyedRoute`` (dependencies.py), after routing and before
FastAPI reads the body.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scrape_api_docs.api.errors import error_response
from scrape_api_docs.settings import Settings

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "ETag",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Deprecation",
    "Sunset",
    "Link",
]


# --- request bodies ---------------------------------------------------------------------
def _too_large(limit: int) -> str:
    return (
        f"the request body is larger than {limit} bytes, this server's limit "
        "(SCRAPER_MAX_REQUEST_BYTES); send a smaller request"
    )


class BodyLimit:
    """Bodies past ``max_bytes`` get 413 in the envelope: at once when ``Content-Length``
    says so, else as soon as the streamed (chunked) body passes the limit. Nothing past
    the limit is ever held in memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(
                Request(scope),
                413,
                "PAYLOAD_TOO_LARGE",
                _too_large(self.max_bytes),
                {"limit_bytes": self.max_bytes},
                {"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Rendered by the app's HTTPException handler (the envelope); the
                    # connection closes, so the rest of the body is never read.
                    raise HTTPException(
                        413, _too_large(self.max_bytes), headers={"Connection": "close"}
                    )
            return message

        await self.app(scope, counted, send)


# --- Host names and origins ----------------------------------------------------------------
def host_name(value: str) -> str:
    """The name in a ``Host`` header or URL authority: no port, no brackets, lower case,
    no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_loopback(name: str) -> bool:
    if name in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _same_origin(origin: str, host: str | None) -> bool:
    if host is None or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host.strip().lower()


class SiteGuard:
    """DNS rebinding and cross-site requests.

    ``Host`` must name this server (localhost, the address the connection came in on, or
    ``SCRAPER_SERVER_NAMES``) while no API key exists, and always on a loopback address;
    otherwise 403. A request from another origin (its ``Origin`` header) is refused with
    403 while no API key exists; once keys exist, origins in ``SCRAPER_CORS_ORIGINS`` get
    CORS answers and others 403. Whether keys exist is read as the key check reads it (so
    a key made while serving applies within seconds).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.names = {host_name(name) for name in settings.server_names}
        self.origins = set(settings.cors_origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        origin = headers.get("origin")
        keyed = await _keys_configured(scope)
        if host is not None and not self._host_allowed(host, scope, keyed):
            await _refuse(
                scope,
                receive,
                send,
                f"this server does not answer to the host name {host_name(host)[:100]!r}; "
                "use localhost or its address, or add the name to SCRAPER_SERVER_NAMES",
            )
            return
        if origin is None or _same_origin(origin, host):
            await self.app(scope, receive, send)
            return
        if keyed and ("*" in self.origins or origin in self.origins):
            await self.cors(scope, receive, send)
            return
        await _refuse(
            scope,
            receive,
            send,
            f"requests from {origin[:100]!r} (another site) are not accepted"
            + (
                "; list the origin in SCRAPER_CORS_ORIGINS"
                if keyed
                else "; cross-origin access needs an API key and SCRAPER_CORS_ORIGINS"
            ),
        )

    def _host_allowed(self, host: str, scope: Scope, keyed: bool) -> bool:
        if "*" in self.names:
            return True
        server = scope.get("server") or ("", 0)
        bound = host_name(str(server[0]))
        if keyed and not _is_loopback(bound):
            return True
        name = host_name(host)
        return name in LOCAL_NAMES or name == bound or name in self.names


async def _keys_configured(scope: Scope) -> bool:
    app = scope.get("app")
    state = getattr(app, "state", None)
    keys = getattr(state, "keys", None)
    ctx = getattr(state, "ctx", None)
    if keys is None or ctx is None:
        return False
    configured: bool = await keys.keys_configured(ctx)
    return configured


async def _refuse(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    if scope["type"] == "websocket":
        # Before the handshake is accepted, a close is an HTTP 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    response = error_response(Request(scope), 403, "FORBIDDEN", message)
    await response(scope, receive, send)


# --- deprecation -----------------------------------------------------------------------------
_DEPRECATION = "x-deprecation"


def deprecated(*, since: date, sunset: date, link: str) -> dict[str, Any]:
    """Keyword arguments for a route decorator that mark the route deprecated, the one
    place that does: ``@router.get("/old", **deprecated(since=..., sunset=..., link=...))``.

    OpenAPI shows it deprecated, and every answer of the route carries ``Deprecation``
    (RFC 9745: since when), ``Sunset`` (RFC 8594: when it goes away) and a ``Link`` to
    the migration note."""
    return {
        "deprecated": True,
        "openapi_extra": {
            _DEPRECATION: {"since": since.isoformat(), "sunset": sunset.isoformat(), "link": link}
        },
    }


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)


def deprecation_headers(policy: dict[str, str]) -> dict[str, str]:
    link = policy["link"]
    return {
        "Deprecation": f"@{int(_midnight(policy['since']).timestamp())}",
        "Sunset": format_datetime(_midnight(policy["sunset"]), usegmt=True),
        "Link": f'<{link}>; rel="deprecation"; type="text/html", <{link}>; rel="sunset"',
    }


class DeprecationHeaders:
    """Adds ``deprecated()``'s headers to every answer of a route marked so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = getattr(scope.get("route"), "openapi_extra", None) or {}
                policy = extra.get(_DEPRECATION)
                if policy:
                    headers = MutableHeaders(scope=message)
                    for name, value in deprecation_headers(policy).items():
                        headers.append(name, value)  # (a Link of the route's own stays)
            await send(message)

        await self.app(scope, receive, marked)

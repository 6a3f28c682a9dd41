"""Serving the dashboard: ``/`` (the page, or the service's name as JSON for clients that
ask for JSON), ``/ui/*`` (its script and styles, from this package: no CDN, no build
step) and ``/ui/highlight.css`` (the exports' code colours, for the book preview).

Every dashboard answer carries a strict Content-Security-Policy: scripts, styles and
connections only from this server, no inline script or style, no framing. The book
preview is sanitised on the server (``/api/v1/exports/{job_id}/preview``); the policy is
the second line of defence.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scrape_api_docs import __version__
from scrape_api_docs.exporters.html_render import highlight_css

ASSETS = "/ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",  # revalidated (ETag): a new version shows at once
}


def static_dir() -> Path:
    return Path(str(importlib.resources.files("scrape_api_docs.web") / "static"))


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def wants_json(request: Request) -> bool:
    """A client that asks for JSON and not for HTML (``Accept: application/json``)."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


def add_dashboard(app: FastAPI) -> None:
    static = static_dir()
    css = highlight_css(".preview .highlight")

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        if wants_json(request):
            return JSONResponse(
                {"name": "scrape-api-docs", "version": __version__, "docs": "/api/docs"}
            )
        return FileResponse(static / "index.html", headers=SECURITY_HEADERS)

    @app.get(f"{ASSETS}/highlight.css", include_in_schema=False)
    async def highlight() -> Response:
        return Response(css, media_type="text/css; charset=utf-8", headers=SECURITY_HEADERS)

    app.mount(ASSETS, SecurityHeaders(StaticFiles(directory=static)), name="dashboard")

"""The single-page docs fixture (tests/fixtures/sites/spa_docs) served the way SPA hosts
serve one: every client-side route answers with the app shell."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import FIXTURE_SITES
from tests.support.server import Reply, TestServer

SPA = FIXTURE_SITES / "spa_docs"
HISTORY_ROUTES = ("/docs/", "/docs/guide/install", "/docs/guide/config", "/docs/api/client")
"""Client-side routes of the main app (pushState); each answers with ``index.html``."""
REFERENCE_ROUTE = "/docs/reference/"
"""The hash-routed reference app (``#/overview``, ``#/errors``, ``#/limits``)."""
START = "/docs/"


def serve_spa(site_server: Callable[[str], TestServer]) -> TestServer:
    server = site_server("spa_docs")
    shell = (SPA / "index.html").read_bytes()
    for path in HISTORY_ROUTES:
        server.route(path, Reply(body=shell))
    server.route(REFERENCE_ROUTE, Reply(body=(SPA / "reference.html").read_bytes()))
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    return server

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import TestServer

FIXTURE_SITES = Path(__file__).parent / "fixtures" / "sites"


@pytest.fixture
def server() -> Iterator[TestServer]:
    """A fresh programmable HTTP server on 127.0.0.1 with no static root."""
    srv = TestServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def site_server() -> Iterator[object]:
    """Factory: serve one fixture site (a folder under tests/fixtures/sites/) on 127.0.0.1."""
    started: list[TestServer] = []

    def serve(name: str) -> TestServer:
        srv = TestServer(FIXTURE_SITES / name).start()
        started.append(srv)
        return srv

    yield serve
    for srv in started:
        srv.stop()

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.crawl import CrawlResult
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.jobs.pipeline import crawl_site
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import SqlitePageStore
from tests.support import checklist
from tests.support.server import TestServer

FIXTURE_SITES = Path(__file__).parent / "fixtures" / "sites"

CrawlFn = Callable[..., Awaitable[tuple[CrawlResult, SqlitePageStore]]]


@pytest.fixture
def crawl(tmp_path: Path) -> CrawlFn:
    """Crawl for real over loopback: private networks allowed explicitly, rate limit off
    unless a test sets one, a fresh store (and cache folder) per call."""
    calls = 0

    async def run(
        start_url: str,
        *,
        cache_dir: Path | None = None,
        clock: Any = None,
        wall_clock: Any = None,
        listener: Any = None,
        credentials: Any = None,
        **overrides: Any,
    ) -> tuple[CrawlResult, SqlitePageStore]:
        nonlocal calls
        calls += 1
        values: dict[str, Any] = {
            "rate_limit": None,
            "timeout": 5.0,
            "retry_backoff": 0.01,
            "cache_enabled": False,
        }
        values.update(overrides)
        config = CrawlConfig(start_url=start_url, **values)
        store = SqlitePageStore(tmp_path / f"pages-{calls}.sqlite")
        result = await crawl_site(
            config,
            settings=Settings(data_dir=cache_dir or tmp_path),
            store=store,
            listener=listener,
            clock=clock,
            policy=NetworkPolicy(allow_private=True),
            credentials=credentials,
            **({"wall_clock": wall_clock} if wall_clock is not None else {}),
        )
        return result, store

    return run


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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Which security checklist cases every collected test covers, kept before ``-k`` or
    ``-m`` deselect any (tests/test_security_checklist.py reads it); with
    ``CHECKLIST_REPORT=<file>`` also written there, for a ``--collect-only`` run."""
    found = checklist.collected(items)
    config.stash[checklist.COLLECTED] = found
    target = os.environ.get("CHECKLIST_REPORT")
    if target:
        Path(target).write_text(json.dumps(found.marks))

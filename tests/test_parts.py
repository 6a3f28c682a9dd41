"""The builder (jobs/parts.py): crawls of one process share its parts, and everything it
opened is closed when it ends (what was passed in is left alone)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import BrowserUnavailable
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.jobs.job_runner import WorkerPool
from scrape_api_docs.jobs.parts import build_crawl_parts, build_job_parts
from scrape_api_docs.jobs.pipeline import crawl_site
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import SqlitePageStore


def config(url: str) -> CrawlConfig:
    return CrawlConfig(start_url=url, rate_limit=None, timeout=5.0, cache_enabled=True)


async def test_two_crawls_of_a_process_share_one_page_cache_and_one_host_table(
    site_server: Any, tmp_path: Path
) -> None:
    site = site_server("plain")
    settings = Settings(data_dir=tmp_path, page_cache_dir=tmp_path / "cache")
    async with build_crawl_parts(
        settings, policy=NetworkPolicy(allow_private=True), render=False
    ) as parts:
        assert parts.cache_opened is None  # nothing opened before a crawl needs it
        results = []
        for n in (1, 2):
            store = SqlitePageStore(tmp_path / f"pages-{n}.sqlite")
            results.append(
                await crawl_site(
                    config(site.url("/index.html")), settings=settings, store=store, parts=parts
                )
            )
            store.close()
            if n == 1:
                cache = parts.cache_opened
                assert cache is not None
        assert parts.cache_opened is cache  # the second crawl used the same one
        first, second = results
        assert first.stats.cache_misses == first.stats.processed > 0
        assert second.stats.cache_hits == first.stats.processed
        assert parts.host_limits is not None
    with pytest.raises(RuntimeError):  # closed with the parts (its thread is gone)
        await cache.get("anything")


async def test_the_builder_closes_what_it_opened_and_leaves_what_it_was_given(
    site_server: Any, tmp_path: Path
) -> None:
    site = site_server("plain")
    given = ThreadPoolExecutor(1)
    settings = Settings(data_dir=tmp_path, page_cache_dir=tmp_path / "cache")
    async with build_crawl_parts(
        settings, policy=NetworkPolicy(allow_private=True), executor=given, render=False
    ) as parts:
        store = SqlitePageStore(tmp_path / "pages.sqlite")
        await crawl_site(
            config(site.url("/index.html")), settings=settings, store=store, parts=parts
        )
        store.close()
    assert given.submit(int, "7").result() == 7  # passed in: still open
    given.shutdown()

    async with build_job_parts(Settings(data_dir=tmp_path / "service")) as ctx:
        executor, engine = ctx.executor, ctx.engine
        assert executor is not None and executor.submit(int, "7").result() == 7
        async with engine.connect():
            pass
        assert engine.pool.checkedin() == 1
        renderer = ctx.renderer
    with pytest.raises(RuntimeError):  # the extraction processes are shut down
        executor.submit(int, "7")
    assert engine.pool.checkedin() == 0  # the database's connections are closed
    assert renderer is not None
    with pytest.raises(BrowserUnavailable, match="shut down"):  # closed with the parts
        await renderer.start()


async def test_a_final_write_outlives_its_cancelled_caller_and_a_stop_waits_for_it(
    tmp_path: Path,
) -> None:
    """A job's last writes (its outcome, its lease's release) are shielded: when the task
    that started one is cancelled (a stopping pool cancels its loops), the write goes on,
    and the pool's stop returns only once it is done (then the database may close)."""
    async with build_job_parts(Settings(data_dir=tmp_path)) as ctx:
        pool = WorkerPool(ctx, concurrency=1)
        gate, written = asyncio.Event(), asyncio.Event()

        async def write() -> None:
            await gate.wait()
            written.set()

        caller = asyncio.create_task(pool.runner._to_the_end(write()))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert not written.is_set()  # still pending, its caller gone
        asyncio.get_running_loop().call_later(0.3, gate.set)
        await pool.stop(grace=5)
        assert written.is_set()

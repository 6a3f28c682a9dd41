"""Job polls and lists answered from memory: the cache on its own, the versions bumped by
commits (a real SQLite database), and the whole path through the app, where a commit of
this process shows at the next poll and a write from elsewhere within the maximum age."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from scrape_api_docs.api.view_cache import ViewCache
from scrape_api_docs.storage.changes import CommitWatch, JobVersions, touch
from tests.api.conftest import assert_envelope, wait_for_status
from tests.api.test_jobs import FAST, submit, tiny_pages
from tests.support.server import TestServer


class Reads:
    """A read that counts its calls and answers ``body-N``; ``gate`` holds it open."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def __call__(self) -> bytes:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return f"body-{self.calls}".encode()


async def test_an_entry_serves_its_version_until_it_changes_or_ages() -> None:
    cache, read = ViewCache(max_age=0.3), Reads()
    assert [await cache.get("k", 1, read) for _ in range(5)] == [b"body-1"] * 5
    assert read.calls == 1
    assert await cache.get("k", 2, read) == b"body-2"  # a commit bumped the version
    assert await cache.get("other", 2, read) == b"body-3"  # keys are apart
    await asyncio.sleep(0.35)
    assert await cache.get("k", 2, read) == b"body-4"  # too old
    assert await ViewCache(max_age=0).get("k", 1, read) == b"body-5"  # 0: never kept
    assert await ViewCache(max_age=0).get("k", 1, read) == b"body-6"


async def test_concurrent_misses_read_once_and_share_failures_without_keeping_them() -> None:
    cache, read = ViewCache(max_age=30), Reads()
    read.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get("k", 1, read)) for _ in range(20)]
    await asyncio.sleep(0.01)
    read.gate.set()
    assert await asyncio.gather(*waiting) == [b"body-1"] * 20
    assert read.calls == 1

    read.gate, read.fail = asyncio.Event(), RuntimeError("database is gone")
    waiting = [asyncio.create_task(cache.get("k", 2, read)) for _ in range(3)]
    await asyncio.sleep(0.01)
    read.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and read.calls == 2
    read.fail = None
    assert await cache.get("k", 2, read) == b"body-3"  # the failure was not kept


async def test_a_caller_that_goes_away_does_not_cancel_the_others_read() -> None:
    cache, read = ViewCache(max_age=30), Reads()
    read.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("k", 1, read))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get("k", 1, read))
    await asyncio.sleep(0.01)
    first.cancel()
    read.gate.set()
    assert await second == b"body-1" and read.calls == 1
    assert await cache.get("k", 1, read) == b"body-1"  # and it was kept
    with pytest.raises(asyncio.CancelledError):
        await first


def test_versions_move_on_commit_only(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    announced: list[set[str]] = []
    watch = CommitWatch(announce=lambda jobs: announced.append(set(jobs)))
    versions = watch.versions
    sessions = sessionmaker(engine)
    watch.attach(sessions)
    with sessions() as session:
        session.execute(text("CREATE TABLE progress (job TEXT, pages INTEGER)"))
        session.execute(text("INSERT INTO progress VALUES ('job_a', 1)"))
        touch(session, "job_a")
        before = versions.of("job_a"), versions.all
        session.commit()
        assert versions.of("job_a") > before[0] and versions.all > before[1]

        committed = versions.of("job_a"), versions.all
        session.execute(text("UPDATE progress SET pages = 2"))
        touch(session, "job_a")
        session.rollback()  # nothing changed: nothing bumped
        assert (versions.of("job_a"), versions.all) == committed
        session.execute(text("UPDATE progress SET pages = 3"))
        session.commit()  # a commit that touched no job bumps none
        assert (versions.of("job_a"), versions.all) == committed
    assert announced == [{"job_a"}]  # the committed touch only
    engine.dispose()


def test_a_watch_sees_only_the_sessions_it_is_attached_to(tmp_path: Path) -> None:
    """Nothing is registered at import: commits of a factory nobody watches bump nothing,
    and two watches (two parts built in one process) keep apart."""
    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    first, second = CommitWatch(), CommitWatch()
    watched = sessionmaker(engine)
    detach = first.attach(watched)
    second.attach(sessionmaker(engine, class_=second.session_class()))
    with watched() as session:
        touch(session, "job_a")
        session.commit()
    seen = first.versions.all
    assert seen > 0 and second.versions.all == 0
    with sessionmaker(engine)() as session:  # a factory no watch is attached to
        touch(session, "job_a")
        session.commit()
    assert first.versions.all == seen and second.versions.all == 0
    detach()
    with watched() as session:
        touch(session, "job_a")
        session.commit()
    assert first.versions.all == seen
    engine.dispose()


def test_forgotten_jobs_never_answer_an_old_version() -> None:
    known = JobVersions(remembered=2)
    known.bump(["a"])
    seen_a = known.of("a")
    known.bump(["b"])
    known.bump(["c"])  # "a" is forgotten
    assert known.of("a") >= seen_a and known.of("never-seen") >= seen_a


async def test_through_the_app_own_commits_show_at_once_and_others_within_the_age(
    api: Any, server: TestServer, tmp_path: Path
) -> None:
    tiny_pages(server, "/index.html")
    async with api(**FAST, view_cache_seconds=30) as (app, client):
        job_id = await submit(client, server.url("/index.html"))
        # Polls go through the cache; the worker's commits (running, completed) show.
        done = await wait_for_status(client, job_id)
        assert done["status"] == "completed" and done["error_message"] is None
        listed = (await client.get("/api/v1/jobs")).json()
        assert [job["status"] for job in listed["jobs"]] == ["completed"]

        # A write from another process (a worker elsewhere): not seen within the age...
        with sqlite3.connect(tmp_path / "data" / "scraper.db", timeout=30) as other:
            other.execute(
                "UPDATE jobs SET error_message = 'written elsewhere' WHERE id = ?", (job_id,)
            )
        assert (await client.get(f"/api/v1/jobs/{job_id}")).json()["error_message"] is None
        # ...and seen once it is past (an age of 0.2 s here).
        app.state.views.max_age = 0.2
        await asyncio.sleep(0.25)
        body = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        assert body["error_message"] == "written elsewhere"

        app.state.views.max_age = 30
        assert (await client.get("/api/v1/jobs")).json()["pagination"]["total"] == 1
        assert (await client.delete(f"/api/v1/jobs/{job_id}")).status_code == 200
        # Deleted here: gone at the next poll and the next list, whatever the age.
        assert_envelope(await client.get(f"/api/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
        assert (await client.get("/api/v1/jobs")).json()["pagination"]["total"] == 0

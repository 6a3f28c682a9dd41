"""Jobs over the real API: life cycle, cancellation, priority, listing, restart, logs.

Every test runs the real app (lifespan, worker pool, database in tmp) against real HTTP
servers on 127.0.0.1; nothing of ours is mocked. Slow pages come from ``Reply(delay=...)``;
a page that must hold a worker for as long as a test needs is "gated": its handler waits
on a ``threading.Event`` the test sets (always in a ``finally``, so servers stop quickly).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from scrape_api_docs.jobs.events import CompleteEvent, ProgressEvent
from tests.api.conftest import assert_envelope, wait_for_status
from tests.support.processes import until
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import no_robots, page

FAST = {"requests_per_minute": 100_000}
"""Polling every 50 ms must not trip the per-client request limit."""


# --- helpers ----------------------------------------------------------------------------
def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def slow_site(server: TestServer, pages: int, delay: float) -> list[str]:
    """``/index.html`` (fast) links to ``pages`` pages that each take ``delay`` seconds."""
    no_robots(server)
    links = [f"/p{i}.html" for i in range(pages)]
    server.route("/index.html", Reply(body=page("/index.html", links)))
    for link in links:
        server.route(link, Reply(body=page(link), delay=delay))
    return links


def gated(server: TestServer, path: str, gate: threading.Event) -> None:
    """A page that answers only once ``gate`` is set (at most 30 s)."""

    def route(_request: RequestInfo) -> Reply:
        gate.wait(30)
        return Reply(body=page(path))

    server.route(path, route)


def tiny_pages(server: TestServer, *paths: str) -> None:
    no_robots(server)
    for path in paths:
        server.route(path, Reply(body=page(path)))


async def submit(
    client: httpx.AsyncClient,
    url: str,
    *,
    options: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    body = {"url": url, "options": {"rate_limit": 10, **(options or {})}, **extra}
    response = await client.post("/api/v1/scrape", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def poll(
    client: httpx.AsyncClient,
    job_id: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 20.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/v1/jobs/{job_id}")
        body: dict[str, Any] = response.json()
        if response.status_code == 200 and predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id}: condition not met in {timeout}s; last {body}")
        await asyncio.sleep(0.05)


def stored_urls(store: Path) -> list[str]:
    """Pages in a job's page store (read with plain sqlite3, as an operator would)."""
    if not store.exists():
        return []
    with contextlib.closing(sqlite3.connect(store)) as db:
        try:
            return [row[0] for row in db.execute("SELECT url FROM documents ORDER BY seq")]
        except sqlite3.OperationalError:  # table not created yet
            return []


def job_status_in_db(data_dir: Path, job_id: str) -> str:
    with contextlib.closing(sqlite3.connect(data_dir / "scraper.db")) as db:
        row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return str(row[0])


# --- 1. the whole life of a job -------------------------------------------------------------
async def test_job_life_cycle_progress_statistics_exports_and_logs(
    api: Any, server: TestServer
) -> None:
    links = slow_site(server, 16, 0.25)
    total = len(links) + 1
    async with api(**FAST) as (_, client):
        before = datetime.now(UTC)
        response = await client.post(
            "/api/v1/scrape",
            json={
                "url": server.url("/index.html"),
                "options": {"rate_limit": 4, "cache_enabled": False},
            },
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert set(accepted) == {
            "job_id",
            "status",
            "created_at",
            "estimated_duration",
            "status_url",
            "websocket_url",
        }
        job_id = accepted["job_id"]
        assert job_id.startswith("job_")
        assert accepted["status"] == "queued"
        assert accepted["status_url"] == f"/api/v1/jobs/{job_id}"
        assert accepted["websocket_url"] == f"ws://testserver/api/v1/jobs/{job_id}/stream"
        created = ts(accepted["created_at"])
        assert abs((created - before).total_seconds()) < 5

        # While it runs: real, consistent progress and statistics.
        running = await poll(
            client,
            job_id,
            lambda b: (
                b["status"] == "running"
                and 0 < (b["progress"] or {}).get("current_page", 0) < total
            ),
        )
        progress, stats = running["progress"], running["statistics"]
        assert 0 < progress["current_page"] <= progress["total_pages"] <= total
        assert 0 < progress["percent_complete"] < 100
        assert progress["current_operation"]
        assert stats["pages_processed"] == progress["current_page"]
        assert stats["pages_discovered"] == progress["total_pages"]
        assert stats["cache_hits"] == 0 and stats["cache_misses"] == stats["pages_processed"]
        assert running["started_at"] is not None and running["completed_at"] is None
        assert running["duration"] is None
        assert running["exports"] == []
        assert running["estimated_duration"] is not None and running["estimated_duration"] > 0

        done = await wait_for_status(client, job_id)
        assert done["status"] == "completed", done
        assert done["error_message"] is None
        assert done["statistics"]["pages_processed"] == total
        assert done["statistics"]["errors"] == 0
        assert done["progress"]["current_page"] == done["progress"]["total_pages"] == total
        assert done["progress"]["percent_complete"] == 100
        assert done["estimated_completion"] is None

        # Timestamps and duration agree with each other.
        started, completed = ts(done["started_at"]), ts(done["completed_at"])
        assert created <= started <= completed
        assert ts(done["updated_at"]) >= completed
        assert done["duration"] > 0
        assert abs(done["duration"] - (completed - started).total_seconds()) < 0.5

        # One export, described correctly.
        [export] = done["exports"]
        assert export["format"] == "markdown"
        assert export["filename"] == "output.md"
        assert export["url"] == f"/api/v1/exports/{job_id}/output.md"
        assert export["content_type"].startswith("text/markdown")
        assert started <= ts(export["created_at"]) <= completed
        download = await client.get(export["url"])
        assert download.status_code == 200
        assert export["size_bytes"] == len(download.content)
        assert export["checksum"] == "sha256:" + hashlib.sha256(download.content).hexdigest()

        # Logs: oldest first, newest last, from start to completion.
        logs = done["logs"]
        assert logs[0]["message"].startswith(f"Started crawling {server.url('/index.html')}")
        assert logs[-1]["message"].startswith(f"Completed: {total} pages, 1 exports")
        stamps = [ts(entry["timestamp"]) for entry in logs]
        assert stamps == sorted(stamps)
        processed = [e for e in logs if e["message"].startswith("Processed page:")]
        assert len(processed) == total
        assert {e["level"] for e in logs} <= {"info", "warning", "error"}

        # The list shows the same job.
        listed = (await client.get("/api/v1/jobs")).json()["jobs"]
        assert [j["job_id"] for j in listed] == [job_id]
        assert listed[0]["pages_scraped"] == total
        assert listed[0]["exports_available"] == ["markdown"]
        assert listed[0]["duration"] == done["duration"]


# --- 2. cancel and delete ---------------------------------------------------------------------
async def test_cancel_running_job_stops_fetching_and_keeps_pages(
    api: Any, server: TestServer, tmp_path: Path
) -> None:
    links = slow_site(server, 40, 0.5)
    async with api(**FAST) as (_, client):
        job_id = await submit(client, server.url("/index.html"), options={"cache_enabled": False})
        store = tmp_path / "data" / "jobs" / job_id / "pages.sqlite"
        await until(lambda: len(stored_urls(store)) >= 3)

        asked = time.monotonic()
        response = await client.delete(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert response.json()["job_id"] == job_id
        # The status says so at once; the worker settles (writes its duration) soon after.
        assert (await client.get(f"/api/v1/jobs/{job_id}")).json()["status"] == "cancelled"
        settled = await poll(
            client, job_id, lambda b: b["status"] == "cancelled" and b["duration"] is not None, 5
        )
        assert time.monotonic() - asked < 2.0

        hits = len(server.hits)
        await asyncio.sleep(1.0)
        assert len(server.hits) == hits, "requests went on after the cancellation settled"
        assert hits < len(links) + 3  # robots, sitemap and index + a few pages, not all 40

        kept = stored_urls(store)
        assert len(kept) >= 3
        assert settled["statistics"]["pages_processed"] >= len(kept)
        assert settled["exports"] == []
        assert settled["completed_at"] is not None
        assert settled["error_message"] == "cancelled by request"
        assert any(e["message"] == "cancelled by request" for e in settled["logs"])
        stamps = [ts(e["timestamp"]) for e in settled["logs"]]
        assert stamps == sorted(stamps)

        # A second DELETE now deletes the cancelled job and its kept pages.
        response = await client.delete(f"/api/v1/jobs/{job_id}")
        assert response.json()["status"] == "deleted"
        assert not store.parent.exists()


async def test_cancel_queued_job_never_runs(api: Any, server: TestServer, tmp_path: Path) -> None:
    gate = threading.Event()
    tiny_pages(server, "/queued.html", "/after.html")
    gated(server, "/blocker.html", gate)
    try:
        async with api(workers=1, **FAST) as (_, client):
            blocker = await submit(client, server.url("/blocker.html"))
            await poll(client, blocker, lambda b: b["status"] == "running")
            queued = await submit(client, server.url("/queued.html"))
            after = await submit(client, server.url("/after.html"))

            response = await client.delete(f"/api/v1/jobs/{queued}")
            assert response.status_code == 200
            assert response.json() == {
                "job_id": queued,
                "status": "cancelled",
                "message": "job cancelled; pages fetched so far are kept",
            }
            gate.set()
            assert (await wait_for_status(client, blocker))["status"] == "completed"
            # The job queued behind the cancelled one ran, so the worker got past it.
            assert (await wait_for_status(client, after))["status"] == "completed"

            body = (await client.get(f"/api/v1/jobs/{queued}")).json()
            assert body["status"] == "cancelled"
            assert body["started_at"] is None and body["duration"] is None
            assert body["completed_at"] is not None
            assert server.hits_for("/queued.html") == []
            assert not (tmp_path / "data" / "jobs" / queued).exists()
    finally:
        gate.set()


async def test_delete_finished_job_removes_it_and_its_files(
    api: Any, server: TestServer, tmp_path: Path
) -> None:
    tiny_pages(server, "/index.html")
    async with api(**FAST) as (_, client):
        job_id = await submit(client, server.url("/index.html"))
        done = await wait_for_status(client, job_id)
        assert done["status"] == "completed"
        folder = tmp_path / "data" / "jobs" / job_id
        assert (folder / "output.md").is_file()

        response = await client.delete(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200
        assert response.json() == {
            "job_id": job_id,
            "status": "deleted",
            "message": "job and its files deleted",
        }
        assert not folder.exists()
        error = assert_envelope(await client.get(f"/api/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
        assert error["details"] == {"job_id": job_id}
        assert_envelope(await client.delete(f"/api/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
        assert (await client.get(done["exports"][0]["url"])).status_code == 404
        listed = (await client.get("/api/v1/jobs")).json()
        assert listed["jobs"] == [] and listed["pagination"]["total"] == 0


# --- 3. priority --------------------------------------------------------------------------------
async def test_priority_order_then_first_come_first_served(api: Any, server: TestServer) -> None:
    gate = threading.Event()
    names = [
        ("low", "low"),
        ("normal-1", "normal"),
        ("urgent", "urgent"),
        ("high", "high"),
        ("normal-2", "normal"),
        ("high-2", "high"),
    ]
    tiny_pages(server, *(f"/{name}.html" for name, _ in names))
    gated(server, "/blocker.html", gate)
    try:
        async with api(workers=1, **FAST) as (_, client):
            blocker = await submit(client, server.url("/blocker.html"), priority="low")
            await poll(client, blocker, lambda b: b["status"] == "running")
            ids = {
                name: await submit(client, server.url(f"/{name}.html"), priority=priority)
                for name, priority in names
            }
            for name, priority in names:
                body = (await client.get(f"/api/v1/jobs/{ids[name]}")).json()
                assert body["status"] == "queued" and body["priority"] == priority
            gate.set()
            done = {name: await wait_for_status(client, job_id) for name, job_id in ids.items()}
    finally:
        gate.set()
    assert all(job["status"] == "completed" for job in done.values())
    order = sorted(done, key=lambda name: ts(done[name]["started_at"]))
    assert order == ["urgent", "high", "high-2", "normal-1", "normal-2", "low"]
    # One worker: each job started after the previous one ended.
    for first, second in itertools.pairwise(order):
        assert ts(done[second]["started_at"]) >= ts(done[first]["completed_at"])
    # The server saw the pages in that order too.
    first_hit = {name: server.hits.index(server.hits_for(f"/{name}.html")[0]) for name in done}
    assert sorted(done, key=lambda name: first_hit[name]) == order


# --- 4. listing -----------------------------------------------------------------------------
async def test_list_jobs_filters_sorts_and_paginates(api: Any, server: TestServer) -> None:
    gate = threading.Event()
    tiny_pages(server, "/a.html", "/b.html", "/q.html")
    server.route("/missing.html", Reply(404, "gone", content_type="text/plain"))
    gated(server, "/blocker.html", gate)
    try:
        async with api(workers=1, **FAST) as (_, client):
            completed = [await submit(client, server.url(p)) for p in ("/a.html", "/b.html")]
            failed = await submit(client, server.url("/missing.html"))
            for job_id in [*completed, failed]:
                await wait_for_status(client, job_id)
            blocker = await submit(client, server.url("/blocker.html"))
            await poll(client, blocker, lambda b: b["status"] == "running")
            queued = [await submit(client, server.url("/q.html")) for _ in range(22)]
            cancelled = queued.pop(0)
            await client.delete(f"/api/v1/jobs/{cancelled}")
            everything = [*completed, failed, blocker, cancelled, *queued]  # submission order

            # Defaults: 20 per page, newest first.
            response = await client.get("/api/v1/jobs")
            assert response.status_code == 200
            first = response.json()
            assert first["pagination"] == {"total": 26, "limit": 20, "offset": 0, "has_more": True}
            assert [j["job_id"] for j in first["jobs"]] == everything[::-1][:20]
            second = (await client.get("/api/v1/jobs", params={"offset": 20})).json()
            assert second["pagination"] == {
                "total": 26,
                "limit": 20,
                "offset": 20,
                "has_more": False,
            }
            assert [j["job_id"] for j in second["jobs"]] == everything[::-1][20:]
            page_two = (await client.get("/api/v1/jobs", params={"limit": 10, "offset": 10})).json()
            assert page_two["pagination"]["has_more"] is True
            assert [j["job_id"] for j in page_two["jobs"]] == everything[::-1][10:20]
            beyond = (await client.get("/api/v1/jobs", params={"offset": 100})).json()
            assert beyond["jobs"] == [] and beyond["pagination"]["has_more"] is False
            assert (
                len((await client.get("/api/v1/jobs", params={"limit": 100})).json()["jobs"]) == 26
            )

            # Status filter.
            async def ids(**params: Any) -> list[str]:
                response = await client.get("/api/v1/jobs", params=params)
                assert response.status_code == 200, response.text
                return [j["job_id"] for j in response.json()["jobs"]]

            assert await ids(status="completed", order="asc") == completed
            assert await ids(status="failed") == [failed]
            assert await ids(status="running") == [blocker]
            assert await ids(status="cancelled") == [cancelled]
            assert await ids(status="queued", limit=100, order="asc") == queued
            filtered = (await client.get("/api/v1/jobs", params={"status": "queued"})).json()
            assert filtered["pagination"]["total"] == 21
            assert filtered["pagination"]["has_more"] is True

            # Sorting.
            assert await ids(limit=100, sort="created_at", order="asc") == everything
            assert await ids(limit=100, order="desc") == everything[::-1]
            by_update = (
                await client.get("/api/v1/jobs", params={"sort": "updated_at", "limit": 100})
            ).json()["jobs"]
            updated = [ts(j["updated_at"]) for j in by_update]
            assert updated == sorted(updated, reverse=True)
            finished = (
                await client.get(
                    "/api/v1/jobs",
                    params={"sort": "duration", "order": "asc", "status": "completed"},
                )
            ).json()["jobs"]
            durations = [j["duration"] for j in finished]
            assert None not in durations and durations == sorted(durations)

            done = (await client.get("/api/v1/jobs", params={"status": "completed"})).json()
            row = done["jobs"][0]
            assert set(row) == {
                "job_id",
                "url",
                "status",
                "priority",
                "created_at",
                "updated_at",
                "completed_at",
                "duration",
                "pages_scraped",
                "exports_available",
            }
            assert row["pages_scraped"] == 1 and row["exports_available"] == ["markdown"]
            assert row["status"] == "completed" and row["priority"] == "normal"
            assert row["url"] == server.url("/b.html")

            # Bad parameters: the validation envelope, naming the parameter.
            for params in (
                {"limit": 101},
                {"limit": 0},
                {"offset": -1},
                {"sort": "url"},
                {"sort": "seq"},
                {"sort": "created_at; DROP TABLE jobs"},
                {"order": "sideways"},
                {"status": "paused"},
                {"limit": "ten"},
            ):
                response = await client.get("/api/v1/jobs", params=params)
                error = assert_envelope(response, 422, "VALIDATION_ERROR")
                [name] = params
                assert name in error["message"], error
                assert error["details"]["errors"][0]["field"].endswith(name)
            assert (await client.get("/api/v1/jobs")).json()["pagination"]["total"] == 26
    finally:
        gate.set()


# --- 9. restart recovery --------------------------------------------------------------------
async def test_restart_hands_job_back_and_resumes_without_refetching(
    api: Any, server: TestServer, tmp_path: Path
) -> None:
    links = slow_site(server, 24, 0.3)
    data = tmp_path / "data"
    async with api(**FAST) as (_, client):
        job_id = await submit(client, server.url("/index.html"), options={"cache_enabled": False})
        store = data / "jobs" / job_id / "pages.sqlite"
        await poll(client, job_id, lambda b: b["status"] == "running")
        await until(lambda: len(stored_urls(store)) >= 4)
        stopping = time.monotonic()
    # The lifespan's shutdown handed the job back, promptly.
    assert time.monotonic() - stopping < 5
    assert job_status_in_db(data, job_id) == "queued"
    before = stored_urls(store)
    assert 4 <= len(before) < len(links) + 1
    hits_before = len(server.hits)

    async with api(**FAST) as (_, client):
        done = await wait_for_status(client, job_id)
        assert done["status"] == "completed", done
        assert done["statistics"]["pages_processed"] == len(links) + 1
        assert len(done["exports"]) == 1
        messages = [e["message"] for e in done["logs"]]
        assert any(m == "worker stopping; job handed back to the queue" for m in messages)
        assert any(m.startswith(f"resuming: {len(before)} pages already fetched") for m in messages)
        jobs = (await client.get("/api/v1/jobs")).json()
        assert jobs["pagination"]["total"] == 1

    assert len(server.hits) > hits_before
    for url in before:
        path = urlsplit(url).path
        assert len(server.hits_for(path)) == 1, f"{path} fetched again after the restart"
    for link in links:
        assert server.hits_for(link), f"{link} never fetched"
    assert len(stored_urls(store)) == len(links) + 1
    files = set(os.listdir(store.parent)) - {"pages.sqlite", "pages.sqlite-wal", "pages.sqlite-shm"}
    assert files == {"output.md"}


async def test_resumed_job_progress_never_goes_backwards(
    api: Any, server: TestServer, tmp_path: Path
) -> None:
    """A job taken up again continues its counters from the pages it stored: what
    ``GET /jobs/{id}`` and the event stream (what a WebSocket relays) show never goes
    back, neither to 0 while the resumed crawl starts nor below the pages stored."""
    links = slow_site(server, 24, 0.3)
    data = tmp_path / "data"
    polled: list[tuple[int, int]] = []
    """(current_page, total_pages) of ``GET /jobs/{id}``, in order, over both runs."""

    async def sample(client: httpx.AsyncClient, job_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            progress = (await client.get(f"/api/v1/jobs/{job_id}")).json().get("progress")
            if progress:
                polled.append((progress["current_page"], progress["total_pages"]))
            await asyncio.sleep(0.05)

    async with api(**FAST) as (_, client):
        job_id = await submit(client, server.url("/index.html"), options={"cache_enabled": False})
        store = data / "jobs" / job_id / "pages.sqlite"
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(client, job_id, stop))
        await until(lambda: len(stored_urls(store)) >= 4)
        stop.set()
        await sampler
    with contextlib.closing(sqlite3.connect(data / "scraper.db")) as db:
        row = db.execute("SELECT progress FROM jobs WHERE id = ?", (job_id,)).fetchone()
    handed_back = json.loads(row[0])
    assert handed_back["current_page"] >= 4
    at_hand_back = (handed_back["current_page"], handed_back["total_pages"])
    polled.append(at_hand_back)
    # The resumed crawl starts seconds after the job (robots.txt answers slowly): meanwhile
    # the job's row is flushed and clients connect.
    server.route("/robots.txt", Reply(404, "", content_type="text/plain", delay=2.5))
    streamed: list[tuple[int, int]] = []
    async with api(**FAST) as (app, client):
        events = app.state.ctx.bus.subscribe(job_id)
        await events.ready()
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(client, job_id, stop))

        async def listen() -> None:
            async for event in events:
                if isinstance(event, ProgressEvent):
                    streamed.append((event.data.current_page, event.data.total_pages))
                if isinstance(event, CompleteEvent):
                    return

        try:
            await asyncio.wait_for(listen(), 60)
        finally:
            stop.set()
            await sampler
            events.close()
        done = await wait_for_status(client, job_id)
    assert done["status"] == "completed", done
    assert done["progress"]["current_page"] == len(links) + 1
    assert len(polled) > 2 and streamed
    for where, samples in (("GET /jobs/{id}", polled), ("events", [at_hand_back, *streamed])):
        pages = [page for page, _ in samples]
        totals = [total for _, total in samples]
        assert pages == sorted(pages), f"{where}: pages done went back: {samples}"
        assert totals == sorted(totals), f"{where}: pages found went back: {samples}"


# --- 10. log timestamps ------------------------------------------------------------------------
async def test_log_lines_keep_the_time_they_happened(api: Any, server: TestServer) -> None:
    """Lines are buffered and written about once a second; each keeps its own time."""
    slow_site(server, 12, 0.3)
    async with api(**FAST) as (_, client):
        job_id = await submit(client, server.url("/index.html"), options={"cache_enabled": False})
        done = await wait_for_status(client, job_id)
    assert done["status"] == "completed"
    logs = done["logs"]
    stamps = [ts(e["timestamp"]) for e in logs]
    assert stamps == sorted(stamps), "logs are not oldest first"
    started, completed = ts(done["started_at"]), ts(done["completed_at"])
    # The first line happened when the job started, not at the first flush a second later.
    assert logs[0]["message"].startswith("Started crawling")
    assert abs((stamps[0] - started).total_seconds()) < 0.5
    assert logs[-1]["message"].startswith("Completed:")
    assert stamps[-1] <= completed
    # Pages arrive over more than a second, and their lines say when each arrived.
    pages = [ts(e["timestamp"]) for e in logs if e["message"].startswith("Processed page:")]
    assert len(pages) == 13
    assert len(set(pages)) >= 10
    assert (pages[-1] - pages[0]).total_seconds() > 0.5

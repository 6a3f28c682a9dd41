"""The service as it is deployed: ``scrape-docs serve`` in its own process, over real HTTP.

Each test starts the server as a subprocess on a free port with its own data folder, crawls
a slow fixture site served on 127.0.0.1, and talks to it with httpx and a WebSocket client.
Faults are real too: SIGKILL and SIGTERM go to the server process, and a fresh process is
started on the same data folder.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from scrape_api_docs.crawler.browser import find_browser
from tests.support.processes import (
    CLI,
    LiveServer,
    cli_env,
    free_port,
    wait_until,
)
from tests.support.server import QuietHTTPServer, Reply, RequestInfo, TestServer
from tests.support.sites import page


# --- the server process -------------------------------------------------------------------
@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live(data_dir=..., port=..., host=..., env=...)`` starts a server; all are stopped
    (and their process groups cleaned up) at the end of the test."""
    servers: list[LiveServer] = []

    def start(data_dir: Path | None = None, **kwargs: Any) -> LiveServer:
        server = LiveServer(data_dir or tmp_path / "data", **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.cleanup()


def command_line(process: psutil.Process) -> str:
    """The command line of a process; empty once it has ended (a helper's own short-lived
    child can end, a zombie, between the listing and this)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``processes`` that have not ended (psutil tells a reused pid apart)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


# --- the fixture site and a webhook receiver ------------------------------------------------
def slow_site(server: TestServer, pages: int, delay: float) -> list[str]:
    """``/docs/`` links to ``pages`` pages, each answering after ``delay`` seconds; returns
    every page path."""
    paths = [f"/docs/p{i:02d}.html" for i in range(1, pages + 1)]
    server.route("/docs/", Reply(body=page("Docs home", paths, "The start page.")))
    for i, path in enumerate(paths):
        nxt = paths[(i + 1) % len(paths)]
        body = f"Page number {i + 1} explains one part of the system in some detail. " * 5
        server.route(path, Reply(body=page(f"Page {i + 1}", ["/docs/", nxt], body), delay=delay))
    return ["/docs/", *paths]


@dataclass
class Delivery:
    event: str
    delivery_id: str
    signature: str
    payload: dict[str, Any]


@dataclass
class WebhookReceiver:
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def events(self, name: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.event == name]


@pytest.fixture
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.deliveries.append(
                    Delivery(
                        self.headers.get("X-Scraper-Event", ""),
                        self.headers.get("X-Scraper-Delivery", ""),
                        self.headers.get("X-Scraper-Signature", ""),
                        json.loads(body or b"{}"),
                    )
                )
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    receiver.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=receiver.httpd.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


# --- helpers --------------------------------------------------------------------------------
def submit(client: httpx.Client, url: str, **fields: Any) -> str:
    body: dict[str, Any] = {"url": url}
    body.update(fields)
    response = client.post("/api/v1/scrape", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def job_when(
    client: httpx.Client, job_id: str, ok: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if ok(body) else None

    return wait_until(probe, timeout, f"job {job_id}")


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("completed", "failed", "cancelled")


def stored_paths(data_dir: Path, job_id: str) -> set[str]:
    """Paths of the pages in the job's page store (read straight from its SQLite file)."""
    db = sqlite3.connect(data_dir / "jobs" / job_id / "pages.sqlite")
    try:
        return {httpx.URL(url).path for (url,) in db.execute("SELECT url FROM documents")}
    finally:
        db.close()


def job_row(data_dir: Path, job_id: str) -> dict[str, Any]:
    db = sqlite3.connect(data_dir / "scraper.db")
    try:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert row is not None
        return dict(row)
    finally:
        db.close()


PROGRESS_KEYS = {"job_id", "status", "current_page", "total_pages", "percent_complete"}


def check_message(message: dict[str, Any], job_id: str) -> None:
    kind, data = message["type"], message["data"]
    if kind == "progress":
        assert data.keys() >= PROGRESS_KEYS, data
        assert data["job_id"] == job_id
        assert 0 <= data["percent_complete"] <= 100
        assert 0 <= data["current_page"] <= max(data["total_pages"], data["current_page"])
    elif kind == "log":
        assert {"timestamp", "level", "message"} <= data.keys(), data
        assert data["timestamp"].endswith("Z") and data["level"] in ("info", "warning", "error")
    elif kind == "complete":
        assert {"job_id", "status", "exports"} <= data.keys(), data
        assert data["job_id"] == job_id
    else:
        raise AssertionError(f"unknown message type {kind!r}")


async def read_stream(url: str, timeout: float = 60) -> tuple[list[dict[str, Any]], int, str]:
    """Every message until the server closes; returns (messages, close code, reason)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout), connect(url) as ws:
        try:
            while True:
                messages.append(json.loads(await ws.recv()))
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            return messages, rcvd.code if rcvd else 1006, rcvd.reason if rcvd else ""


# --- a. the WebSocket stream ---------------------------------------------------------------
async def test_stream_reports_progress_logs_and_completion(
    live: Callable[..., LiveServer], server: TestServer
) -> None:
    paths = slow_site(server, pages=12, delay=0.05)
    srv = live()
    with srv.client() as client:
        job_id = submit(
            client,
            server.url("/docs/"),
            options={"rate_limit": 5, "cache_enabled": False},
        )
        messages, code, _ = await read_stream(f"{srv.ws_base}/api/v1/jobs/{job_id}/stream")
        assert code == 1000
        kinds = [m["type"] for m in messages]
        assert kinds[0] == "progress"  # the state on connect
        assert messages[0]["data"]["job_id"] == job_id
        for message in messages:
            check_message(message, job_id)
        assert kinds[-1] == "complete" and kinds.count("complete") == 1
        progress = [m["data"] for m in messages[1:] if m["type"] == "progress"]
        running = [p for p in progress if p["status"] == "running"]
        assert len(running) >= 3, progress  # several updates while the crawl ran
        assert [p["current_page"] for p in running] == sorted(p["current_page"] for p in running)
        logs = [m["data"]["message"] for m in messages if m["type"] == "log"]
        assert any(line.startswith("Processed page: ") for line in logs), logs
        assert any(line.startswith("Completed: ") for line in logs), logs
        complete = messages[-1]["data"]
        assert complete["status"] == "completed"
        [export] = complete["exports"]
        assert export["format"] == "markdown"
        assert export["url"] == f"/api/v1/exports/{job_id}/output.md"
        assert export["size_bytes"] > 0
        assert progress[-1] == {**progress[-1], "status": "completed", "percent_complete": 100}
        assert progress[-1]["current_page"] == len(paths)

        # A finished job: its state, the complete message, a clean close.
        again, code, _ = await read_stream(f"{srv.ws_base}/api/v1/jobs/{job_id}/stream")
        assert code == 1000
        assert [m["type"] for m in again] == ["progress", "complete"]
        for message in again:
            check_message(message, job_id)
        assert again[0]["data"]["status"] == "completed"
        assert again[0]["data"]["current_page"] == len(paths)
        # The same exports, in the same shape as the live message and the job detail.
        assert again[1]["data"]["exports"] == complete["exports"]
        detail = httpx.get(f"{srv.base_url}/api/v1/jobs/{job_id}").json()
        assert detail["exports"] == complete["exports"]


async def test_stream_of_an_unknown_job_closes_with_4404(live: Callable[..., LiveServer]) -> None:
    srv = live()
    messages, code, reason = await read_stream(f"{srv.ws_base}/api/v1/jobs/job_nope/stream")
    assert messages == []
    assert code == 4404
    assert reason == "job job_nope not found"


async def test_stream_of_a_queued_job_starts_with_the_full_progress_shape(
    live: Callable[..., LiveServer], server: TestServer
) -> None:
    slow_site(server, pages=3, delay=0.5)
    srv = live(env={"SCRAPER_WORKERS": "1"})
    with srv.client() as client:
        blocker = submit(client, server.url("/docs/"), options={"cache_enabled": False})
        job_id = submit(client, server.url("/docs/"), options={"cache_enabled": False})
        async with asyncio.timeout(30), connect(f"{srv.ws_base}/api/v1/jobs/{job_id}/stream") as ws:
            first = json.loads(await ws.recv())
        client.delete(f"/api/v1/jobs/{job_id}")
        client.delete(f"/api/v1/jobs/{blocker}")
    assert first["type"] == "progress" and first["data"]["status"] == "queued"
    check_message(first, job_id)


# --- b. downloads over real HTTP ----------------------------------------------------------
def test_download_full_and_ranges_are_byte_identical(
    live: Callable[..., LiveServer], server: TestServer, tmp_path: Path
) -> None:
    slow_site(server, pages=6, delay=0)
    srv = live()
    with srv.client() as client:
        job_id = submit(client, server.url("/docs/"), options={"rate_limit": 10})
        job = job_when(client, job_id, finished, 60)
        assert job["status"] == "completed", job
        [export] = job["exports"]
        artifact = (tmp_path / "data" / "jobs" / job_id / "output.md").read_bytes()
        assert len(artifact) == export["size_bytes"] > 2000
        assert export["checksum"] == "sha256:" + hashlib.sha256(artifact).hexdigest()

        for encoding in ("identity", "gzip"):
            full = client.get(export["url"], headers={"Accept-Encoding": encoding})
            assert full.status_code == 200
            assert full.content == artifact  # decoded, when the server compressed it
            assert full.headers["etag"] == f'"{hashlib.sha256(artifact).hexdigest()}"'
        plain = client.get(export["url"], headers={"Accept-Encoding": "identity"})
        assert int(plain.headers["content-length"]) == len(artifact)
        assert plain.headers["accept-ranges"] == "bytes"

        first = client.get(export["url"], headers={"Range": "bytes=0-99"})
        assert first.status_code == 206
        assert first.content == artifact[:100]
        assert first.headers["content-range"] == f"bytes 0-99/{len(artifact)}"
        middle = client.get(export["url"], headers={"Range": "bytes=1000-1499"})
        assert middle.status_code == 206 and middle.content == artifact[1000:1500]
        tail = client.get(export["url"], headers={"Range": "bytes=-64"})
        assert tail.status_code == 206 and tail.content == artifact[-64:]
        beyond = client.get(export["url"], headers={"Range": f"bytes={len(artifact) + 10}-"})
        assert beyond.status_code == 416
        # Put the ranges together again: the same bytes as the file.
        parts = [
            client.get(export["url"], headers={"Range": f"bytes={start}-{start + 999}"}).content
            for start in range(0, len(artifact), 1000)
        ]
        assert b"".join(parts) == artifact

        etag = plain.headers["etag"]
        assert client.get(export["url"], headers={"If-None-Match": etag}).status_code == 304


# --- c. SIGKILL mid-job (checklist 24) --------------------------------------------------------
@pytest.mark.checklist(24)
def test_sigkill_mid_job_resumes_and_completes_once(
    live: Callable[..., LiveServer],
    server: TestServer,
    webhooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    paths = slow_site(server, pages=40, delay=0.05)
    data_dir = tmp_path / "data"
    first = live(data_dir)
    secret = "s3cret-signing-key-0123456789"
    with first.client() as client:
        job_id = submit(
            client,
            server.url("/docs/"),
            options={"rate_limit": 8, "cache_enabled": False},
            webhook_url=webhooks.url,
            webhook_secret=secret,
        )
        job_when(client, job_id, lambda j: j["statistics"]["pages_processed"] >= 8, 30)
    first.signal(signal.SIGKILL)
    first.wait_exit(10)
    before = stored_paths(data_dir, job_id)
    assert 8 <= len(before) < len(paths), before
    assert job_row(data_dir, job_id)["status"] == "running"  # as the killed process left it
    fetched_before = {path: len(server.hits_for(path)) for path in before}
    assert set(fetched_before.values()) == {1}

    second = live(data_dir, port=first.port)  # same folder, same address
    with second.client() as client:
        job = job_when(client, job_id, finished, 60)
        assert job["status"] == "completed", job
        assert job["statistics"]["pages_processed"] == len(paths)
        assert any("(attempt 2)" in line["message"] for line in job["logs"]), job["logs"]
        # One set of artifacts: one export, one file.
        assert [e["filename"] for e in job["exports"]] == ["output.md"]
        files = sorted(p.name for p in (data_dir / "jobs" / job_id).iterdir())
        assert [f for f in files if f.startswith("output")] == ["output.md"]
        book = client.get(job["exports"][0]["url"])
        assert book.status_code == 200
        for n in (1, 20, 40):
            assert f"Page number {n} explains" in book.text
        listed = client.get("/api/v1/jobs").json()["jobs"]
        assert [j["job_id"] for j in listed] == [job_id]

        # Pages stored before the kill were not fetched again.
        for path in before:
            assert len(server.hits_for(path)) == 1, path
        # Every page at most twice (only the ones in flight at the kill).
        assert all(len(server.hits_for(path)) in (1, 2) for path in paths)

        # Exactly one `completed` webhook.
        wait_until(lambda: webhooks.events("completed"), 15, "the completed webhook")
        time.sleep(1.5)  # time for a duplicate to show up, if there were one
        [done] = webhooks.events("completed")
        assert done.delivery_id == f"{job_id}:completed"
        assert done.payload["job_id"] == job_id
        assert done.payload["exports"][0]["url"] == job["exports"][0]["url"]
        assert {d.delivery_id for d in webhooks.events("started")} == {f"{job_id}:started"}
        assert webhooks.events("failed") == []


# --- c2. SIGKILL leaves no helper process behind (checklist 36) --------------------------------
@pytest.mark.checklist(36)
def test_sigkill_leaves_no_helper_process_behind(
    live: Callable[..., LiveServer], server: TestServer
) -> None:
    """The extraction pool (forkserver, its workers, the resource tracker) and the browser
    (Playwright's driver, Chromium) end with the server, even though it could not stop them."""
    slow_site(server, pages=4, delay=0)
    srv = live(env={"SCRAPER_EXTRACT_PROCESSES": "2"})
    options: dict[str, Any] = {"rate_limit": 10, "cache_enabled": False}
    if find_browser() is not None:
        options["render_javascript"] = True
    with srv.client() as client:
        job = job_when(client, submit(client, server.url("/docs/"), options=options), finished, 60)
        assert job["status"] == "completed", job
    helpers = srv.helpers()
    names = " ".join(command_line(p) for p in helpers)
    assert "forkserver" in names and "resource_tracker" in names, names
    if "render_javascript" in options:
        assert "chrom" in names, names
    srv.signal(signal.SIGKILL)
    srv.wait_exit(10)
    wait_until(lambda: not still_running(helpers), 10, "the server's helpers to end")


# --- d. SIGTERM (checklist 25) -----------------------------------------------------------------
@pytest.mark.checklist(25)
async def test_sigterm_hands_the_job_back_and_a_restart_completes_it(
    live: Callable[..., LiveServer], server: TestServer, tmp_path: Path
) -> None:
    paths = slow_site(server, pages=30, delay=0.05)
    data_dir = tmp_path / "data"
    first = live(data_dir)
    with first.client() as client:
        job_id = submit(
            client, server.url("/docs/"), options={"rate_limit": 6, "cache_enabled": False}
        )
        job_when(client, job_id, lambda j: j["statistics"]["pages_processed"] >= 5, 30)
    # A WebSocket client is following the job: it must not hold the shutdown up.
    helpers = first.helpers()
    assert helpers  # at least the extraction pool's processes
    async with asyncio.timeout(20), connect(f"{first.ws_base}/api/v1/jobs/{job_id}/stream") as ws:
        assert json.loads(await ws.recv())["type"] == "progress"
        first.signal(signal.SIGTERM)
        seen: list[dict[str, Any]] = []
        with contextlib.suppress(ConnectionClosed):
            while True:
                seen.append(json.loads(await ws.recv()))
        assert ws.close_code in (1001, 1012), ws.close_code
    assert all(m["type"] != "complete" for m in seen)  # handed back, not finished
    seconds = first.wait_exit(10)
    assert seconds < 10
    # A normal exit (not death by the re-raised signal): the interpreter's exit handlers
    # ran, so the extraction pool's semaphores were released, not reported leaked.
    assert first.process is not None and first.process.returncode == 0
    wait_until(lambda: not still_running(helpers), 10, f"the server's helpers {helpers} to end")
    assert "leaked semaphore" not in first.log_path.read_text()
    assert "Traceback" not in first.log_path.read_text()
    row = job_row(data_dir, job_id)
    assert row["status"] == "queued", row
    assert row["completed_at"] is None and row["error_message"] is None
    before = stored_paths(data_dir, job_id)
    assert 5 <= len(before) < len(paths)

    second = live(data_dir)
    with second.client() as client:
        job = job_when(client, job_id, finished, 60)
        assert job["status"] == "completed", job
        assert job["statistics"]["pages_processed"] == len(paths)
        assert any(
            line["message"] == "worker stopping; job handed back to the queue"
            for line in job["logs"]
        ), job["logs"]
    for path in before:
        assert len(server.hits_for(path)) == 1, path


@pytest.mark.checklist(25)
def test_sigterm_does_not_wait_for_a_long_sync_scrape(
    live: Callable[..., LiveServer], server: TestServer, tmp_path: Path
) -> None:
    """A /scrape/sync crawl may run for minutes: the server gives it the shutdown timeout
    (5 s), answers it 503, hands the job back; the next start fails it (its client is gone)."""
    slow_site(server, pages=30, delay=0.05)
    data_dir = tmp_path / "data"
    first = live(data_dir)
    answers: list[httpx.Response | Exception] = []

    def call() -> None:
        try:
            answers.append(
                httpx.post(
                    f"{first.base_url}/api/v1/scrape/sync",
                    json={"url": server.url("/docs/"), "options": {"rate_limit": 2}},
                    timeout=60,
                )
            )
        except httpx.HTTPError as exc:
            answers.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    with first.client() as client:
        [job] = wait_until(
            lambda: client.get("/api/v1/jobs", params={"status": "running"}).json()["jobs"],
            30,
            "the sync job to run",
        )
    first.signal(signal.SIGTERM)
    assert first.wait_exit(10) < 10
    thread.join(10)
    [answer] = answers
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"

    second = live(data_dir)
    with second.client() as client:
        detail = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert detail["status"] == "failed"
    assert "resubmit" in detail["error_message"]


# --- e. listening beyond loopback needs an API key ---------------------------------------
def test_public_address_needs_a_key(live: Callable[..., LiveServer], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(data_dir)
    refused = subprocess.run(
        [*CLI, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("error: refusing to listen on 0.0.0.0 without an API key")
    assert "scrape-docs keys create NAME" in refused.stderr

    created = subprocess.run(
        [*CLI, "keys", "create", "ci"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    [key] = [
        line.split(":", 1)[1].strip()
        for line in created.stdout.splitlines()
        if line.startswith("api key:")
    ]
    assert key.startswith("sda_") and len(key) > 30
    listed = subprocess.run(
        [*CLI, "keys", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "ci" in listed.stdout and key not in listed.stdout

    srv = live(data_dir, host="0.0.0.0")
    with srv.client() as client:
        assert client.get("/api/v1/system/health").status_code == 200
        anonymous = client.get("/api/v1/jobs")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "AUTHENTICATION_FAILED"
        wrong = client.get("/api/v1/jobs", headers={"X-API-Key": "sda_" + "x" * 43})
        assert (
            wrong.status_code == 401
            and wrong.json()["error"]["message"] == (anonymous.json()["error"]["message"])
        )
        ok = client.get("/api/v1/jobs", headers={"X-API-Key": key})
        assert ok.status_code == 200, ok.text
    assert key not in srv.log_path.read_text()


# --- f. secrets never reach the server's log (checklist 26) ---------------------------------
BEARER = "tok-Sup3rSecret-bearer-0001"
COOKIE_VALUE = "sess-Sup3rSecret-cookie-0002"
PASSWORD = "pw-Sup3rSecret-basic-0003"
SITE_KEY = "ak-Sup3rSecret-apikey-0004"
JOB_WEBHOOK_SECRET = "wh-Sup3rSecret-signing-0005"


def protected(server: TestServer, expect: Callable[[dict[str, str]], bool]) -> None:
    """``/docs/`` and two pages, answered only to requests whose headers ``expect`` likes."""
    paths = ["/docs/a.html", "/docs/b.html"]
    for path, title, links in [
        ("/docs/", "Docs home", paths),
        *((p, p, ["/docs/"]) for p in paths),
    ]:
        html = page(title, links, "Only signed-in readers see this page of the guide. " * 4)

        def route(req: RequestInfo, html: str = html) -> Reply:
            return Reply(body=html) if expect(req.headers) else Reply(403, b"no")

        server.route(path, route)


def keys_create(data_dir: Path, name: str) -> tuple[str, str]:
    """``scrape-docs keys create NAME``: (the API key, its webhook signing secret)."""
    created = subprocess.run(
        [*CLI, "keys", "create", name],
        cwd=data_dir.parent,
        env=cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    values = dict(line.split(":", 1) for line in created.stdout.splitlines())
    return values["api key"].strip(), values["webhook secret"].strip()


@pytest.mark.checklist(26)
async def test_a_crashing_authenticated_crawl_logs_no_secret(
    live: Callable[..., LiveServer],
    server: TestServer,
    webhooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    """Jobs crawling with stored bearer, cookie, API-key and basic credentials crash (the
    database lost a table under the running server), a request with X-API-Key gets a 500,
    a WebSocket authenticates with ?api_key=: the whole server log holds none of it."""
    basic_site = TestServer().start()
    try:
        basic = "Basic " + base64.b64encode(f"reader:{PASSWORD}".encode()).decode()
        protected(
            server,
            lambda h: (
                h.get("authorization") == f"Bearer {BEARER}"
                and f"session={COOKIE_VALUE}" in h.get("cookie", "")
                and h.get("x-docs-key") == SITE_KEY
            ),
        )
        protected(basic_site, lambda h: h.get("authorization") == basic)
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        key, key_webhook_secret = keys_create(data_dir, "ci")
        srv = live(data_dir)
        stored = [
            (server, "bearer", {"token": BEARER}),
            (server, "cookie", {"cookies": {"theme": "dark", "session": COOKIE_VALUE}}),
            (server, "api_key", {"api_key": SITE_KEY, "header_name": "X-Docs-Key"}),
            (basic_site, "basic", {"username": "reader", "password": PASSWORD}),
        ]
        with srv.client(headers={"X-API-Key": key}) as client:
            for site, auth_type, values in stored:
                response = client.post(
                    "/api/v1/auth/credentials",
                    json={
                        "domain": f"127.0.0.1:{site.port}",
                        "auth_type": auth_type,
                        "credentials": values,
                    },
                )
                assert response.status_code == 201, response.text
            # A fault no request can cause: the artifacts table is gone, so each job crashes
            # when it records its export, and so does a request reading a job.
            db = sqlite3.connect(data_dir / "scraper.db")
            db.execute("DROP TABLE artifacts")
            db.commit()
            db.close()
            jobs = [
                submit(
                    client,
                    site.url("/docs/"),
                    options={"rate_limit": 10, "cache_enabled": False},
                    webhook_url=webhooks.url,
                    webhook_secret=JOB_WEBHOOK_SECRET,
                )
                for site in (server, basic_site)
            ]
            wait_until(
                lambda: srv.log_path.read_text().count('"job_crashed"') == 2, 60, "both crashes"
            )
            # The crawls were authenticated: every page was answered.
            assert len(server.hits) >= 3 and len(basic_site.hits) >= 3
            failed = client.get(f"/api/v1/jobs/{jobs[0]}")
            assert failed.status_code == 500, failed.text
            assert failed.json()["error"]["code"] == "INTERNAL_ERROR"
        await read_stream(f"{srv.ws_base}/api/v1/jobs/{jobs[0]}/stream?api_key={key}")
        srv.signal(signal.SIGTERM)
        srv.wait_exit(20)
    finally:
        basic_site.stop()

    logged = srv.log_path.read_text()
    secrets = [
        BEARER,
        COOKIE_VALUE,
        PASSWORD,
        SITE_KEY,
        JOB_WEBHOOK_SECRET,
        key,
        key_webhook_secret,
    ]
    for secret in [*secrets, basic.removeprefix("Basic "), key[4:20]]:
        assert secret not in logged, f"{secret!r} in the server log"
    assert '"locals"' not in logged  # no stack frame's variables
    assert '"unhandled_error"' in logged  # the 500 was logged, with its exception
    assert "stream?api_key=[REDACTED]" in logged  # uvicorn's line for the WebSocket

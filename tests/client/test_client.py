"""``Client`` and ``AsyncClient`` against a real ``scrape-docs serve`` on 127.0.0.1: every
endpoint, typed results and errors, following a job over the WebSocket and by polling,
streamed downloads, and retries that honour Retry-After."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from scrape_api_docs.api.models.requests import ValidateRequest
from scrape_api_docs.api.models.responses import (
    ConversionAccepted,
    CredentialInfo,
    ExportMetadata,
    Health,
    JobDetail,
    JobList,
    ScrapeAccepted,
    Stats,
    SyncScrapeResult,
    ValidateResult,
)
from scrape_api_docs.cli import main
from scrape_api_docs.client import (
    AsyncClient,
    BadAnswer,
    BadRequest,
    Client,
    ConnectionFailed,
    NotFound,
    RateLimited,
    RetryNotice,
    RetryPolicy,
    Unauthorized,
)
from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.jobs.events import CompleteEvent, JobEvent, LogEvent, ProgressEvent
from scrape_api_docs.keys import create_key
from scrape_api_docs.settings import Settings
from tests.api.test_live_server import LiveServer
from tests.client.conftest import FAST, PAGES, Site
from tests.support.server import QuietHTTPServer, Reply


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.base_url, poll_interval=0.1) as client:
        yield client


@dataclass
class Followed:
    accepted: ScrapeAccepted
    detail: JobDetail
    heard: list[JobEvent]


@pytest.fixture(scope="module")
def followed(live_server: LiveServer, site: Site) -> Followed:
    """One job of the fixture site, submitted and followed over the WebSocket (shared by
    the tests that need a finished job: each job costs seconds)."""
    with Client(live_server.base_url) as api:
        accepted = api.submit(site.docs, options=FAST, export_formats=["markdown"])
        heard: list[JobEvent] = []
        detail = api.wait(accepted.job_id, timeout=90, on_event=heard.append)
    return Followed(accepted, detail, heard)


def test_submit_follow_over_the_websocket_and_download(
    api: Client, followed: Followed, tmp_path: Path
) -> None:
    accepted, detail, heard = followed.accepted, followed.detail, followed.heard
    assert isinstance(accepted, ScrapeAccepted) and accepted.status == "queued"
    assert isinstance(detail, JobDetail) and detail.status == "completed"
    assert detail.statistics.pages_processed == len(PAGES)
    kinds = [type(event) for event in heard]
    assert kinds[0] is ProgressEvent and kinds[-1] is CompleteEvent and LogEvent in kinds
    assert kinds.count(CompleteEvent) == 1
    assert any("Processed page" in e.data.message for e in heard if isinstance(e, LogEvent))

    book = api.download(accepted.job_id, "markdown", tmp_path)  # a folder: the server's name
    markdown = next(e for e in detail.exports if e.format == "markdown")
    assert book == tmp_path / markdown.filename and book.stat().st_size == markdown.size_bytes
    text = book.read_text()
    for path in PAGES:
        assert f"Content of {path}." in text
    again = api.download(accepted.job_id, "markdown", tmp_path / "sub" / "book.md")
    assert again.read_bytes() == book.read_bytes()
    assert not list(tmp_path.rglob(".*.part"))  # written beside, renamed into place


async def test_async_client_polls_where_the_websocket_is_refused(
    live_server: LiveServer, site: Site, tmp_path: Path
) -> None:
    """Behind a proxy that does not pass WebSockets, ``wait`` polls the job instead."""
    with websocketless_proxy(live_server.base_url) as proxy:
        async with AsyncClient(proxy, poll_interval=0.1) as api:
            job = await api.submit(site.docs, options=FAST)
            heard: list[JobEvent] = []
            detail = await asyncio.wait_for(api.wait(job.job_id, on_event=heard.append), 90)
            assert detail.status == "completed"
            assert isinstance(heard[-1], CompleteEvent) and heard[-1].data.exports
            assert not any(isinstance(e, LogEvent) for e in heard)  # only a poll's messages
            assert len(heard) >= 3  # polled while it ran, not only once at the end
            path = await api.download(job.job_id, "markdown", tmp_path / "async.md")
            assert "Content of /docs/usage.html." in path.read_text()
            assert job.job_id in {j.job_id for j in (await api.list_jobs(limit=100)).jobs}
            with pytest.raises(NotFound) as missing:
                await api.get_job("job_0000000000000000")
            assert missing.value.request_id.startswith("req_")
            assert (await api.health()).status in ("healthy", "degraded")
        with Client(proxy) as blocking:  # the blocking client falls back the same way
            assert blocking.wait(job.job_id, timeout=30).status == "completed"


def test_every_other_endpoint(api: Client, site: Site, followed: Followed, tmp_path: Path) -> None:
    job_id = followed.accepted.job_id
    listed = api.list_jobs("completed", limit=100)
    assert isinstance(listed, JobList) and job_id in {j.job_id for j in listed.jobs}
    assert api.list_jobs("failed").jobs == []

    checked = api.validate(site.docs, options={"max_depth": 2})
    assert isinstance(checked, ValidateResult) and checked.valid
    as_model = api.validate(ValidateRequest(url=site.docs, options=ScrapeOptions(max_depth=2)))
    assert as_model.valid and as_model.estimated_pages == checked.estimated_pages

    metadata = api.export_metadata(job_id)
    assert isinstance(metadata, ExportMetadata)
    assert metadata.formats["markdown"].available and not metadata.formats["json"].available
    conversion = api.convert(job_id, "json", {"include_toc": False})
    assert isinstance(conversion, ConversionAccepted)
    deadline = time.monotonic() + 90
    while (status := api.get_conversion(conversion.conversion_id)).status == "processing":
        assert time.monotonic() < deadline, "conversion still processing"
        time.sleep(0.1)
    assert status.status == "completed" and status.export is not None
    pages = api.download(job_id, "json", tmp_path)
    assert pages.name == status.export.filename and "/docs/api.html" in pages.read_text()

    credential = api.add_credential("docs.internal.example.com", "bearer", {"token": "s3cret"})
    assert isinstance(credential, CredentialInfo)
    listed_credentials = api.list_credentials().credentials
    assert [c.credential_id for c in listed_credentials] == [credential.credential_id]
    assert "s3cret" not in api.list_credentials().model_dump_json()
    api.delete_credential(credential.credential_id)
    assert api.list_credentials().credentials == []

    health = api.health()
    assert isinstance(health, Health) and health.status in ("healthy", "degraded")
    stats = api.stats()
    assert isinstance(stats, Stats) and stats.jobs["completed"] >= 1
    assert "scraper_jobs" in api.metrics()

    result = api.scrape_sync(site.docs, options=FAST, export_formats=["markdown"])
    assert isinstance(result, SyncScrapeResult) and result.status == "completed"
    assert result.pages_scraped == len(PAGES)
    deleted = api.delete_job(result.job_id)
    assert deleted.job_id == result.job_id
    with pytest.raises(NotFound):
        api.get_job(result.job_id)


def test_errors_are_typed_and_carry_the_envelope(api: Client, live_server: LiveServer) -> None:
    with pytest.raises(NotFound) as missing:
        api.get_job("job_0000000000000000")
    error = missing.value
    assert (error.status, error.code) == (404, "JOB_NOT_FOUND")
    assert error.request_id.startswith("req_") and error.request_id in str(error)
    assert error.details == {"job_id": "job_0000000000000000"} and error.timestamp

    with pytest.raises(BadRequest) as invalid:
        api.submit("http://127.0.0.1:9/docs/", options={"max_depth": 1000})
    assert (invalid.value.status, invalid.value.code) == (422, "VALIDATION_ERROR")
    assert invalid.value.details["errors"][0]["field"] == "options.max_depth"

    with pytest.raises(BadRequest) as unknown:
        api.submit("http://127.0.0.1:9/docs/", export_formats=["docx"])
    assert unknown.value.code == "INVALID_OPTIONS" and "markdown" in unknown.value.message

    with pytest.raises(NotFound) as stream:  # the WebSocket's close code 4404
        list(api.events("job_0000000000000000"))
    assert stream.value.code == "JOB_NOT_FOUND"
    with pytest.raises(NotFound):
        api.wait("job_0000000000000000", timeout=5)

    with Client(f"http://127.0.0.1:{free_port()}") as nobody, pytest.raises(ConnectionFailed):
        nobody.health()


def test_a_key_and_a_tight_rate_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server with an API key that allows 60 requests a minute per key (one a second
    once the burst is spent): the key is sent (HTTP, WebSocket, CLI), 429 is retried after
    its Retry-After, and a wait past the bound is the caller's."""
    data_dir = tmp_path / "data"
    key = asyncio.run(create_key(Settings(data_dir=data_dir), "ci")).key
    server = LiveServer(data_dir, env={"SCRAPER_REQUESTS_PER_MINUTE": "60"})
    try:
        server.start()
        with Client(server.base_url) as keyless, pytest.raises(Unauthorized) as refused:
            keyless.list_jobs()
        assert (refused.value.status, refused.value.code) == (401, "AUTHENTICATION_FAILED")
        with Client(server.base_url, api_key="sda_wrong") as wrong, pytest.raises(Unauthorized):
            list(wrong.events("job_0000000000000000"))  # the WebSocket's 4401

        monkeypatch.setenv("SCRAPE_DOCS_SERVER", server.base_url)
        monkeypatch.setenv("SCRAPE_DOCS_API_KEY", key)
        assert main(["jobs", "list"]) == 0
        assert capsys.readouterr().err == "no jobs\n"
        assert main(["jobs", "list", "--api-key", "sda_wrong"]) == 1
        assert capsys.readouterr().err.startswith("error: AUTHENTICATION_FAILED: ")

        notices: list[RetryNotice] = []
        raw = httpx.Client(base_url=server.base_url, headers={"X-API-Key": key})
        api = Client(server.base_url, api_key=key, on_retry=notices.append)
        with raw, api:
            for _ in range(5):  # a loaded machine may take a second between the two
                while (refused_now := raw.get("/api/v1/jobs")).status_code != 429:
                    pass
                assert refused_now.headers["retry-after"] == "1"
                assert isinstance(api.list_jobs(), JobList)  # after waiting as told
                if notices:
                    break
        assert notices and notices[0].status == 429 and notices[0].wait == 1.0

        impatient = Client(server.base_url, api_key=key, retry=RetryPolicy(max_wait=0.5))
        with impatient, pytest.raises(RateLimited) as limited:
            for _ in range(200):  # spend what came back, then refuse to wait that long
                impatient.list_jobs()
        assert limited.value.code == "RATE_LIMIT_EXCEEDED" and limited.value.retry_after == 1.0
    finally:
        server.cleanup()


# --- a reverse proxy that does not pass WebSockets -------------------------------------------
def free_port() -> int:
    from tests.api.test_live_server import free_port as port

    return port()


class websocketless_proxy:
    """Forwards plain HTTP to ``upstream``; answers a WebSocket upgrade with 400."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            do_POST = do_DELETE = do_GET

        self.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("upgrade", "").lower() == "websocket":
            status, headers, body = 400, {"Content-Type": "text/plain"}, b"no WebSockets here"
        else:
            length = int(h.headers.get("content-length") or 0)
            sent = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
            answer = self.upstream.request(
                h.command, h.path, headers=sent, content=h.rfile.read(length)
            )
            status, body = answer.status_code, answer.content
            headers = {"Content-Type": answer.headers.get("content-type", "")}
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.upstream.close()


def test_the_client_imports_nothing_of_the_server() -> None:
    """The client depends on the API's models only: no web framework, database or queue."""
    code = (
        "import sys, scrape_api_docs.client\n"
        "server = ('fastapi', 'starlette', 'sqlalchemy', 'uvicorn', 'alembic', 'playwright')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(server)}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_answers_that_are_not_the_apis(site: Site) -> None:
    """A proxy's login page (200) or plain 404 instead of the API: typed, saying so."""
    site.server.route("/api/v1/jobs/job_login", Reply(body="<html>Please log in</html>"))
    with Client(site.server.base) as stranger:
        with pytest.raises(BadAnswer) as page:
            stranger.get_job("job_login")
        assert "GET /api/v1/jobs/job_login: the answer (HTTP 200) is not the API's" in str(
            page.value
        )
        with pytest.raises(NotFound) as missing:
            stranger.get_job("job_absent")
        assert missing.value.code == "HTTP_404" and "not an answer of the API" in str(missing.value)

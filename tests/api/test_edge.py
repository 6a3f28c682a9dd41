"""The API's edge (security checklist 27-29, the metrics and versioning contract): request
bodies capped while they stream, the key checked before a body is read, rate limits that
X-Forwarded-For cannot dodge, a Host allow-list and no cross-origin access without keys,
deprecation headers, the docs pages offline, and ``uvicorn scrape_api_docs.api.main:app``.

Bodies and proxies are tested against real ``scrape-docs serve`` processes over raw sockets
(a chunked body is produced lazily, so the client sends only what the server reads); memory
is the server's peak resident size (VmHWM), read from /proc, so no timing is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from scrape_api_docs.api.edge import deprecated, host_name
from scrape_api_docs.keys import create_key
from tests.api.conftest import assert_envelope, make_settings
from tests.api.test_live_server import CLI, LiveServer, cli_env, free_port, slow_site
from tests.support.server import TestServer

MB = 1024 * 1024
LIMIT = MB  # SCRAPER_MAX_REQUEST_BYTES' default


# --- raw HTTP ------------------------------------------------------------------------------
def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def metadata_stream(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """A ScrapeRequest whose one metadata value is ``total`` bytes, chunk-encoded lazily."""
    yield chunked(b'{"url": "https://docs.example.com/", "metadata": {"note": "')
    for _ in range(total // piece):
        yield chunked(b"x" * piece)
    yield chunked(b'"}}') + b"0\r\n\r\n"


class Exchange:
    """One request over a raw socket: the head, then body pieces until the server answers
    (or hangs up); what came back, and how much of the body was sent."""

    def __init__(self, port: int, head: str, body: Iterable[bytes] = ()) -> None:
        self.sent = 0
        self.finished = False
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(head.encode("latin-1"))
            try:
                for piece in body:
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable:
                        break
                    sock.sendall(piece)
                    self.sent += len(piece)
                else:
                    self.finished = True
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.raw = self._read(sock)

    @staticmethod
    def _read(sock: socket.socket) -> bytes:
        data = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
                head, sep, rest = data.partition(b"\r\n\r\n")
                found = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if sep and found and len(rest) >= int(found.group(1)):
                    break
        return data

    @property
    def status(self) -> int | None:
        found = re.match(rb"HTTP/1\.1 (\d{3})", self.raw)
        return int(found.group(1)) if found else None

    @property
    def headers(self) -> dict[str, str]:
        head = self.raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}

    def error(self) -> dict[str, Any]:
        body = json.loads(self.raw.partition(b"\r\n\r\n")[2])
        assert set(body) == {"error"}
        assert body["error"]["request_id"] == self.headers["x-request-id"]
        return dict(body["error"])


def head(port: int, path: str, *, key: str | None = None, length: int | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if key:
        lines.append(f"X-API-Key: {key}")
    return "\r\n".join(lines) + "\r\n\r\n"


def peak_rss(server: LiveServer) -> int:
    """The server process's peak resident size so far (bytes), as the kernel counts it."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.M)
    assert found, status
    return int(found.group(1)) * 1024


# --- servers -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("keyless") / "data")
    try:
        yield server.start()
    finally:
        server.cleanup()


def new_cli_key(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    created = subprocess.run(
        [*CLI, "keys", "create", "edge"],
        env=cli_env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return next(
        line.split(":", 1)[1].strip()
        for line in created.stdout.splitlines()
        if line.startswith("api key:")
    )


# --- 27: request bodies --------------------------------------------------------------------
@pytest.mark.checklist(27)
def test_a_body_past_the_limit_gets_413_while_it_streams(keyless: LiveServer) -> None:
    port = keyless.port
    # Just past the limit, then nothing more: the 413 comes back in the envelope while
    # the body is still open (its last chunk never sent).
    just_past = [chunked(b"x" * (64 * 1024)) for _ in range(LIMIT // (64 * 1024))]
    exchange = Exchange(port, head(port, "/api/v1/scrape"), [*just_past, chunked(b"y")])
    assert exchange.status == 413, exchange.raw[:300]
    error = exchange.error()
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert "SCRAPER_MAX_REQUEST_BYTES" in error["message"]

    # 800 MB announced by Content-Length: refused before a byte of it is read.
    exchange = Exchange(
        port, head(port, "/api/v1/scrape", length=800 * MB), [b"{" + b" " * (64 * 1024)]
    )
    assert exchange.status == 413, exchange.raw[:300]
    assert exchange.error() == {
        **exchange.error(),
        "code": "PAYLOAD_TOO_LARGE",
        "details": {"limit_bytes": LIMIT},
    }

    # A 60 MB metadata value, chunked: the server answers (or hangs up) long before the
    # client is done, and its memory stays flat.
    before = peak_rss(keyless)
    exchange = Exchange(port, head(port, "/api/v1/scrape"), metadata_stream(60 * MB))
    assert not exchange.finished and exchange.sent < 20 * MB, exchange.sent
    assert exchange.status in (413, None), exchange.raw[:300]
    assert peak_rss(keyless) - before < 40 * MB
    # A request of ordinary size still works on the next connection.
    with keyless.client() as client:
        assert client.post("/api/v1/scrape/validate", json={"url": "x"}).status_code == 400


@pytest.mark.checklist(27)
def test_the_key_is_checked_before_the_body_is_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = new_cli_key(data)
    server = LiveServer(data).start()
    try:
        port = server.port
        before = peak_rss(server)
        # No key, 200 MB chunked: 401 at once, none of the body read.
        exchange = Exchange(port, head(port, "/api/v1/scrape"), metadata_stream(200 * MB))
        assert not exchange.finished and exchange.sent < 20 * MB, exchange.sent
        assert exchange.status in (401, None), exchange.raw[:300]
        assert peak_rss(server) - before < 40 * MB
        exchange = Exchange(port, head(port, "/api/v1/scrape", key="sda_wrong"), [chunked(b"{")])
        assert exchange.status == 401 and exchange.error()["code"] == "AUTHENTICATION_FAILED"

        # With the key, the same body gets 413 while it streams.
        exchange = Exchange(port, head(port, "/api/v1/scrape", key=key), metadata_stream(60 * MB))
        assert not exchange.finished and exchange.sent < 20 * MB, exchange.sent
        assert exchange.status in (413, None), exchange.raw[:300]
        assert peak_rss(server) - before < 40 * MB

        with server.client() as client:
            # A malformed body without a key: 401, not 422.
            malformed = client.post(
                "/api/v1/scrape", content=b"{not json", headers={"content-type": "application/json"}
            )
            assert_envelope(malformed, 401, "AUTHENTICATION_FAILED")
            # With the key it is the body's turn.
            malformed = client.post(
                "/api/v1/scrape",
                content=b"{not json",
                headers={"content-type": "application/json", "X-API-Key": key},
            )
            assert_envelope(malformed, 422, "VALIDATION_ERROR")
    finally:
        server.cleanup()


@pytest.mark.checklist(27)
async def test_metadata_and_free_text_fields_are_capped(api: Any) -> None:
    async with api(max_request_bytes=16 * MB) as (_, client):
        url = "https://docs.example.com/"
        for metadata in (
            {"note": "x" * 2001},
            {"k" * 201: "v"},
            {f"k{i}": "v" for i in range(51)},
        ):
            response = await client.post("/api/v1/scrape", json={"url": url, "metadata": metadata})
            assert_envelope(response, 422, "VALIDATION_ERROR")
            assert "metadata" in response.json()["error"]["message"]
        for options in (
            {"user_agent": "u" * 501},
            {"include_patterns": ["*" * 1001]},
            {"exclude_patterns": ["*/x/*"] * 101},
        ):
            response = await client.post("/api/v1/scrape", json={"url": url, "options": options})
            assert_envelope(response, 422, "VALIDATION_ERROR")
        cookies = {"authentication": {"type": "cookie", "cookies": {"c": "v" * 10001}}}
        response = await client.post("/api/v1/scrape", json={"url": url, **cookies})
        assert_envelope(response, 422, "VALIDATION_ERROR")
        credential = {"domain": "docs.example.com", "auth_type": "bearer"}
        response = await client.post(
            "/api/v1/auth/credentials",
            json={**credential, "credentials": {f"k{i}": "v" for i in range(51)}},
        )
        assert_envelope(response, 422, "VALIDATION_ERROR")


# --- 28: rate limits and proxies -----------------------------------------------------------
@pytest.mark.checklist(28)
def test_x_forwarded_for_does_not_dodge_the_rate_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    new_cli_key(data)
    server = LiveServer(data, env={"SCRAPER_REQUESTS_PER_MINUTE": "10"}).start()
    try:
        statuses = []
        with server.client() as client:
            for i in range(30):
                response = client.get(
                    "/api/v1/jobs",
                    headers={"X-API-Key": f"sda_guess{i}", "X-Forwarded-For": f"203.0.113.{i}"},
                )
                statuses.append(response.status_code)
                if response.status_code == 429:
                    error = assert_envelope(response, 429, "RATE_LIMIT_EXCEEDED")
                    retry = int(response.headers["retry-after"])
                    assert retry >= 1 and error["details"] == {"retry_after": retry}
                    assert response.headers["x-ratelimit-limit"] == "10"
                    assert response.headers["x-ratelimit-remaining"] == "0"
                    assert int(response.headers["x-ratelimit-reset"]) >= 1
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}, statuses
    finally:
        server.cleanup()

    # Behind a proxy named in SCRAPER_TRUSTED_PROXIES, its X-Forwarded-For is the client.
    proxied = LiveServer(
        data, env={"SCRAPER_REQUESTS_PER_MINUTE": "3", "SCRAPER_TRUSTED_PROXIES": "127.0.0.1"}
    ).start()
    try:
        with proxied.client() as client:
            for i in range(6):
                response = client.get(
                    "/api/v1/jobs",
                    headers={"X-API-Key": "sda_guess", "X-Forwarded-For": f"203.0.113.{i}"},
                )
                assert response.status_code == 401, response.text
                assert response.headers["x-ratelimit-remaining"] == "2"
    finally:
        proxied.cleanup()


@pytest.mark.checklist(28)
async def test_every_429_has_retry_after_and_rate_limit_headers(api: Any, tmp_path: Path) -> None:
    async with api(requests_per_minute=3) as (_, client):
        ok = await client.get("/api/v1/jobs")
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit"] == "3"
        assert ok.headers["x-ratelimit-remaining"] == "2"
        assert int(ok.headers["x-ratelimit-reset"]) >= 1

    # The queue-full 429: one job running, one queued, the next refused.
    site = TestServer().start()
    try:
        slow_site(site, pages=3, delay=5)
        async with api(workers=1, max_queued_jobs=1) as (_, client):
            job = {"url": site.url("/docs/"), "options": {"rate_limit": 10, "timeout": 30}}
            ids: list[str] = []
            full = None
            for _ in range(3):  # one job may be taken by the worker in between
                full = await client.post("/api/v1/scrape", json=job)
                if full.status_code == 429:
                    break
                ids.append(full.json()["job_id"])
            assert full is not None
            assert_envelope(full, 429, "RATE_LIMIT_EXCEEDED")
            assert int(full.headers["retry-after"]) >= 1
            assert {"x-ratelimit-limit", "x-ratelimit-remaining"} <= set(full.headers)
            for job_id in ids:
                await client.delete(f"/api/v1/jobs/{job_id}")
    finally:
        site.stop()


# --- 29: Host names and other origins ------------------------------------------------------
async def _ws_open(url: str) -> None:
    async with connect(url, origin=Origin("https://evil.example"), open_timeout=10):
        pass


@pytest.mark.checklist(29)
def test_a_keyless_server_refuses_other_sites_and_host_names(keyless: LiveServer) -> None:
    with keyless.client() as client:
        preflight = client.options(
            "/api/v1/scrape",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert_envelope(preflight, 403, "FORBIDDEN")
        assert "access-control-allow-origin" not in preflight.headers
        posted = client.post(
            "/api/v1/scrape",
            json={"url": "https://docs.example.com/"},
            headers={"Origin": "https://evil.example"},
        )
        assert_envelope(posted, 403, "FORBIDDEN")
        assert "access-control-allow-origin" not in posted.headers

        rebound = client.get("/api/v1/system/health", headers={"Host": "evil.example"})
        assert_envelope(rebound, 403, "FORBIDDEN")
        assert "SCRAPER_SERVER_NAMES" in rebound.json()["error"]["message"]
        for host in (f"localhost:{keyless.port}", f"127.0.0.1:{keyless.port}", "localhost"):
            assert client.get("/api/v1/system/health", headers={"Host": host}).status_code == 200
        # Nor can another site's page open a job's WebSocket (no CORS guards those).
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(_ws_open(f"{keyless.ws_base}/api/v1/jobs/job_x/stream"))
        assert refused.value.response.status_code == 403
        # The same origin (the docs page's own "Try it out") is not another site.
        same = client.post(
            "/api/v1/scrape/validate",
            json={"url": "x"},
            headers={"Origin": f"http://127.0.0.1:{keyless.port}"},
        )
        assert_envelope(same, 400, "INVALID_URL")


@pytest.mark.checklist(29)
async def test_cors_origins_apply_once_keys_exist(api: Any, tmp_path: Path) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
    async with api(cors_origins=["https://app.example"]) as (_, client):
        # No keys yet: no origin is let in, listed or not.
        refused = await client.options(
            "/api/v1/jobs", headers={"Origin": "https://app.example", **preflight}
        )
        assert_envelope(refused, 403, "FORBIDDEN")
    key = await create_key(make_settings(tmp_path / "data"), "web")
    async with api(cors_origins=["https://app.example"]) as (_, client):
        allowed = await client.options(
            "/api/v1/jobs", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        listed = await client.get(
            "/api/v1/jobs", headers={"Origin": "https://app.example", "X-API-Key": key.key}
        )
        assert listed.status_code == 200
        assert listed.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-ratelimit-remaining" in listed.headers["access-control-expose-headers"].lower()
        other = await client.options(
            "/api/v1/jobs", headers={"Origin": "https://evil.example", **preflight}
        )
        assert_envelope(other, 403, "FORBIDDEN")
        assert "access-control-allow-origin" not in other.headers


# --- metrics ------------------------------------------------------------------------------
async def test_metrics_are_open_or_need_a_key_as_configured(api: Any, tmp_path: Path) -> None:
    key = await create_key(make_settings(tmp_path / "data"), "prometheus")
    async with api() as (_, client):
        assert (await client.get("/api/v1/system/metrics")).status_code == 200
    async with api(metrics_require_key=True) as (_, client):
        response = await client.get("/api/v1/system/metrics")
        assert_envelope(response, 401, "AUTHENTICATION_FAILED")
        response = await client.get("/api/v1/system/metrics", headers={"X-API-Key": key.key})
        assert response.status_code == 200 and "scraper_jobs_total" in response.text


# --- versioning ---------------------------------------------------------------------------
async def test_a_route_marked_deprecated_answers_deprecation_and_sunset(api: Any) -> None:
    note = "https://docs.example.com/migrate/v2"
    async with api() as (app, client):

        @app.get(
            "/api/v1/old-thing",
            **deprecated(since=date(2026, 6, 1), sunset=date(2027, 6, 1), link=note),
        )
        async def old_thing() -> dict[str, str]:
            return {"still": "here"}

        response = await client.get("/api/v1/old-thing")
        assert response.status_code == 200
        since = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
        assert response.headers["deprecation"] == f"@{since}"
        assert response.headers["sunset"] == "Tue, 01 Jun 2027 00:00:00 GMT"
        assert f'<{note}>; rel="deprecation"' in response.headers["link"]
        assert f'<{note}>; rel="sunset"' in response.headers["link"]
        app.openapi_schema = None
        assert app.openapi()["paths"]["/api/v1/old-thing"]["get"]["deprecated"] is True
        current = await client.get("/api/v1/jobs")
        assert "deprecation" not in current.headers and "sunset" not in current.headers


# --- 6: the design's uvicorn command and the docs pages offline -----------------------------
class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_pages_load_their_assets_from_this_server(keyless: LiveServer) -> None:
    with keyless.client() as client:
        for page, kinds in (
            ("/api/docs", {"javascript", "css"}),
            ("/api/redoc", {"javascript"}),
        ):
            html = client.get(page)
            assert html.status_code == 200 and "text/html" in html.headers["content-type"]
            assert "/api/openapi.json" in html.text
            assert not re.search(r"https?://", html.text), "a page refers to another site"
            parser = _Assets()
            parser.feed(html.text)
            seen = set()
            for url in parser.urls:
                assert url.startswith("/"), url
                asset = client.get(url)
                assert asset.status_code == 200, url
                kind = asset.headers["content-type"]
                seen.update(k for k in ("javascript", "css") if k in kind)
                if url.endswith(".js"):
                    assert "javascript" in kind and len(asset.content) > 100_000, url
            assert kinds <= seen, (page, parser.urls)


def test_uvicorn_serves_the_module_level_app(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "scrape_api_docs.api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=cli_env(tmp_path / "data"),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/system/health", timeout=2)
                break
            time.sleep(0.1)
        assert health is not None, log.read_text()
        assert health.status_code == 200 and health.json()["status"] in ("healthy", "degraded")
        assert (tmp_path / "data" / "scraper.db").exists()
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("evil.example:80", "evil.example"),
        ("localhost.evil.example", "localhost.evil.example"),
    ],
)
def test_host_names_are_read_without_port_case_or_trailing_dot(header: str, name: str) -> None:
    assert host_name(header) == name

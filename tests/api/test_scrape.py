"""POST /scrape/sync, POST /scrape/validate and the error envelope, over the real app
against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from scrape_api_docs.jobs.estimate import SAMPLE_PAGES
from tests.api.conftest import assert_envelope as shared_envelope
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import no_robots, page, serve_pages

FAST = {"requests_per_minute": 100_000}
# Beyond the shared leak list: no file name or temporary path in any answer here.
LEAKS = (".py", "/tmp/")
JS_WARNING = "Site uses JavaScript rendering - enable render_javascript option"
APP_SHELL = (
    "<!doctype html><html><head><title>Docs</title>"
    '<script src="/static/js/runtime.js"></script>'
    '<script src="/static/js/vendor.js"></script>'
    '<script src="/static/js/main.js"></script>'
    '</head><body><div id="root"></div>'
    "<noscript>You need to enable JavaScript to run this app.</noscript></body></html>"
)


def assert_envelope(
    response: httpx.Response, status: int | tuple[int, ...], code: str
) -> dict[str, Any]:
    return shared_envelope(response, status, code, absent=LEAKS)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def scrape_sync(client: httpx.AsyncClient, url: str, **options: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/scrape/sync", json={"url": url, "options": {"rate_limit": 10, **options}}
    )


async def validate(client: httpx.AsyncClient, url: str, **options: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/scrape/validate", json={"url": url, "options": {"rate_limit": 10, **options}}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- 5. POST /scrape/sync ---------------------------------------------------------------------
async def test_sync_scrape_of_a_small_site(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api(**FAST) as (_, client):
        response = await scrape_sync(client, site.url("/index.html"))
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["job_id"].startswith("job_")
        assert result["status"] == "completed"
        assert result["error_message"] is None
        assert result["pages_scraped"] == 5
        assert result["duration"] > 0
        stats = result["statistics"]
        assert stats["pages_processed"] == 5 and stats["pages_discovered"] >= 5
        assert stats["cache_hits"] + stats["cache_misses"] == 5
        [export] = result["exports"]
        assert export["format"] == "markdown"
        assert export["url"] == f"/api/v1/exports/{result['job_id']}/output.md"
        download = await client.get(export["url"])
        assert download.status_code == 200
        assert download.text.startswith("# Quillstore")
        assert export["checksum"] == "sha256:" + hashlib.sha256(download.content).hexdigest()
        job = (await client.get(f"/api/v1/jobs/{result['job_id']}")).json()
        assert job["status"] == "completed" and job["duration"] == result["duration"]


async def test_sync_page_cap_answers_413_pointing_at_the_async_endpoint(
    api: Any, site_server: Any
) -> None:
    site = site_server("sphinx_classic")  # 5 pages
    async with api(sync_max_pages=2, **FAST) as (_, client):
        response = await scrape_sync(client, site.url("/index.html"))
        error = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
        assert "POST /api/v1/scrape" in error["message"]
        assert "2 pages" in error["message"]
        job_id = error["details"]["job_id"]
        assert error["details"]["limit_pages"] == 2
        job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        stats = job["statistics"]
        # The budget counts URLs fetched (a dangling link answers 404 and still counts).
        assert stats["pages_processed"] + stats["errors"] == 2
        assert stats["skipped_reasons"]["page budget"] > 0
        page_hits = [h for h in site.hits if h.path not in ("/robots.txt", "/sitemap.xml")]
        assert len(page_hits) == 2, "the crawl must stop at the cap, not fetch the whole site"

        # A site within the cap is answered normally.
        small = TestServer().start()
        try:
            no_robots(small)
            small.route("/index.html", Reply(body=page("/index.html", ["/two.html"])))
            small.route("/two.html", Reply(body=page("/two.html")))
            response = await scrape_sync(client, small.url("/index.html"))
            assert response.status_code == 200, response.text
            assert response.json()["pages_scraped"] == 2
        finally:
            small.stop()


async def test_sync_time_cap_answers_413_and_cancels_the_job(api: Any, server: TestServer) -> None:
    gate = threading.Event()
    no_robots(server)

    def slow(_request: RequestInfo) -> Reply:
        gate.wait(30)
        return Reply(body=page("/index.html"))

    server.route("/index.html", slow)
    try:
        async with api(sync_timeout=5, **FAST) as (_, client):
            started = time.monotonic()
            response = await scrape_sync(client, server.url("/index.html"))
            elapsed = time.monotonic() - started
            error = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
            assert 4.9 <= elapsed < 8, elapsed
            assert "/api/v1/scrape" in error["message"]
            assert "5 s" in error["message"]
            assert error["details"]["limit_seconds"] == 5
            assert error["details"]["status_url"] == f"/api/v1/jobs/{error['details']['job_id']}"
            job = (await client.get(f"/api/v1/jobs/{error['details']['job_id']}")).json()
            assert job["status"] == "cancelled"
    finally:
        gate.set()


@pytest.mark.checklist(32)
async def test_sync_scrapes_past_the_concurrency_bound_get_429_with_retry_after(
    api: Any, server: TestServer
) -> None:
    """One synchronous crawl at a time (bound 1): a second one while the first waits on a
    slow site is turned away with 429 and Retry-After; once the first ends, a new one runs."""
    gate = threading.Event()
    no_robots(server)

    def slow(_request: RequestInfo) -> Reply:
        gate.wait(30)
        return Reply(body=page("/slow.html"))

    server.route("/slow.html", slow)
    server.route("/fast.html", Reply(body=page("/fast.html")))
    try:
        async with api(sync_concurrency=1, workers=1, **FAST) as (_, client):
            first = asyncio.create_task(scrape_sync(client, server.url("/slow.html")))
            for _ in range(300):
                if server.hits_for("/slow.html"):
                    break
                await asyncio.sleep(0.05)
            assert server.hits_for("/slow.html"), "the first crawl never started"
            response = await scrape_sync(client, server.url("/fast.html"))
            error = assert_envelope(response, 429, "RATE_LIMIT_EXCEEDED")
            assert int(response.headers["retry-after"]) > 0
            assert error["details"]["sync_concurrency"] == 1
            assert "POST /api/v1/scrape" in error["message"]
            assert not server.hits_for("/fast.html"), "a refused scrape must not crawl"
            gate.set()
            assert (await first).status_code == 200
            response = await scrape_sync(client, server.url("/fast.html"))
            assert response.status_code == 200, response.text
    finally:
        gate.set()


async def test_sync_failing_start_page_is_scraping_failed(api: Any, server: TestServer) -> None:
    no_robots(server)
    server.route("/index.html", Reply(404, "no such page", content_type="text/plain"))
    async with api(**FAST) as (_, client):
        response = await scrape_sync(client, server.url("/index.html"))
        error = assert_envelope(response, 422, "SCRAPING_FAILED")
        assert "HTTP 404" in error["message"]
        job = (await client.get(f"/api/v1/jobs/{error['details']['job_id']}")).json()
        assert job["status"] == "failed" and job["error_message"] == error["message"]


# --- 6. POST /scrape/validate ----------------------------------------------------------------
async def test_validate_fixture_site(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api(**FAST) as (_, client):
        result = await validate(client, site.url("/index.html"))
    assert result["valid"] is True
    assert result["warnings"] == [] and result["recommendations"] == {}
    # No sitemap: a small sample of the site, here all of it (5 pages).
    assert result["estimated_pages"] == 5
    assert result["estimated_duration"] == 0.5
    assert result["details"]["status"] == 200
    assert result["details"]["sitemap_pages"] == 0
    assert result["details"]["estimate_basis"] == "sample"
    # It sampled; it did not crawl (the sample is bounded).
    pages = [h.path for h in site.hits if h.path not in ("/robots.txt", "/sitemap.xml")]
    assert pages[0] == "/index.html" and len(pages) <= SAMPLE_PAGES


async def test_validate_estimates_from_the_sitemap(api: Any, server: TestServer) -> None:
    no_robots(server)
    pages = [f"/docs/page{i}.html" for i in range(11)]
    server.route("/docs/", Reply(body=page("/docs/", pages[:2])))
    for path in pages:
        server.route(path, Reply(body=page(path)))
    locs = [server.url("/docs/"), server.url("/docs/index.html")]  # one page, two spellings
    locs += [server.url(p) for p in pages]
    locs += [server.url("/blog/post.html")]  # outside the start folder
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
        + "</urlset>"
    )
    server.route("/sitemap.xml", Reply(body=sitemap, content_type="application/xml"))
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/docs/"))
        assert result["valid"] is True
        assert result["estimated_pages"] == 12
        assert result["estimated_duration"] == 1.2  # 12 pages at 10 per second
        assert result["details"]["sitemap_pages"] == 12
        slower = await validate(client, server.url("/docs/"), rate_limit=2)
        assert slower["estimated_duration"] == 6.0
        capped = await validate(client, server.url("/docs/"), max_pages=5)
        assert capped["estimated_pages"] == 5
    for path in pages:
        assert server.hits_for(path) == [], "validate must not fetch the pages themselves"


async def test_validate_crawl_delay_becomes_a_recommendation(api: Any, server: TestServer) -> None:
    server.route(
        "/robots.txt", Reply(body="User-agent: *\nCrawl-delay: 2\n", content_type="text/plain")
    )
    server.route("/index.html", Reply(body=page("/index.html", ["/a.html", "/b.html", "/c.html"])))
    serve_pages(server, {"/a.html": [], "/b.html": []})  # /c.html: 404, not a page
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/index.html"))
    assert result["valid"] is True
    assert result["recommendations"] == {"rate_limit": 0.5}
    assert "robots.txt asks for 2s between requests" in result["warnings"]
    assert result["estimated_pages"] == 3
    assert result["estimated_duration"] == 6.0  # 3 pages, one every 2 s


async def test_validate_detects_a_javascript_app_shell(api: Any, server: TestServer) -> None:
    no_robots(server)
    server.route("/index.html", Reply(body=APP_SHELL))
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/index.html"))
    assert result["valid"] is True
    assert JS_WARNING in result["warnings"]
    assert result["recommendations"]["render_javascript"] is True
    assert result["details"]["javascript_signals"]


async def test_validate_unreachable_or_broken_start_page_is_invalid(
    api: Any, server: TestServer
) -> None:
    no_robots(server)
    server.route("/missing.html", Reply(404, "gone", content_type="text/plain"))
    server.route("/data.json", Reply(body="{}", content_type="application/json"))
    async with api(**FAST) as (_, client):
        down = await validate(client, f"http://127.0.0.1:{closed_port()}/docs/")
        assert down["valid"] is False
        assert down["estimated_pages"] is None and down["estimated_duration"] is None
        assert any("cannot reach the site" in w for w in down["warnings"])
        missing = await validate(client, server.url("/missing.html"))
        assert missing["valid"] is False
        assert "start page answered HTTP 404" in missing["warnings"]
        not_html = await validate(client, server.url("/data.json"))
        assert not_html["valid"] is False
        assert any("not HTML" in w for w in not_html["warnings"])


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://169.254.169.254/latest/meta-data/",
        "HTTP://169.254.169.254/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
    ],
)
@pytest.mark.checklist(1, 3, 5)
async def test_validate_refuses_link_local_and_unspecified_addresses(api: Any, url: str) -> None:
    async with api(**FAST) as (_, client):
        response = await client.post("/api/v1/scrape/validate", json={"url": url})
        error = assert_envelope(response, 400, "INVALID_URL")
        assert "refused" in error["message"]
        for endpoint in ("/api/v1/scrape", "/api/v1/scrape/sync"):
            assert_envelope(await client.post(endpoint, json={"url": url}), 400, "INVALID_URL")
        assert (await client.get("/api/v1/jobs")).json()["pagination"]["total"] == 0


# --- 8. the error envelope -------------------------------------------------------------------
@pytest.mark.checklist(16)
async def test_every_error_uses_the_envelope(api: Any) -> None:
    site = "http://127.0.0.1:9/"
    cases: list[tuple[str, str, dict[str, Any], int | tuple[int, ...], str]] = [
        (
            "POST",
            "/api/v1/scrape",
            {"content": b'{"url": ', "headers": {"content-type": "application/json"}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"content": b"[]", "headers": {"content-type": "application/json"}},
            422,
            "VALIDATION_ERROR",
        ),
        ("POST", "/api/v1/scrape", {"json": {}}, 400, "INVALID_URL"),  # no url at all
        ("POST", "/api/v1/scrape", {"json": {"url": "not a url"}}, 400, "INVALID_URL"),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": "file:///etc/passwd"}},
            400,  # INVALID_URL has one status, whatever made the URL invalid
            "INVALID_URL",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": "ftp://example.com/"}},
            400,  # INVALID_URL has one status, whatever made the URL invalid
            "INVALID_URL",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": "http://169.254.169.254/"}},
            400,
            "INVALID_URL",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": site, "webhook_url": "nope"}},
            400,  # INVALID_URL has one status, whatever made the URL invalid
            "INVALID_URL",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": site, "options": {"rate_limit": 100}}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": site, "export_formats": ["docx"]}},
            400,
            "INVALID_OPTIONS",
        ),
        (
            "POST",
            "/api/v1/scrape",
            {"json": {"url": site, "priority": "asap"}},
            422,
            "VALIDATION_ERROR",
        ),
        ("POST", "/api/v1/scrape", {"json": {"url": site, "surprise": 1}}, 400, "INVALID_OPTIONS"),
        (
            "POST",
            "/api/v1/scrape/sync",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            422,
            "VALIDATION_ERROR",
        ),
        (
            "POST",
            "/api/v1/scrape/validate",
            {"json": {"url": "gopher://x/"}},
            400,  # INVALID_URL has one status, whatever made the URL invalid
            "INVALID_URL",
        ),
        ("GET", "/api/v1/jobs/job_0000000000000000", {}, 404, "JOB_NOT_FOUND"),
        ("DELETE", "/api/v1/jobs/job_0000000000000000", {}, 404, "JOB_NOT_FOUND"),
        ("GET", "/api/v1/exports/job_0000000000000000/metadata", {}, 404, "JOB_NOT_FOUND"),
        ("GET", "/api/v1/exports/job_0000000000000000/output.md", {}, 404, "JOB_NOT_FOUND"),
        ("GET", "/api/v1/jobs", {"params": {"limit": 101}}, 422, "VALIDATION_ERROR"),
        ("GET", "/api/v1/jobs", {"params": {"sort": "password"}}, 422, "VALIDATION_ERROR"),
        ("GET", "/api/v1/nowhere", {}, 404, "NOT_FOUND"),
        ("PUT", "/api/v1/jobs", {}, 405, "METHOD_NOT_ALLOWED"),
    ]
    async with api(**FAST) as (_, client):
        for method, path, kwargs, status, code in cases:
            response = await client.request(method, path, **kwargs)
            error = assert_envelope(response, status, code)
            assert error["request_id"].startswith("req_"), (method, path)
        malformed = await client.post(
            "/api/v1/scrape", content=b'{"url": ', headers={"content-type": "application/json"}
        )
        assert "json" in malformed.json()["error"]["message"].lower()
        unknown = await client.get("/api/v1/jobs/job_0000000000000000")
        assert unknown.json()["error"]["details"] == {"job_id": "job_0000000000000000"}
        rate = await client.post(
            "/api/v1/scrape", json={"url": site, "options": {"rate_limit": 100}}
        )
        assert rate.json()["error"]["details"]["errors"][0]["field"] == "options.rate_limit"

        # A sane client request id is echoed, in the header and the envelope; others replaced.
        traced = await client.get(
            "/api/v1/jobs/job_0000000000000000", headers={"X-Request-ID": "trace-42.abc_DEF"}
        )
        assert traced.headers["x-request-id"] == "trace-42.abc_DEF"
        assert traced.json()["error"]["request_id"] == "trace-42.abc_DEF"
        ok = await client.get("/api/v1/jobs", headers={"X-Request-ID": "trace-ok-1"})
        assert ok.status_code == 200 and ok.headers["x-request-id"] == "trace-ok-1"
        for insane in ("has spaces in it", "x" * 65, "new\\nline", "<script>"):
            response = await client.get(
                "/api/v1/jobs/job_0000000000000000", headers={"X-Request-ID": insane}
            )
            rid = response.headers["x-request-id"]
            assert rid != insane and rid.startswith("req_")
            assert response.json()["error"]["request_id"] == rid
        # Every response gets its own id.
        ids = {(await client.get("/api/v1/jobs")).headers["x-request-id"] for _ in range(5)}
        assert len(ids) == 5

"""Exports over the real API: download headers, ETag, Range, metadata, conversions, and
path traversal (nothing outside the job's folder is ever read)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from scrape_api_docs.exporters.registry import EXPORTERS
from tests.api.conftest import assert_envelope, wait_for_status
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import no_robots, page

FAST = {"requests_per_minute": 100_000}


async def completed_job(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.post("/api/v1/scrape", json={"url": url, "options": {"rate_limit": 10}})
    assert response.status_code == 202, response.text
    job = await wait_for_status(client, response.json()["job_id"])
    assert job["status"] == "completed", job
    return job


async def raw_get(app: Any, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET straight into the ASGI app with the path exactly as a client could send it
    (httpx would remove ``..`` segments before sending)."""
    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return int(start["status"]), headers, body


# --- download ----------------------------------------------------------------------------
async def test_download_headers_etag_and_range(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api(**FAST) as (_, client):
        job = await completed_job(client, site.url("/index.html"))
        [export] = job["exports"]
        response = await client.get(export["url"], headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        body = response.content
        assert "content-encoding" not in response.headers
        assert response.headers["content-type"] == "text/markdown; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="output.md"'
        digest = hashlib.sha256(body).hexdigest()
        assert export["checksum"] == f"sha256:{digest}"
        etag = response.headers["etag"]
        assert etag == f'"{digest}"'
        assert int(response.headers["content-length"]) == len(body) == export["size_bytes"]
        assert response.headers["accept-ranges"] == "bytes"
        assert body.decode().startswith("# Quillstore")
        compressed = await client.get(export["url"], headers={"Accept-Encoding": "gzip"})
        assert compressed.headers["content-encoding"] == "gzip"
        assert compressed.content == body  # httpx decodes it

        # Conditional GET: the same ETag (also weak, in a list, or *) -> 304, no body.
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            cached = await client.get(export["url"], headers={"If-None-Match": header})
            assert cached.status_code == 304, header
            assert cached.content == b""
            assert cached.headers["etag"] == etag
        changed = await client.get(export["url"], headers={"If-None-Match": '"stale"'})
        assert changed.status_code == 200 and changed.content == body

        # Ranges.
        first = await client.get(export["url"], headers={"Range": "bytes=0-99"})
        assert first.status_code == 206
        assert first.content == body[:100]
        assert first.headers["content-range"] == f"bytes 0-99/{len(body)}"
        assert first.headers["content-length"] == "100"
        tail = await client.get(export["url"], headers={"Range": "bytes=-50"})
        assert tail.status_code == 206 and tail.content == body[-50:]
        middle = await client.get(export["url"], headers={"Range": f"bytes=100-{len(body)}"})
        assert middle.status_code == 206 and middle.content == body[100:]
        outside = await client.get(
            export["url"], headers={"Range": f"bytes={len(body) + 10}-{len(body) + 20}"}
        )
        error = assert_envelope(outside, 416, "RANGE_NOT_SATISFIABLE")
        assert outside.headers["content-range"] == f"bytes */{len(body)}"
        assert error["details"] == {"size_bytes": len(body)}
        malformed = await client.get(export["url"], headers={"Range": "lines=1-2"})
        assert_envelope(malformed, 400, "BAD_REQUEST")
        # If-Range with another ETag: the file changed, so the whole of it comes back.
        stale = await client.get(
            export["url"],
            headers={"Range": "bytes=0-99", "If-Range": '"stale"', "Accept-Encoding": "identity"},
        )
        assert stale.status_code == 200 and stale.content == body
        fresh = await client.get(export["url"], headers={"Range": "bytes=0-99", "If-Range": etag})
        assert fresh.status_code == 206 and fresh.content == body[:100]

        # Unknown names and jobs.
        missing = await client.get(f"/api/v1/exports/{job['job_id']}/output.pdf")
        assert_envelope(missing, 404, "NOT_FOUND")
        unknown = await client.get("/api/v1/exports/job_0000000000000000/output.md")
        assert_envelope(unknown, 404, "JOB_NOT_FOUND")


# --- metadata ---------------------------------------------------------------------------------
async def test_metadata_lists_built_and_missing_formats(api: Any, server: TestServer) -> None:
    gate = threading.Event()
    no_robots(server)
    server.route("/index.html", Reply(body=page("/index.html", ["/two.html"])))
    server.route("/two.html", Reply(body=page("/two.html")))

    def blocked(_request: RequestInfo) -> Reply:
        gate.wait(30)
        return Reply(body=page("/blocker.html"))

    server.route("/blocker.html", blocked)
    try:
        async with api(workers=1, **FAST) as (_, client):
            job = await completed_job(client, server.url("/index.html"))
            job_id = job["job_id"]
            response = await client.get(f"/api/v1/exports/{job_id}/metadata")
            assert response.status_code == 200, response.text
            meta = response.json()
            assert meta["job_id"] == job_id
            assert set(meta["formats"]) == set(EXPORTERS)
            markdown = meta["formats"]["markdown"]
            [export] = job["exports"]
            assert markdown["available"] is True
            assert markdown["url"] == export["url"]
            assert markdown["size_bytes"] == export["size_bytes"]
            assert markdown["created_at"] == export["created_at"]
            for name, info in meta["formats"].items():
                if name != "markdown":  # formats the job did not ask for
                    assert info["available"] is False and info["url"] is None
                    assert "Not requested in original job" in info["message"]

            # A job whose export is not built yet: requested, but unavailable, with why.
            blocker = await client.post(
                "/api/v1/scrape",
                json={"url": server.url("/blocker.html"), "options": {"rate_limit": 10}},
            )
            blocker_id = blocker.json()["job_id"]
            pending = (await client.get(f"/api/v1/exports/{blocker_id}/metadata")).json()
            info = pending["formats"]["markdown"]
            assert info["available"] is False and info["url"] is None
            assert info["message"].startswith("not built yet (job ")
            gate.set()
            await wait_for_status(client, blocker_id)

            missing = await client.get("/api/v1/exports/job_0000000000000000/metadata")
            assert_envelope(missing, 404, "JOB_NOT_FOUND")
    finally:
        gate.set()


# --- conversions --------------------------------------------------------------------------------
async def test_convert_builds_an_export_from_stored_pages(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api(**FAST) as (_, client):
        job = await completed_job(client, site.url("/index.html"))
        job_id = job["job_id"]
        hits = len(site.hits)
        target = sorted(EXPORTERS)[0]
        response = await client.post(
            f"/api/v1/exports/{job_id}/convert",
            json={
                "target_format": target,
                "options": {"include_toc": True, "metadata": {"title": "Converted Book"}},
            },
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["conversion_id"].startswith("conv_")
        assert accepted["status"] == "processing"
        assert accepted["status_url"] == f"/api/v1/exports/conversions/{accepted['conversion_id']}"

        deadline = time.monotonic() + 20
        while True:
            status = await client.get(accepted["status_url"])
            assert status.status_code == 200, status.text
            conversion = status.json()
            if conversion["status"] != "processing" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert conversion["status"] == "completed", conversion
        assert conversion["job_id"] == job_id
        assert conversion["target_format"] == target
        assert conversion["error_message"] is None
        assert conversion["completed_at"] is not None
        export = conversion["export"]
        assert export["format"] == target
        download = await client.get(export["url"])
        assert download.status_code == 200
        assert export["checksum"] == "sha256:" + hashlib.sha256(download.content).hexdigest()
        assert len(site.hits) == hits, "a conversion must not crawl again"
        # Still exactly one export per format on the job.
        formats = [
            e["format"] for e in (await client.get(f"/api/v1/jobs/{job_id}")).json()["exports"]
        ]
        assert sorted(formats) == sorted(set(formats))

        # Unknown format or option: 400 naming the valid ones; unknown job or conversion: 404.
        bad = await client.post(
            f"/api/v1/exports/{job_id}/convert",
            json={"target_format": "json", "options": {"metadata": {"isbn": "1"}}},
        )
        error = assert_envelope(bad, 400, "INVALID_OPTIONS")
        assert "'isbn'" in error["message"]
        assert "title, author, publisher, language" in error["message"]
        bad = await client.post(f"/api/v1/exports/{job_id}/convert", json={"target_format": "docx"})
        error = assert_envelope(bad, 400, "INVALID_OPTIONS")
        assert "docx" in error["message"]
        for name in EXPORTERS:
            assert name in error["message"]
        assert error["details"]["errors"][0]["field"] == "target_format"
        gone = await client.post(
            "/api/v1/exports/job_0000000000000000/convert", json={"target_format": target}
        )
        assert_envelope(gone, 404, "JOB_NOT_FOUND")
        unknown = await client.get("/api/v1/exports/conversions/conv_0000000000000000")
        assert_envelope(unknown, 404, "NOT_FOUND")


# --- path traversal -------------------------------------------------------------------------------
@pytest.mark.checklist(12)
async def test_path_traversal_never_reads_outside_the_job_folder(
    api: Any, site_server: Any, tmp_path: Path
) -> None:
    site = site_server("sphinx_classic")
    data = tmp_path / "data"
    secret = "SENTINEL-7f3a9c-do-not-serve"
    async with api(**FAST) as (app, client):
        job = await completed_job(client, site.url("/index.html"))
        job_id = job["job_id"]
        # Sentinels around the job folder: the data folder, the jobs folder, a folder that
        # looks like another job's, and outside the data folder altogether.
        sentinels = [
            data / "settings.py",
            data / "jobs" / "sentinel.txt",
            data / "jobs" / "job_fake" / "output.md",
            tmp_path / "passwd",
        ]
        for path in sentinels:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secret)
        outside = str(tmp_path / "passwd")
        attempts = [
            f"/api/v1/exports/{job_id}/../../etc/passwd",
            f"/api/v1/exports/{job_id}/../../settings.py",
            f"/api/v1/exports/{job_id}/../sentinel.txt",
            f"/api/v1/exports/{job_id}/..%2f..%2fetc%2fpasswd",
            f"/api/v1/exports/{job_id}/..%2f..%2fsettings.py",
            f"/api/v1/exports/{job_id}/..%2Fsentinel.txt",
            f"/api/v1/exports/{job_id}/%2e%2e%2f%2e%2e%2fsettings.py",
            f"/api/v1/exports/{job_id}/%2e%2e%2fjob_fake%2foutput.md",
            f"/api/v1/exports/{job_id}/..%5c..%5csettings.py",
            f"/api/v1/exports/{job_id}/..",
            f"/api/v1/exports/{job_id}/%2e%2e",
            f"/api/v1/exports/{job_id}/output.md%00",
            f"/api/v1/exports/{job_id}/output.md%00.txt",
            f"/api/v1/exports/{job_id}/%00",
            f"/api/v1/exports/{job_id}/..%00/settings.py",
            f"/api/v1/exports/{job_id}/{quote(outside, safe='')}",
            f"/api/v1/exports/{job_id}/{outside}",
            f"/api/v1/exports/{job_id}//etc/passwd",
            f"/api/v1/exports/{job_id}/%2Fetc%2Fpasswd",
            f"/api/v1/exports/{job_id}/..%2f..%2fscraper.db",
            f"/api/v1/exports/{job_id}/..%2f..%2fsecret.key",
            "/api/v1/exports/job_fake/output.md",
            "/api/v1/exports/..%2fjobs%2fjob_fake/output.md",
            "/api/v1/exports/../settings.py",
            "/api/v1/exports/..%2f..%2f/settings.py",
            "/api/v1/exports/%2e%2e/metadata",
            "/api/v1/exports/..%2f..%2fsettings.py/metadata",
        ]
        for attempt in attempts:
            status, headers, body = await raw_get(app, attempt)
            assert status in (400, 404), (attempt, status, body[:200])
            assert secret.encode() not in body, attempt
            assert "x-request-id" in headers
            assert body.startswith(b'{"error":'), (attempt, body[:200])
            # The same through a normal HTTP client, whatever it does to the path.
            response = await client.get(attempt)
            assert response.status_code in (400, 404), attempt
            assert secret not in response.text, attempt
        # Conversions and deletions address a job by id only; a path there finds nothing.
        for job_part in ("job_fake", "..%2fjobs%2fjob_fake", "..", "%2e%2e%2f%2e%2e", "..%00"):
            converted = await client.post(
                f"/api/v1/exports/{job_part}/convert", json={"target_format": "markdown"}
            )
            assert converted.status_code in (400, 404, 405), (job_part, converted.text)
            assert secret not in converted.text
            deleted = await client.delete(f"/api/v1/jobs/{job_part}")
            assert deleted.status_code in (400, 404, 405), (job_part, deleted.text)
        # Nothing was touched, and the real export is still served.
        for path in sentinels:
            assert path.read_text() == secret
        real = await client.get(job["exports"][0]["url"])
        assert real.status_code == 200 and secret not in real.text

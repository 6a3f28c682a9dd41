"""API keys, tenant isolation, request limits and the error envelope (security checklist
items 13, 15 and 16), against the real app over its ASGI transport."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from scrape_api_docs.keys import NewKey, create_key, list_keys, revoke_key
from tests.api.conftest import assert_envelope as envelope
from tests.api.conftest import make_settings, wait_for_status

SKIP = {"timestamp", "request_id"}
FAST = {"rate_limit": 10, "timeout": 5}


# --- helpers -------------------------------------------------------------------------------
async def new_keys(tmp_path: Path, *names: str) -> list[NewKey]:
    """Keys made the way ``scrape-docs keys create`` makes them, in the test app's folder."""
    settings = make_settings(tmp_path / "data")
    return [await create_key(settings, name) for name in names]


def auth(key: NewKey | str) -> dict[str, str]:
    return {"X-API-Key": key if isinstance(key, str) else key.key}


def db_rows(tmp_path: Path, query: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(tmp_path / "data" / "scraper.db")
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def data_bytes(tmp_path: Path) -> Iterator[tuple[Path, bytes]]:
    for root, _, files in os.walk(tmp_path / "data"):
        for name in files:
            path = Path(root) / name
            yield path, path.read_bytes()


def comparable(response: httpx.Response) -> tuple[int, dict[str, Any], str | None]:
    error = {k: v for k, v in response.json()["error"].items() if k not in SKIP}
    return response.status_code, error, response.headers.get("www-authenticate")


async def ws_messages(
    app: Any, path: str, headers: dict[str, str] | None = None, query: str = ""
) -> list[dict[str, Any]]:
    """Drive the app's WebSocket route over raw ASGI (httpx has no WebSocket transport):
    connect, then collect what the server sends until it closes."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
    }
    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent


def close_code(messages: list[dict[str, Any]]) -> int | None:
    closes = [m for m in messages if m["type"] == "websocket.close"]
    return closes[-1].get("code") if closes else None


# --- API keys ------------------------------------------------------------------------------
async def test_without_keys_requests_need_no_header(api: Any, tmp_path: Path) -> None:
    async with api() as (_, client):
        assert (await client.get("/api/v1/jobs")).status_code == 200
        # A stray header changes nothing while no key exists.
        assert (await client.get("/api/v1/jobs", headers=auth("sda_whatever"))).status_code == 200
        response = await client.post(
            "/api/v1/auth/credentials",
            json={
                "domain": "docs.example.com",
                "auth_type": "bearer",
                "credentials": {"token": "t"},
            },
        )
        assert response.status_code == 201
    assert db_rows(tmp_path, "SELECT owner FROM credentials") == [("local",)]


async def test_a_key_revoked_while_serving_stops_working_within_the_cache_ttl(
    api: Any, tmp_path: Path
) -> None:
    (key,) = await new_keys(tmp_path, "soon-revoked")
    settings = make_settings(tmp_path / "data")
    async with api() as (app, client):
        app.state.keys.ttl = 0.3  # the default is 5 s; the test should not wait that long
        assert (await client.get("/api/v1/jobs", headers=auth(key))).status_code == 200
        assert await revoke_key(settings, key.key_id)
        await asyncio.sleep(0.4)
        envelope(await client.get("/api/v1/jobs", headers=auth(key)), 401, "AUTHENTICATION_FAILED")


@pytest.mark.checklist(15)
async def test_missing_unknown_and_revoked_keys_get_identical_401s(
    api: Any, tmp_path: Path
) -> None:
    good, revoked = await new_keys(tmp_path, "good", "revoked")
    settings = make_settings(tmp_path / "data")
    assert await revoke_key(settings, revoked.key_id)
    [first_date] = [k.revoked_at for k in await list_keys(settings) if k.id == revoked.key_id]
    assert await revoke_key(settings, revoked.key_id)  # idempotent: the first date stays
    assert [k.revoked_at for k in await list_keys(settings) if k.id == revoked.key_id] == [
        first_date
    ]
    assert not await revoke_key(settings, "key_missing")
    async with api() as (_, client):
        assert (await client.get("/api/v1/jobs", headers=auth(good))).status_code == 200
        answers = [
            await client.get("/api/v1/jobs"),
            await client.get("/api/v1/jobs", headers=auth("sda_" + "x" * 43)),
            await client.get("/api/v1/jobs", headers=auth(revoked)),
            await client.get("/api/v1/jobs", headers=auth("")),
            await client.get("/api/v1/jobs", headers=auth(good.key + " ")),
            await client.get("/api/v1/jobs", headers=auth("k" * 5000)),
        ]
        for response in answers:
            envelope(response, 401, "AUTHENTICATION_FAILED")
            assert response.headers["www-authenticate"] == "X-API-Key"
            assert revoked.key not in response.text and good.key not in response.text
        assert len({json.dumps(comparable(r)) for r in answers}) == 1
        # Same on every protected route, not only the job list.
        for method, path in (
            ("POST", "/api/v1/scrape"),
            ("GET", "/api/v1/auth/credentials"),
            ("DELETE", "/api/v1/jobs/job_x"),
            ("GET", "/api/v1/exports/job_x/output.md"),
        ):
            response = await client.request(method, path, headers=auth(revoked), json={})
            assert comparable(response) == comparable(answers[0]), (method, path)


async def test_revocation_applies_at_once_and_the_last_key_does_not_open_the_api(
    api: Any, tmp_path: Path
) -> None:
    (only,) = await new_keys(tmp_path, "only")
    async with api() as (app, client):
        assert (await client.get("/api/v1/jobs", headers=auth(only))).status_code == 200
        assert await revoke_key(make_settings(tmp_path / "data"), only.key_id)
        app.state.keys.forget()
        envelope(await client.get("/api/v1/jobs", headers=auth(only)), 401, "AUTHENTICATION_FAILED")
        # No active key left, yet the server stays closed: revoking a leaked last key must
        # not turn the API into an open one.
        envelope(await client.get("/api/v1/jobs"), 401, "AUTHENTICATION_FAILED")
        messages = await ws_messages(app, "/api/v1/jobs/job_x/stream")
        assert close_code(messages) == 4401


async def test_key_created_while_running_applies_after_the_ttl(api: Any, tmp_path: Path) -> None:
    async with api() as (app, client):
        app.state.keys.ttl = 0
        assert (await client.get("/api/v1/jobs")).status_code == 200
        (key,) = await new_keys(tmp_path, "late")
        envelope(await client.get("/api/v1/jobs"), 401, "AUTHENTICATION_FAILED")
        assert (await client.get("/api/v1/jobs", headers=auth(key))).status_code == 200


@pytest.mark.checklist(15)
async def test_only_the_hash_is_stored_and_keys_are_never_logged(
    api: Any, tmp_path: Path, site_server: Any, capsys: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    site = site_server("sphinx_classic")
    first, second = await new_keys(tmp_path, "first", "second")
    assert first.key.startswith("sda_") and first.key != second.key
    with capture_logs() as events:
        async with api() as (app, client):
            submitted = await client.post(
                "/api/v1/scrape",
                json={"url": site.url("/index.html"), "options": FAST},
                headers=auth(first),
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]
            job = await wait_for_status(client, job_id, headers=auth(first))
            assert job["status"] == "completed"
            await client.get("/api/v1/jobs", headers=auth(first.key[:-1] + "?"))
            await client.get(f"/api/v1/jobs/{job_id}", headers=auth(second))
            await ws_messages(app, f"/api/v1/jobs/{job_id}/stream", query=f"api_key={first.key}")
            await ws_messages(app, f"/api/v1/jobs/{job_id}/stream", headers=auth(second))
            responses = [
                await client.get("/api/v1/jobs", headers=auth(first)),
                await client.get(f"/api/v1/jobs/{job_id}", headers=auth(first)),
                await client.get("/api/v1/system/stats", headers=auth(first)),
            ]
    for response in responses:
        for key in (first, second):
            assert key.key not in response.text and key.webhook_secret not in response.text

    rows = db_rows(tmp_path, "SELECT id, name, key_hash, webhook_secret_enc FROM api_keys")
    assert {(row[0], row[1]) for row in rows} == {
        (first.key_id, "first"),
        (second.key_id, "second"),
    }
    hashes = {row[0]: row[2] for row in rows}
    assert hashes[first.key_id] == hashlib.sha256(first.key.encode()).hexdigest()
    assert hashes[second.key_id] == hashlib.sha256(second.key.encode()).hexdigest()
    assert db_rows(tmp_path, "SELECT DISTINCT owner FROM jobs") == [(first.key_id,)]
    for path, raw in data_bytes(tmp_path):
        for key in (first, second):
            assert key.key.encode() not in raw, path
            assert key.webhook_secret.encode() not in raw, path

    out = capsys.readouterr()
    logged = "\n".join(
        [repr(events), out.out, out.err, *(record.getMessage() for record in caplog.records)]
    )
    assert any(event.get("event") == "request" for event in events)  # the capture worked
    for key in (first, second):
        assert key.key not in logged
        assert key.key[4:20] not in logged
        assert key.webhook_secret not in logged


# --- tenant isolation ----------------------------------------------------------------------
@pytest.mark.checklist(13)
async def test_another_key_cannot_see_or_touch_a_job(
    api: Any, tmp_path: Path, site_server: Any
) -> None:
    site = site_server("sphinx_classic")
    a, b = await new_keys(tmp_path, "a", "b")
    async with api() as (app, client):
        submitted = await client.post(
            "/api/v1/scrape",
            json={"url": site.url("/index.html"), "options": FAST},
            headers=auth(a),
        )
        job_id = submitted.json()["job_id"]
        job = await wait_for_status(client, job_id, headers=auth(a))
        assert job["status"] == "completed"
        filename = job["exports"][0]["url"].rsplit("/", 1)[1]
        conversion = await client.post(
            f"/api/v1/exports/{job_id}/convert",
            json={"target_format": "markdown"},
            headers=auth(a),
        )
        assert conversion.status_code == 202, conversion.text
        conversion_id = conversion.json()["conversion_id"]

        missing = "job_0000000000000000"
        attempts = {
            "read": ("GET", "/api/v1/jobs/{id}", None),
            "cancel": ("DELETE", "/api/v1/jobs/{id}", None),
            "download": ("GET", "/api/v1/exports/{id}/" + filename, None),
            "metadata": ("GET", "/api/v1/exports/{id}/metadata", None),
            "convert": ("POST", "/api/v1/exports/{id}/convert", {"target_format": "markdown"}),
        }
        for what, (method, template, body) in attempts.items():
            theirs = await client.request(
                method, template.format(id=job_id), headers=auth(b), json=body
            )
            absent = await client.request(
                method, template.format(id=missing), headers=auth(b), json=body
            )
            error = envelope(theirs, 404, absent.json()["error"]["code"])
            assert absent.status_code == 404, what
            # Word for word the answer for a job that does not exist.
            assert error["message"] == absent.json()["error"]["message"].replace(missing, job_id)
            assert error["details"] == json.loads(
                json.dumps(absent.json()["error"]["details"]).replace(missing, job_id)
            )
            assert "Quillstore" not in theirs.text, what

        listed = await client.get("/api/v1/jobs", headers=auth(b))
        assert listed.json()["jobs"] == [] and listed.json()["pagination"]["total"] == 0
        status = await client.get(f"/api/v1/exports/conversions/{conversion_id}", headers=auth(b))
        envelope(status, 404, "NOT_FOUND")
        ws_theirs = await ws_messages(app, f"/api/v1/jobs/{job_id}/stream", headers=auth(b))
        ws_absent = await ws_messages(app, f"/api/v1/jobs/{missing}/stream", headers=auth(b))
        assert close_code(ws_theirs) == close_code(ws_absent) == 4404
        assert not [m for m in ws_theirs if m["type"] == "websocket.send"]
        ws_query = await ws_messages(app, f"/api/v1/jobs/{job_id}/stream", query=f"api_key={b.key}")
        assert close_code(ws_query) == 4404

        # A's job is untouched and still A's.
        mine = await client.get(f"/api/v1/jobs/{job_id}", headers=auth(a))
        assert mine.status_code == 200 and mine.json()["status"] == "completed"
        download = await client.get(job["exports"][0]["url"], headers=auth(a))
        assert download.status_code == 200 and download.text.startswith("# Quillstore")
        ws_mine = await ws_messages(app, f"/api/v1/jobs/{job_id}/stream", headers=auth(a))
        assert close_code(ws_mine) == 1000
        assert [
            json.loads(m["text"])["type"] for m in ws_mine if m["type"] == "websocket.send"
        ] == [
            "progress",
            "complete",
        ]


@pytest.mark.checklist(13)
async def test_credentials_are_per_key(api: Any, tmp_path: Path) -> None:
    a, b = await new_keys(tmp_path, "a", "b")
    async with api() as (_, client):
        created = await client.post(
            "/api/v1/auth/credentials",
            json={
                "domain": "docs.a.example",
                "auth_type": "bearer",
                "credentials": {"token": "ta"},
            },
            headers=auth(a),
        )
        assert created.status_code == 201
        credential_id = created.json()["credential_id"]
        listed_b = await client.get("/api/v1/auth/credentials", headers=auth(b))
        assert listed_b.json() == {"credentials": []}
        theirs = await client.delete(f"/api/v1/auth/credentials/{credential_id}", headers=auth(b))
        absent = await client.delete("/api/v1/auth/credentials/cred_nope", headers=auth(b))
        assert envelope(theirs, 404, "NOT_FOUND")["message"] == absent.json()["error"][
            "message"
        ].replace("cred_nope", credential_id)
        listed_a = await client.get("/api/v1/auth/credentials", headers=auth(a))
        assert [c["credential_id"] for c in listed_a.json()["credentials"]] == [credential_id]
        assert (
            await client.delete(f"/api/v1/auth/credentials/{credential_id}", headers=auth(a))
        ).status_code == 204


async def test_stored_credentials_of_one_key_are_not_used_for_another_keys_crawl(
    api: Any, tmp_path: Path, server: Any
) -> None:
    from tests.support.server import Reply, RequestInfo

    def guarded(req: RequestInfo) -> Reply:
        if req.headers.get("authorization") != "Bearer only-for-a":
            return Reply(403, b"forbidden", content_type="text/plain")
        return Reply(200, "<html><title>Secret</title><main><p>A's private docs</p></main></html>")

    server.route("/docs/index.html", guarded)
    a, b = await new_keys(tmp_path, "a", "b")
    async with api() as (_, client):
        response = await client.post(
            "/api/v1/auth/credentials",
            json={
                "domain": f"127.0.0.1:{server.port}",
                "auth_type": "bearer",
                "credentials": {"token": "only-for-a"},
            },
            headers=auth(a),
        )
        assert response.status_code == 201
        options = {**FAST, "cache_enabled": False}
        url = server.url("/docs/index.html")
        submitted = await client.post(
            "/api/v1/scrape", json={"url": url, "options": options}, headers=auth(b)
        )
        job = await wait_for_status(client, submitted.json()["job_id"], headers=auth(b))
        assert job["status"] == "failed", job
        assert all("authorization" not in hit.headers for hit in server.hits)


# --- request limits ------------------------------------------------------------------------
async def test_sixth_request_in_a_minute_gets_429(api: Any) -> None:
    async with api(requests_per_minute=5) as (_, client):
        for _ in range(5):
            assert (await client.get("/api/v1/jobs")).status_code == 200
        limited = await client.get("/api/v1/jobs")
        error = envelope(limited, 429, "RATE_LIMIT_EXCEEDED")
        retry = int(limited.headers["retry-after"])
        assert 1 <= retry <= 12 and error["details"] == {"retry_after": retry}
        assert f"{retry} s" in error["message"]
        # Every endpoint draws on the same budget.
        envelope(await client.get("/api/v1/auth/credentials"), 429, "RATE_LIMIT_EXCEEDED")


async def test_limits_are_per_key(api: Any, tmp_path: Path) -> None:
    a, b = await new_keys(tmp_path, "a", "b")
    async with api(requests_per_minute=5) as (_, client):
        for _ in range(5):
            assert (await client.get("/api/v1/jobs", headers=auth(a))).status_code == 200
        envelope(await client.get("/api/v1/jobs", headers=auth(a)), 429, "RATE_LIMIT_EXCEEDED")
        for _ in range(5):
            assert (await client.get("/api/v1/jobs", headers=auth(b))).status_code == 200
        envelope(await client.get("/api/v1/jobs", headers=auth(b)), 429, "RATE_LIMIT_EXCEEDED")


async def test_limits_are_per_client_address_without_keys(api: Any) -> None:
    async with api(requests_per_minute=5) as (app, client):
        for _ in range(5):
            assert (await client.get("/api/v1/jobs")).status_code == 200
        envelope(await client.get("/api/v1/jobs"), 429, "RATE_LIMIT_EXCEEDED")
        # Another address on this machine: a keyless server answers loopback clients only.
        other = httpx.ASGITransport(app=app, client=("127.0.0.2", 4321))
        async with httpx.AsyncClient(transport=other, base_url="http://testserver") as second:
            for _ in range(5):
                assert (await second.get("/api/v1/jobs")).status_code == 200
            envelope(await second.get("/api/v1/jobs"), 429, "RATE_LIMIT_EXCEEDED")


async def test_failed_key_attempts_are_limited_per_address(api: Any, tmp_path: Path) -> None:
    (good,) = await new_keys(tmp_path, "good")
    async with api(requests_per_minute=5) as (_, client):
        for i in range(5):
            envelope(
                await client.get("/api/v1/jobs", headers=auth(f"sda_guess{i}")),
                401,
                "AUTHENTICATION_FAILED",
            )
        limited = await client.get("/api/v1/jobs", headers=auth("sda_guess5"))
        envelope(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert int(limited.headers["retry-after"]) >= 1
        # The real key has its own budget.
        assert (await client.get("/api/v1/jobs", headers=auth(good))).status_code == 200


def test_limiter_refills_and_stays_bounded() -> None:
    from scrape_api_docs.api.ratelimit import RequestLimiter

    now = [0.0]
    limiter = RequestLimiter(60, clock=lambda: now[0], max_buckets=100)
    assert all(limiter.check("a") == 0 for _ in range(60))
    assert limiter.check("a") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.check("a") == 0
    for i in range(1000):
        now[0] += 0.01
        limiter.check(f"ip:{i}")
    assert len(limiter) <= 100


# --- the error envelope --------------------------------------------------------------------
ERROR_CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("DELETE", "/api/v1/auth/credentials/cred_missing", {}, 404, "NOT_FOUND"),
    ("PUT", "/api/v1/auth/credentials", {"json": {}}, 405, "METHOD_NOT_ALLOWED"),
    (
        "POST",
        "/api/v1/auth/credentials",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        422,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/auth/credentials",
        {"json": {"domain": "x", "auth_type": "bearer", "credentials": {}, "extra": 1}},
        400,
        "INVALID_OPTIONS",
    ),
    ("GET", "/api/v1/jobs/job_missing", {}, 404, "JOB_NOT_FOUND"),
    ("GET", "/api/v1/nothing-here", {}, 404, "NOT_FOUND"),
]


@pytest.mark.checklist(16)
async def test_errors_use_the_envelope(api: Any, subtests: Any) -> None:
    async with api() as (_, client):
        for method, path, kwargs, status, code in ERROR_CASES:
            with subtests.test(msg=f"{method} {path}"):
                envelope(await client.request(method, path, **kwargs), status, code)


async def test_validation_errors_never_echo_secret_input(api: Any) -> None:
    secret = "s3cr3t-value-never-echo"
    async with api() as (_, client):
        for body in (
            {"domain": "bad domain", "auth_type": "bearer", "credentials": {"token": secret}},
            {"domain": "docs.x", "auth_type": "bearer", "credentials": {"token": secret + "\n"}},
            {
                "domain": "docs.x",
                "auth_type": "cookie",
                "credentials": {"cookies": {"a b": secret}},
            },
            {
                "domain": "docs.x",
                "auth_type": "bearer",
                "credentials": {"token": secret},
                "x": secret,
            },
        ):
            response = await client.post("/api/v1/auth/credentials", json=body)
            # An unknown field is a 400 naming the valid ones; a bad value, a 422.
            status, code = (400, "INVALID_OPTIONS") if "x" in body else (422, "VALIDATION_ERROR")
            envelope(response, status, code)
            assert secret not in response.text
        response = await client.post(
            "/api/v1/scrape",
            json={
                "url": "http://127.0.0.1:9/",
                "authentication": {"type": "bearer", "token": secret, "bogus": secret},
            },
        )
        envelope(response, 400, "INVALID_OPTIONS")
        assert secret not in response.text


async def test_websocket_key_guesses_spend_the_same_failed_attempt_budget(
    api: Any, tmp_path: Path
) -> None:
    """One key lookup for every way in: a wrong key on the WebSocket costs the client
    address's budget like a wrong key on a request (4401, then 4429 past the budget), and
    a guess over HTTP after that is refused with 429 too."""
    (key,) = await new_keys(tmp_path, "only")
    async with api(requests_per_minute=3) as (app, client):
        path = "/api/v1/jobs/job_x/stream"
        codes = [
            close_code(await ws_messages(app, path, query="api_key=sda_wrong")) for _ in range(4)
        ]
        assert codes == [4401, 4401, 4401, 4429]
        envelope(
            await client.get("/api/v1/jobs", headers=auth("sda_wrong")), 429, "RATE_LIMIT_EXCEEDED"
        )
        # A valid key spends its own budget, not the guesses' one.
        assert close_code(await ws_messages(app, path, headers=auth(key))) == 4404

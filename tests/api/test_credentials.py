"""Stored and per-job credentials: write-only over the API, ciphertext at rest, sent only to
the exact origin they were given for (security checklist items 11 and 14)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from scrape_api_docs.keys import create_key, reencrypt
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.secrets import Cipher, SecretsError, load_or_create_key_file
from tests.api.conftest import assert_envelope as shared_envelope
from tests.api.conftest import make_settings, running_app, wait_for_status
from tests.support.server import Reply, RequestInfo, TestServer

TOKEN = "tok-Sup3rSecret-bearer-0001"
COOKIE_VALUE = "sess-Sup3rSecret-cookie-0002"
PASSWORD = "pw-Sup3rSecret-basic-0003"
API_KEY_VALUE = "ak-Sup3rSecret-apikey-0004"
SECRETS = (TOKEN, COOKIE_VALUE, PASSWORD, API_KEY_VALUE)
FAST = {"rate_limit": 10, "timeout": 5, "cache_enabled": False}


def data_files(data_dir: Path) -> Iterator[Path]:
    for root, _, files in os.walk(data_dir):
        for name in files:
            yield Path(root) / name


def assert_absent_at_rest(data_dir: Path, *secrets: str) -> None:
    """No file of the data folder (database, WAL, page stores, cache) holds a secret."""
    for path in data_files(data_dir):
        raw = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in raw, f"{secret!r} found in {path}"


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    return shared_envelope(response, status, code, absent=SECRETS)


class ProtectedSite:
    """Pages under /docs/ that need ``Authorization: Bearer TOKEN`` (and, when asked, the
    session cookie); /docs/moved.html redirects to another origin."""

    def __init__(self, server: TestServer, other: TestServer, *, cookie: bool = False) -> None:
        self.server = server
        self.other = other
        self.cookie = cookie
        pages = {
            "/docs/index.html": (
                "Protected Guide",
                '<a href="page2.html">Next</a> <a href="moved.html">Moved</a>'
                f' <a href="{other.url("/docs/elsewhere.html")}">Elsewhere</a>',
            ),
            "/docs/page2.html": ("Second Page", "<p>More protected words here.</p>"),
        }
        for path, (title, body) in pages.items():
            server.route(path, self._guarded(title, body))
        server.route(
            "/docs/moved.html",
            self._guarded_reply(Reply(302, b"", {"Location": other.url("/docs/landing.html")})),
        )
        for path in ("/docs/landing.html", "/docs/elsewhere.html"):
            other.route(path, Reply(200, "<html><title>Other</title><p>other origin</p></html>"))

    def _authorised(self, req: RequestInfo) -> bool:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return False
        return not self.cookie or f"session={COOKIE_VALUE}" in req.headers.get("cookie", "")

    def _guarded(self, title: str, body: str) -> Any:
        html = (
            f"<html><head><title>{title}</title></head><body><main><h1>{title}</h1>"
            f"<p>This page is only for signed-in readers of the guide.</p>{body}</main>"
            "</body></html>"
        )
        return self._guarded_reply(Reply(200, html))

    def _guarded_reply(self, reply: Reply) -> Any:
        def route(req: RequestInfo) -> Reply:
            if not self._authorised(req):
                return Reply(403, b"forbidden", content_type="text/plain")
            return reply

        return route

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def start(self) -> str:
        return self.server.url("/docs/index.html")


@pytest.fixture
def other_server() -> Iterator[TestServer]:
    srv = TestServer().start()
    yield srv
    srv.stop()


# --- the credentials endpoints -------------------------------------------------------------
CREDENTIAL_BODIES = [
    ("bearer", {"token": TOKEN}),
    ("basic", {"username": "reader", "password": PASSWORD}),
    ("api_key", {"api_key": API_KEY_VALUE, "header_name": "X-Docs-Key"}),
    ("cookie", {"cookies": {"session": COOKIE_VALUE}}),
]


@pytest.mark.checklist(14)
async def test_store_list_delete_without_ever_returning_secrets(api: Any, tmp_path: Path) -> None:
    async with api() as (_, client):
        created = []
        for auth_type, values in CREDENTIAL_BODIES:
            response = await client.post(
                "/api/v1/auth/credentials",
                json={
                    "domain": "Docs.Example.COM.",
                    "auth_type": auth_type,
                    "credentials": values,
                    "expires_at": "2099-12-31T23:59:59Z",
                },
            )
            assert response.status_code == 201, response.text
            body = response.json()
            assert set(body) == {"credential_id", "domain", "auth_type", "created_at", "expires_at"}
            assert body["domain"] == "docs.example.com" and body["auth_type"] == auth_type
            assert body["credential_id"].startswith("cred_")
            for secret in SECRETS:
                assert secret not in response.text
            created.append(body["credential_id"])

        listed = await client.get("/api/v1/auth/credentials")
        assert listed.status_code == 200
        assert [c["credential_id"] for c in listed.json()["credentials"]] == created
        assert all(secret not in listed.text for secret in SECRETS)
        assert all(c["expires_at"].startswith("2099-12-31") for c in listed.json()["credentials"])

        # At rest: only ciphertext, in the database and anywhere else in the data folder.
        assert_absent_at_rest(tmp_path / "data", *SECRETS, "reader:" + PASSWORD)

        deleted = await client.delete(f"/api/v1/auth/credentials/{created[0]}")
        assert deleted.status_code == 204 and deleted.content == b""
        again = await client.delete(f"/api/v1/auth/credentials/{created[0]}")
        assert_envelope(again, 404, "NOT_FOUND")
        remaining = (await client.get("/api/v1/auth/credentials")).json()["credentials"]
        assert [c["credential_id"] for c in remaining] == created[1:]


BAD_CREDENTIAL_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"auth_type": "bearer", "credentials": {}}, "token"),
    ({"auth_type": "bearer", "credentials": {"token": ""}}, "token"),
    ({"auth_type": "basic", "credentials": {"password": PASSWORD}}, "username"),
    ({"auth_type": "api_key", "credentials": {"header_name": "X-Key"}}, "api_key"),
    ({"auth_type": "cookie", "credentials": {"cookies": {}}}, "cookies"),
    ({"auth_type": "cookie", "credentials": {"cookies": "session=abc"}}, "cookies"),
    ({"auth_type": "bearer", "credentials": {"token": TOKEN + "\r\nX-Evil: 1"}}, "token"),
    ({"auth_type": "bearer", "credentials": {"token": 12345}}, "token"),
    (
        {
            "auth_type": "api_key",
            "credentials": {"api_key": API_KEY_VALUE, "header_name": "Host"},
        },
        "header_name",
    ),
    (
        {
            "auth_type": "api_key",
            "credentials": {"api_key": API_KEY_VALUE, "header_name": "X K"},
        },
        "header_name",
    ),
    (
        {"auth_type": "cookie", "credentials": {"cookies": {"a;b": COOKIE_VALUE}}},
        "cookies",
    ),
    ({"auth_type": "none", "credentials": {}}, "auth_type"),
    ({"auth_type": "oauth", "credentials": {"token": TOKEN}}, "auth_type"),
    ({"auth_type": "bearer"}, "credentials"),
    (
        {
            "auth_type": "bearer",
            "credentials": {"token": TOKEN},
            "expires_at": "2001-01-01T00:00:00Z",
        },
        "expires_at",
    ),
]
BAD_DOMAINS = [
    "",
    "docs.example.com/path",
    "user@docs.example.com",
    "docs.example.com:0",
    "a:99999",
]


async def test_bad_credential_bodies_get_a_clear_error(api: Any, subtests: Any) -> None:
    async with api() as (_, client):
        for body, field_hint in BAD_CREDENTIAL_BODIES:
            with subtests.test(msg=repr(body)):
                response = await client.post(
                    "/api/v1/auth/credentials", json={"domain": "docs.example.com", **body}
                )
                assert response.status_code in (400, 422), response.text
                error = assert_envelope(
                    response, response.status_code, response.json()["error"]["code"]
                )
                assert error["code"] in ("VALIDATION_ERROR", "BAD_REQUEST")
                assert field_hint in error["message"] or field_hint in str(error["details"])
        for domain in BAD_DOMAINS:
            with subtests.test(msg=f"domain {domain!r}"):
                response = await client.post(
                    "/api/v1/auth/credentials",
                    json={"domain": domain, "auth_type": "bearer", "credentials": {"token": TOKEN}},
                )
                assert_envelope(response, 422, "VALIDATION_ERROR")
        assert (await client.get("/api/v1/auth/credentials")).json()["credentials"] == []


# --- credentials applied to crawls ---------------------------------------------------------
async def test_stored_credential_is_applied_to_its_domain_only(
    api: Any, server: TestServer, other_server: TestServer, tmp_path: Path
) -> None:
    site = ProtectedSite(server, other_server, cookie=True)
    async with api() as (_, client):
        for auth_type, values in (
            ("bearer", {"token": TOKEN}),
            ("cookie", {"cookies": {"session": COOKIE_VALUE}}),
        ):
            response = await client.post(
                "/api/v1/auth/credentials",
                json={"domain": site.domain, "auth_type": auth_type, "credentials": values},
            )
            assert response.status_code == 201, response.text

        submitted = await client.post("/api/v1/scrape", json={"url": site.start, "options": FAST})
        assert submitted.status_code == 202, submitted.text
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
        assert job["status"] == "completed", job
        assert job["statistics"]["pages_processed"] == 2, job

        # The protected origin got the headers on every page request ...
        for path in ("/docs/index.html", "/docs/page2.html", "/docs/moved.html"):
            hits = server.hits_for(path)
            assert hits, path
            assert all(h.headers.get("authorization") == f"Bearer {TOKEN}" for h in hits)
        # ... the other origin, reached by redirect, never did.
        landing = other_server.hits_for("/docs/landing.html")
        assert landing, "the redirect to the other origin was not followed"
        for hit in other_server.hits:
            assert "authorization" not in hit.headers, hit
            assert "cookie" not in hit.headers, hit
            assert all(secret not in str(hit.headers) for secret in SECRETS)

        detail = await client.get(f"/api/v1/jobs/{job['job_id']}")
        assert all(secret not in detail.text for secret in SECRETS)
        download = await client.get(job["exports"][0]["url"])
        assert "Protected Guide" in download.text
    assert_absent_at_rest(tmp_path / "data", *SECRETS)


@pytest.mark.checklist(11)
async def test_stored_credential_for_another_domain_is_not_sent(
    api: Any, server: TestServer, other_server: TestServer
) -> None:
    site = ProtectedSite(server, other_server)
    async with api() as (_, client):
        response = await client.post(
            "/api/v1/auth/credentials",
            json={
                "domain": f"127.0.0.1:{other_server.port}",
                "auth_type": "bearer",
                "credentials": {"token": TOKEN},
            },
        )
        assert response.status_code == 201
        submitted = await client.post("/api/v1/scrape", json={"url": site.start, "options": FAST})
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
        assert job["status"] == "failed", job
        assert "403" in (job["error_message"] or "")
        assert all("authorization" not in h.headers for h in server.hits)


async def test_expired_credential_is_not_applied(
    api: Any, server: TestServer, other_server: TestServer
) -> None:
    """Stored with a future expiry, the credential works; once expired it is not sent."""
    site = ProtectedSite(server, other_server)
    async with api() as (app, client):
        response = await client.post(
            "/api/v1/auth/credentials",
            json={"domain": site.domain, "auth_type": "bearer", "credentials": {"token": TOKEN}},
        )
        assert response.status_code == 201
        # Expire it in place (the API refuses to store an already-expired credential).
        from sqlalchemy import update

        from scrape_api_docs.storage.repositories import now
        from scrape_api_docs.storage.tables import Credential

        async with app.state.ctx.sessions() as session, session.begin():
            await session.execute(update(Credential).values(expires_at=now().replace(year=2001)))
        submitted = await client.post("/api/v1/scrape", json={"url": site.start, "options": FAST})
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
        assert job["status"] == "failed", job
        assert all("authorization" not in h.headers for h in server.hits)


async def test_job_authentication_applies_to_that_job_only(
    api: Any, server: TestServer, other_server: TestServer, tmp_path: Path
) -> None:
    site = ProtectedSite(server, other_server)
    async with api() as (_, client):
        with_auth = await client.post(
            "/api/v1/scrape",
            json={
                "url": site.start,
                "options": FAST,
                "authentication": {"type": "bearer", "token": TOKEN},
            },
        )
        assert with_auth.status_code == 202, with_auth.text
        assert TOKEN not in with_auth.text
        first = await wait_for_status(client, with_auth.json()["job_id"], timeout=30)
        assert first["status"] == "completed", first
        assert TOKEN not in (await client.get(f"/api/v1/jobs/{first['job_id']}")).text
        assert TOKEN not in (await client.get("/api/v1/jobs")).text
        authorised_hits = len(server.hits)
        assert other_server.hits_for("/docs/landing.html")
        assert all("authorization" not in h.headers for h in other_server.hits)

        without = await client.post("/api/v1/scrape", json={"url": site.start, "options": FAST})
        second = await wait_for_status(client, without.json()["job_id"], timeout=30)
        assert second["status"] == "failed", second
        assert "403" in (second["error_message"] or "")
        assert all("authorization" not in h.headers for h in server.hits[authorised_hits:])
    assert_absent_at_rest(tmp_path / "data", TOKEN)


async def test_page_cache_never_serves_authenticated_pages_to_a_job_without_credentials(
    api: Any, server: TestServer, other_server: TestServer
) -> None:
    site = ProtectedSite(server, other_server)
    cached = {**FAST, "cache_enabled": True}
    async with api() as (_, client):
        with_auth = await client.post(
            "/api/v1/scrape",
            json={
                "url": site.start,
                "options": cached,
                "authentication": {"type": "bearer", "token": TOKEN},
            },
        )
        first = await wait_for_status(client, with_auth.json()["job_id"], timeout=30)
        assert first["status"] == "completed", first
        without = await client.post("/api/v1/scrape", json={"url": site.start, "options": cached})
        second = await wait_for_status(client, without.json()["job_id"], timeout=30)
        assert second["status"] == "failed", second


BAD_JOB_AUTHENTICATION: list[tuple[dict[str, Any], str]] = [
    ({"type": "bearer"}, "token"),
    ({"type": "basic", "password": PASSWORD}, "username"),
    ({"type": "cookie", "cookies": {}}, "cookies"),
    ({"type": "api_key"}, "api_key"),
    ({"type": "bearer", "token": TOKEN, "extra": "x"}, "extra"),
]


async def test_bad_job_authentication_is_refused_at_submission(api: Any, subtests: Any) -> None:
    async with api() as (_, client):
        for authentication, hint in BAD_JOB_AUTHENTICATION:
            with subtests.test(msg=repr(authentication)):
                response = await client.post(
                    "/api/v1/scrape",
                    json={"url": "http://127.0.0.1:9/docs/", "authentication": authentication},
                )
                # An unknown field is a 400 naming the valid ones; a bad value, a 422.
                status, code = (
                    (400, "INVALID_OPTIONS") if hint == "extra" else (422, "VALIDATION_ERROR")
                )
                error = assert_envelope(response, status, code)
                assert hint in error["message"] or hint in str(error["details"])
        assert (await client.get("/api/v1/jobs")).json()["jobs"] == []


# --- secrets at rest -----------------------------------------------------------------------
@pytest.mark.checklist(14)
def test_rotation_keeps_old_records_readable(tmp_path: Path) -> None:
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = Cipher.from_settings(k1, tmp_path)
    token = old.encrypt({"type": "bearer", "token": TOKEN})
    assert TOKEN not in token

    rotated = Cipher.from_settings(f"{k2}, {k1}", tmp_path)
    assert rotated.decrypt(token) == {"type": "bearer", "token": TOKEN}
    fresh = rotated.encrypt({"token": TOKEN})
    with pytest.raises(SecretsError):  # new records are written with the newest key
        old.decrypt(fresh)
    rewritten = rotated.rotate(token)
    assert Cipher.from_settings(k2, tmp_path).decrypt(rewritten) == {
        "type": "bearer",
        "token": TOKEN,
    }


@pytest.mark.checklist(14)
def test_wrong_key_is_an_error_never_plaintext(tmp_path: Path) -> None:
    token = Cipher([Fernet.generate_key().decode()]).encrypt(TOKEN)
    wrong = Cipher([Fernet.generate_key().decode()])
    with pytest.raises(SecretsError) as caught:
        wrong.decrypt(token)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value.details)
    for garbage in ("", "not-a-token", token[:-4], token.replace("A", "B", 1)):
        with pytest.raises(SecretsError):
            wrong.decrypt(garbage)


@pytest.mark.parametrize("bad", ["not-a-fernet-key", " , ", "a" * 44])
def test_invalid_configured_key_is_a_clear_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SecretsError) as caught:
        Cipher.from_settings(bad, tmp_path)
    assert "SCRAPER_ENCRYPTION_KEY" in caught.value.message
    assert "not-a-fernet-key" not in caught.value.message and "a" * 44 not in caught.value.message
    assert caught.value.__cause__ is None  # nothing chained that could carry the key


async def test_reencrypt_moves_every_secret_to_the_newest_key(tmp_path: Path) -> None:
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    data = tmp_path / "data"
    key = await create_key(make_settings(data, encryption_key=k1), "rotating")
    async with running_app(make_settings(data, encryption_key=k1)) as (_, client):
        response = await client.post(
            "/api/v1/auth/credentials",
            json={
                "domain": "docs.example.com",
                "auth_type": "bearer",
                "credentials": {"token": TOKEN},
            },
            headers={"X-API-Key": key.key},
        )
        assert response.status_code == 201
        submitted = await client.post(
            "/api/v1/scrape",
            json={
                "url": "http://127.0.0.1:9/docs/",
                "options": {**FAST, "timeout": 5},
                "authentication": {"type": "bearer", "token": TOKEN},
                "webhook_url": "http://127.0.0.1:9/hook",
                "webhook_secret": "whsec_0123456789abcdef",
            },
            headers={"X-API-Key": key.key},
        )
        assert submitted.status_code == 202, submitted.text
        await wait_for_status(client, submitted.json()["job_id"], headers={"X-API-Key": key.key})
    with pytest.raises(SecretsError):  # a key that reads nothing: nothing is rewritten
        await reencrypt(make_settings(data, encryption_key=k2))
    assert await reencrypt(make_settings(data, encryption_key=f"{k2},{k1}")) == 4
    only_new = Cipher([k2])
    connection = sqlite3.connect(data / "scraper.db")
    try:
        values = [
            *connection.execute("SELECT webhook_secret_enc FROM api_keys"),
            *connection.execute("SELECT ciphertext FROM credentials"),
            *connection.execute("SELECT auth_enc FROM jobs"),
            *connection.execute("SELECT webhook_secret_enc FROM jobs"),
        ]
    finally:
        connection.close()
    plain = [only_new.decrypt(value) for (value,) in values]
    assert plain == [
        key.webhook_secret,
        {"token": TOKEN},
        {"type": "bearer", "token": TOKEN},
        "whsec_0123456789abcdef",
    ]


def test_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    first = Cipher.from_settings(None, tmp_path / "data")
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.encrypt(TOKEN)
    assert Cipher.from_settings(None, tmp_path / "data").decrypt(token) == TOKEN
    assert load_or_create_key_file(key_file) == key_file.read_text().strip()


def test_key_file_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    key_file.chmod(0o644)
    load_or_create_key_file(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_empty_key_file_is_a_clear_error(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text("")
    with pytest.raises(SecretsError) as caught:
        Cipher.from_settings(None, tmp_path)
    assert str(key_file) in caught.value.message or "secret.key" in caught.value.message


async def test_service_rotation_end_to_end(
    tmp_path: Path, server: TestServer, other_server: TestServer
) -> None:
    """A credential stored under K1 is still applied after the service restarts with
    ``K2,K1``; with only a wrong key the job fails with an error, never plaintext."""
    site = ProtectedSite(server, other_server)
    k1, k2, k3 = (Fernet.generate_key().decode() for _ in range(3))

    def settings(key: str) -> Settings:
        return make_settings(tmp_path / "data", encryption_key=key)

    async with running_app(settings(k1)) as (_, client):
        response = await client.post(
            "/api/v1/auth/credentials",
            json={"domain": site.domain, "auth_type": "bearer", "credentials": {"token": TOKEN}},
        )
        assert response.status_code == 201
    async with running_app(settings(f"{k2},{k1}")) as (_, client):
        submitted = await client.post("/api/v1/scrape", json={"url": site.start, "options": FAST})
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
        assert job["status"] == "completed", job
    async with running_app(settings(k3)) as (_, client):
        submitted = await client.post("/api/v1/scrape", json={"url": site.start, "options": FAST})
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
        assert job["status"] == "failed", job
        assert "decrypt" in job["error_message"]
        assert TOKEN not in str(job)


async def test_a_crawl_with_stored_credentials_says_it_skips_the_page_cache(
    api: Any, server: TestServer, other_server: TestServer, tmp_path: Path
) -> None:
    site = ProtectedSite(server, other_server)
    cached = {**FAST, "cache_enabled": True}
    async with api() as (_, client):
        stored = await client.post(
            "/api/v1/auth/credentials",
            json={"domain": site.domain, "auth_type": "bearer", "credentials": {"token": TOKEN}},
        )
        assert stored.status_code == 201, stored.text
        submitted = await client.post("/api/v1/scrape", json={"url": site.start, "options": cached})
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
        assert job["status"] == "completed", job
        assert job["statistics"]["cache_hits"] == 0
        skipped = [line for line in job["logs"] if "Page cache not used" in line["message"]]
        assert len(skipped) == 1 and skipped[0]["level"] == "info", job["logs"]
        assert "credentials" in skipped[0]["message"]


async def test_a_password_in_the_start_url_never_reaches_the_job_log(
    api: Any, server: TestServer
) -> None:
    server.route(
        "/docs/",
        Reply(200, "<html><title>Docs</title><main><p>Words for readers.</p></main></html>"),
    )
    url = server.url("/docs/").replace("http://", f"http://reader:{PASSWORD}@")
    async with api() as (_, client):
        submitted = await client.post("/api/v1/scrape", json={"url": url, "options": FAST})
        assert submitted.status_code == 202, submitted.text
        job = await wait_for_status(client, submitted.json()["job_id"], timeout=30)
    messages = [line["message"] for line in job["logs"]]
    assert all(PASSWORD not in m for m in messages), messages
    assert any(m.startswith("Started crawling http://[REDACTED]@127.0.0.1:") for m in messages)

"""The request contract (security checklist 35 and 37, the issue's error-code items): what
clients send is checked at the edge, each cause has one code and status, and every
message is a sentence naming the field. Real app, real servers on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.headers import header_value_problem
from tests.api.conftest import assert_envelope, wait_for_status
from tests.support.server import Reply, TestServer
from tests.support.sites import no_robots, page, serve_pages
from tests.test_cli import run

FAST = {"requests_per_minute": 100_000}
OPTIONS = {"rate_limit": 10, "timeout": 5}
ENDPOINTS = ("/api/v1/scrape", "/api/v1/scrape/sync", "/api/v1/scrape/validate")
# What a message must never show: pydantic's jargon, raw patterns, parser internals.
JARGON = re.compile(r"Input should|String should|Extra inputs|JSON decode error|\^\[|\$'|\\d")


def sentence(error: dict[str, Any], field: str) -> None:
    """The message names the field and is in words; details list the same field."""
    message = error["message"]
    assert field in message, (field, message)
    assert not JARGON.search(message), message
    fields = [e["field"] for e in error["details"].get("errors", [])]
    assert field in fields or not fields, (field, fields)


# --- header-bound values: 422 naming the field, never a 500 ------------------------------
BAD_HEADER_VALUES = ["bot é", "bot\r\nX-Injected: 1", "bot\x00", "bot\x7f", "ボット"]


def test_header_value_problem_is_the_one_rule() -> None:
    assert header_value_problem("scrape-api-docs/0.1 (+https://example.com)") is None
    assert header_value_problem("a\tb") is None
    for value in BAD_HEADER_VALUES:
        problem = header_value_problem(value)
        assert problem and "header" in problem
        assert value not in problem  # never quoted: it may be a secret


@pytest.mark.checklist(35)
async def test_a_non_ascii_or_control_user_agent_is_refused_everywhere(
    api: Any, server: TestServer, subtests: Any
) -> None:
    no_robots(server)
    server.route("/", Reply(body=page("/")))
    async with api(**FAST) as (_, client):
        for path in ENDPOINTS:
            for value in BAD_HEADER_VALUES:
                with subtests.test(path=path, value=value):
                    response = await client.post(
                        path,
                        json={"url": server.url("/"), "options": {**OPTIONS, "user_agent": value}},
                    )
                    error = assert_envelope(response, 422, "VALIDATION_ERROR")
                    sentence(error, "options.user_agent")
    assert server.hits == []


CREDENTIAL_CASES = [
    ({"type": "bearer", "token": "tök"}, "token"),
    ({"type": "bearer", "token": "a\nb"}, "token"),
    ({"type": "basic", "username": "ü", "password": "p"}, "username"),
    ({"type": "api_key", "api_key": "k\r\n"}, "api_key"),
    ({"type": "api_key", "api_key": "k", "header_name": "X Key"}, "header_name"),
    ({"type": "cookie", "cookies": {"session": "v\r\nSet-Cookie: x=1"}}, "cookies"),
    ({"type": "cookie", "cookies": {"séssion": "v"}}, "cookies"),
    ({"type": "bearer"}, "token"),
]


@pytest.mark.checklist(35)
async def test_credential_header_values_are_refused_at_the_edge(
    api: Any, server: TestServer, subtests: Any
) -> None:
    async with api(**FAST) as (_, client):
        for values, field in CREDENTIAL_CASES:
            with subtests.test(values=values):
                for path in ("/api/v1/scrape", "/api/v1/scrape/sync"):
                    response = await client.post(
                        path, json={"url": server.url("/"), "authentication": values}
                    )
                    error = assert_envelope(response, 422, "VALIDATION_ERROR")
                    sentence(error, "authentication")
                    assert f"'{field}'" in error["message"]
                kind = values["type"]
                stored = {k: v for k, v in values.items() if k != "type"}
                response = await client.post(
                    "/api/v1/auth/credentials",
                    json={"domain": "docs.example.com", "auth_type": kind, "credentials": stored},
                )
                error = assert_envelope(response, 422, "VALIDATION_ERROR")
                sentence(error, "credentials")
        assert (await client.get("/api/v1/jobs")).json()["jobs"] == []
        assert (await client.get("/api/v1/auth/credentials")).json()["credentials"] == []
    assert server.hits == []


@pytest.mark.parametrize("domain", [".", "a..b", "-", "-a.example", "a-.example", "a b", "x:0"])
async def test_a_credential_domain_must_be_a_host_name(api: Any, domain: str) -> None:
    async with api(**FAST) as (_, client):
        response = await client.post(
            "/api/v1/auth/credentials",
            json={"domain": domain, "auth_type": "bearer", "credentials": {"token": "t"}},
        )
        error = assert_envelope(response, 422, "VALIDATION_ERROR")
        sentence(error, "domain")


async def test_good_credential_domains_are_accepted(api: Any) -> None:
    async with api(**FAST) as (_, client):
        for domain in ("docs.example.com", "docs.example.com:8443", "localhost", "10.0.0.5"):
            response = await client.post(
                "/api/v1/auth/credentials",
                json={"domain": domain, "auth_type": "bearer", "credentials": {"token": "t"}},
            )
            assert response.status_code == 201, response.text


# --- opaque redirects and refused sitemaps: a skipped URL, never a 500 ----------------------
OPAQUE = {
    "/data": "data:text/html,<h1>hi</h1>",
    "/js": "javascript:alert(1)",
    "/mail": "mailto:docs@example.com",
    "/bad": "http://[::1",
}


def opaque_redirects(server: TestServer) -> None:
    no_robots(server)
    for path, target in OPAQUE.items():
        server.route(path, Reply(302, "", headers={"Location": target}))
    server.route("/index.html", Reply(body=page("/index.html", list(OPAQUE))))


@pytest.mark.checklist(35)
async def test_validate_of_a_redirect_to_an_opaque_scheme_is_answered(
    api: Any, server: TestServer
) -> None:
    opaque_redirects(server)
    async with api(**FAST) as (_, client):
        for path in OPAQUE:
            response = await client.post(
                "/api/v1/scrape/validate", json={"url": server.url(path), "options": OPTIONS}
            )
            assert response.status_code == 200, response.text
            result = response.json()
            assert result["valid"] is False
            assert any("redirect" in w or "location" in w for w in result["warnings"]), result


@pytest.mark.checklist(35)
async def test_a_crawl_skips_redirects_to_opaque_schemes(api: Any, server: TestServer) -> None:
    opaque_redirects(server)
    async with api(**FAST) as (_, client):
        synced = await client.post(
            "/api/v1/scrape/sync", json={"url": server.url("/index.html"), "options": OPTIONS}
        )
        assert synced.status_code == 200, synced.text
        assert synced.json()["pages_scraped"] == 1
        assert synced.json()["statistics"]["errors"] == len(OPAQUE)


# --- one code and one status per cause ---------------------------------------------------
INVALID_URLS = [
    "not a url",
    "ftp://example.com/",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://exa mple.com/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
]


@pytest.mark.checklist(37)
async def test_invalid_url_is_400_whatever_made_it_invalid(
    api: Any, server: TestServer, subtests: Any
) -> None:
    """Even with private networks allowed (the test app's setting), alternate IP spellings
    are refused as written, before any URL type normalises them to 127.0.0.1."""
    async with api(**FAST) as (_, client):
        for path in ENDPOINTS:
            for url in INVALID_URLS:
                with subtests.test(path=path, url=url):
                    response = await client.post(path, json={"url": url, "options": OPTIONS})
                    error = assert_envelope(response, 400, "INVALID_URL")
                    assert not JARGON.search(error["message"]), error["message"]
            missing = await client.post(path, json={"options": OPTIONS})
            sentence(assert_envelope(missing, 400, "INVALID_URL"), "url")
        for url in INVALID_URLS:
            with subtests.test(webhook_url=url):
                response = await client.post(
                    "/api/v1/scrape", json={"url": server.url("/"), "webhook_url": url}
                )
                error = assert_envelope(response, 400, "INVALID_URL")
        assert (await client.get("/api/v1/jobs")).json()["jobs"] == []
    assert server.hits == []


async def test_an_unknown_option_is_invalid_options_listing_the_valid_ones(api: Any) -> None:
    async with api(**FAST) as (_, client):
        for path in ENDPOINTS:
            response = await client.post(
                path, json={"url": "http://127.0.0.1:9/", "options": {"depth": 3}}
            )
            error = assert_envelope(response, 400, "INVALID_OPTIONS")
            assert "'depth'" in error["message"]
            for name in ("max_depth", "max_pages", "rate_limit", "render_javascript"):
                assert name in error["message"]


WRONG_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"options": {"render_javascript": "sometimes"}}, "options.render_javascript", '"auto"'),
    ({"options": {"max_depth": "deep"}}, "options.max_depth", "whole number"),
    ({"options": {"max_depth": 1000}}, "options.max_depth", "at most 100"),
    ({"options": {"rate_limit": 0}}, "options.rate_limit", "at least 0.1"),
    ({"options": {"cache_enabled": "maybe"}}, "options.cache_enabled", "true or false"),
    ({"options": {"include_patterns": "*/docs/*"}}, "options.include_patterns", "array"),
    ({"options": {"wait_for_selector": "div["}}, "options.wait_for_selector", "CSS selector"),
    ({"options": []}, "options", "object"),
    ({"options": {"include_patterns": ["*/a/*", 1]}}, "options.include_patterns[1]", "string"),
    ({"options": {"timeout": 7.5}}, "options.timeout", "whole number"),
    ({"export_formats": ["markdown"] * 11}, "export_formats", "at most 10 items"),
    ({"priority": "asap"}, "priority", '"urgent"'),
    ({"export_formats": []}, "export_formats", "at least 1"),
    ({"webhook_secret": "short"}, "webhook_secret", "at least 16 characters"),
    ({"metadata": {"a": 1}}, "metadata.a", "string"),
    ({"authentication": {"type": "kerberos"}}, "authentication.type", '"basic"'),
]


async def test_each_wrong_value_gets_a_sentence_naming_its_field(api: Any, subtests: Any) -> None:
    async with api(**FAST) as (_, client):
        for extra, field, words in WRONG_VALUES:
            with subtests.test(field=field):
                response = await client.post(
                    "/api/v1/scrape", json={"url": "http://127.0.0.1:9/", **extra}
                )
                error = assert_envelope(response, 422, "VALIDATION_ERROR")
                sentence(error, field)
                assert words in error["message"], error["message"]
        for body in (b"{bad", b'{"url": ', b"", b"\xff"):
            with subtests.test(body=body):
                response = await client.post(
                    "/api/v1/scrape", content=body, headers={"content-type": "application/json"}
                )
                error = assert_envelope(response, 422, "VALIDATION_ERROR")
                assert not JARGON.search(error["message"]), error["message"]
                assert "JSON" in error["message"] or "body" in error["message"], error
        for query, field in (({"limit": "many"}, "limit"), ({"order": "up"}, "order")):
            response = await client.get("/api/v1/jobs", params=query)
            sentence(assert_envelope(response, 422, "VALIDATION_ERROR"), field)
        expires = await client.post(
            "/api/v1/auth/credentials",
            json={
                "domain": "docs.example.com",
                "auth_type": "bearer",
                "credentials": {"token": "t"},
                "expires_at": "next tuesday",
            },
        )
        sentence(assert_envelope(expires, 422, "VALIDATION_ERROR"), "expires_at")


# --- exports_available --------------------------------------------------------------------
async def test_exports_available_lists_only_formats_a_client_can_ask_for(
    api: Any, server: TestServer
) -> None:
    no_robots(server)
    serve_pages(server, {"/index.html": ["/a.html"], "/a.html": []})
    async with api(**FAST) as (_, client):
        submitted = await client.post(
            "/api/v1/scrape",
            json={
                "url": server.url("/index.html"),
                "options": OPTIONS,
                "export_formats": ["llms_txt", "markdown"],
            },
        )
        job_id = submitted.json()["job_id"]
        job = await wait_for_status(client, job_id)
        [row] = (await client.get("/api/v1/jobs")).json()["jobs"]
        metadata = (await client.get(f"/api/v1/exports/{job_id}/metadata")).json()
        available = row["exports_available"]
        assert sorted(available) == ["llms_txt", "markdown"]
        for name in available:
            assert metadata["formats"][name]["available"] is True
            download = await client.get(metadata["formats"][name]["url"])
            assert download.status_code == 200
    # The companion file is still among the job's exports, downloadable by its URL.
    assert "llms_full" in {export["format"] for export in job["exports"]}


# --- the target site's 401/403 ------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
async def test_a_site_that_wants_credentials_is_authentication_failed(
    api: Any, server: TestServer, status: int
) -> None:
    no_robots(server)
    server.route("/docs/", Reply(status, "login required", content_type="text/plain"))
    url = server.url("/docs/")
    async with api(**FAST) as (_, client):
        synced = await client.post("/api/v1/scrape/sync", json={"url": url, "options": OPTIONS})
        error = assert_envelope(synced, 401, "AUTHENTICATION_FAILED")
        assert url in error["message"] and f"HTTP {status}" in error["message"]
        assert error["details"]["url"] == url
        assert "www-authenticate" not in synced.headers  # the site's challenge, not ours
        # Credentials the site refuses: the same answer.
        refused = await client.post(
            "/api/v1/scrape/sync",
            json={
                "url": url,
                "options": OPTIONS,
                "authentication": {"type": "bearer", "token": "wrong"},
            },
        )
        assert_envelope(refused, 401, "AUTHENTICATION_FAILED")
        queued = await client.post("/api/v1/scrape", json={"url": url, "options": OPTIONS})
        job = await wait_for_status(client, queued.json()["job_id"])
        assert job["status"] == "failed" and url in job["error_message"]
        checked = await client.post(
            "/api/v1/scrape/validate", json={"url": url, "options": OPTIONS}
        )
        assert any("AUTHENTICATION_FAILED" in w for w in checked.json()["warnings"])


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/"]
)
@pytest.mark.checklist(37)
def test_the_cli_refuses_alternate_ip_spellings_too(url: str, tmp_path: Path) -> None:
    result = run(["scrape", url, "--allow-private-networks"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: INVALID_URL:") and "spelling" in result.stderr
    assert result.stderr.count("\n") == 1

"""Secrets never reach a log line (security checklist 26): the redaction rules, and the
service's logging set-up in a real process (structlog events, stdlib records, tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scrape_api_docs.logs import REDACTED, redact_text, redact_value

TOKEN = "tok-Sup3rSecret-0001"
PASSWORD = "pw-Sup3rSecret-0002"
COOKIE = "sess-Sup3rSecret-0003"
API_KEY = "sda_" + "K" * 43
WEBHOOK_SECRET = "whsec_" + "W" * 32
SECRETS = (TOKEN, PASSWORD, COOKIE, API_KEY, WEBHOOK_SECRET)

TEXTS = [
    ('127.0.0.1:1 - "WebSocket /api/v1/jobs/j/stream?api_key=' + TOKEN + '" [accepted]', TOKEN),
    (f"GET /x?page=2&token={TOKEN}&lang=en", TOKEN),
    (f"GET /x?X-Amz-Signature={TOKEN}", TOKEN),
    (f"fetch https://reader:{PASSWORD}@docs.example.com/guide failed", PASSWORD),
    (f"Authorization: Bearer {TOKEN}\r\nAccept: */*", TOKEN),
    (f"{{'Authorization': 'Bearer {TOKEN}', 'Accept': '*/*'}}", TOKEN),
    ("{'Authorization': 'Basic cmVhZGVyOnB3LVN1cDNy'}", "cmVhZGVyOnB3LVN1cDNy"),
    ("sent Basic cmVhZGVyOnB3LVN1cDNy to the site", "cmVhZGVyOnB3LVN1cDNy"),
    (f'{{"cookie": "a=1; session={COOKIE}"}}', COOKIE),
    (f"Cookie: theme=dark; session={COOKIE}; lang=en", COOKIE),
    (f"Set-Cookie: session={COOKIE}; Path=/; HttpOnly", COOKIE),
    (f"[(b'host', b'x'), (b'x-api-key', b'{TOKEN}')]", TOKEN),
    (f"X-API-Key: {TOKEN}", TOKEN),
    (f"X-Docs-Key: {API_KEY}", API_KEY),
    (f"webhook_secret={TOKEN} and more", TOKEN),
    (f"{{'password': '{PASSWORD}'}}", PASSWORD),
    (f"signing with {WEBHOOK_SECRET}", WEBHOOK_SECRET),
    (f"Illegal header value b'Bearer {TOKEN}\\n'", TOKEN),
]


@pytest.mark.parametrize(("text", "secret"), TEXTS)
def test_secrets_in_text_are_redacted(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted, redacted
    assert REDACTED in redacted


def test_the_line_around_a_secret_is_kept() -> None:
    assert redact_text(f"GET /x?page=2&token={TOKEN}&lang=en") == (
        f"GET /x?page=2&token={REDACTED}&lang=en"
    )
    assert redact_text(f"https://reader:{PASSWORD}@docs.example.com/guide") == (
        f"https://{REDACTED}@docs.example.com/guide"
    )
    assert redact_text(f"{{'Authorization': 'Bearer {TOKEN}', 'Accept': '*/*'}}") == (
        f"{{'Authorization': '{REDACTED}', 'Accept': '*/*'}}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "basic credentials: 'password' must be a string",
        "GET /api/v1/jobs/job_1234?status=running&page=2",
        "auth_type=bearer domain=docs.example.com",
        "the Authorization header is missing",
        "Processed page: https://docs.example.com/tokens.html",
        "monkey=3 design=4",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_fields_named_as_secrets_are_redacted_at_any_depth() -> None:
    event = {
        "event": "request",
        "headers": {"Authorization": f"Bearer {TOKEN}", "X-API-Key": API_KEY, "Accept": "*/*"},
        "credentials": {"token": TOKEN},
        "nested": [{"password": PASSWORD, "user": "reader"}, (f"Cookie: s={COOKIE}",)],
        "webhook_secret": WEBHOOK_SECRET,
        "raw": f"session={COOKIE}".encode(),
        "count": 3,
        "auth_type": "bearer",
        "token": None,
    }
    redacted = redact_value(event)
    rendered = json.dumps(redacted)
    for secret in SECRETS:
        assert secret not in rendered
    assert redacted["headers"]["Accept"] == "*/*"
    assert redacted["nested"][0]["user"] == "reader"
    assert redacted["count"] == 3 and redacted["auth_type"] == "bearer"
    assert redacted["token"] is None


SCRIPT = """
import logging
import structlog
from scrape_api_docs.logs import configure_logging

configure_logging()
log = structlog.get_logger("worker")

def crawl(credentials, api_key):
    webhook = {{"secret": {webhook!r}}}
    raise ValueError("boom at https://reader:{password}@docs.example.com/")

try:
    crawl({{("http", "h", 80): {{"Authorization": "Bearer {token}"}}}}, {api_key!r})
except ValueError:
    log.exception("job_crashed", job_id="job_1", cookie="session={cookie}")

logging.getLogger("uvicorn.error").info(
    '%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/stream?api_key={api_key}"
)
try:
    crawl({{}}, "{token}")
except ValueError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
structlog.get_logger("api").debug("hidden below INFO")
"""


@pytest.mark.checklist(26)
def test_a_configured_process_logs_no_secret_and_no_locals() -> None:
    script = SCRIPT.format(
        token=TOKEN, password=PASSWORD, cookie=COOKIE, api_key=API_KEY, webhook=WEBHOOK_SECRET
    )
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    logged = result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in logged, logged
    crashed = json.loads(result.stderr.splitlines()[0])
    assert crashed["event"] == "job_crashed" and crashed["job_id"] == "job_1"
    [exception] = crashed["exception"]
    assert exception["exc_type"] == "ValueError"
    assert "docs.example.com" in exception["exc_value"]
    assert [frame["name"] for frame in exception["frames"]] == ["<module>", "crawl"]
    assert all("locals" not in frame for frame in exception["frames"])
    assert '"WebSocket /stream?api_key=[REDACTED]" [accepted]' in result.stderr
    assert "Traceback (most recent call last)" in result.stderr  # the stdlib record kept it
    assert "hidden below INFO" not in logged


EMBEDDED = """
import structlog
from scrape_api_docs.api.main import create_app
from scrape_api_docs.settings import Settings

create_app(Settings(data_dir={data_dir!r}))  # an app embedded by a library user
log = structlog.get_logger("worker")

def crawl(token):
    raise ValueError("boom")

try:
    crawl("Bearer {token}")
except ValueError:
    log.exception("job_crashed")
"""


@pytest.mark.checklist(26)
def test_an_embedded_app_logs_no_locals(tmp_path: Path) -> None:
    """``create_app`` without ``configure_logging`` first: structlog's development
    defaults would print every frame's locals, the token among them."""
    script = EMBEDDED.format(data_dir=str(tmp_path / "data"), token=TOKEN)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    logged = result.stdout + result.stderr
    assert "job_crashed" in logged
    assert TOKEN not in logged, logged

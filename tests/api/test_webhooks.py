"""Webhooks: signed, retried, deduplicable, and held to the network policy at submission
and again at delivery (security checklist item 10)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.jobs.webhooks import (
    WebhookSender,
    account_secret,
    has_signing_secret,
    signature,
    signing_secret,
    verify,
)
from scrape_api_docs.keys import create_key
from tests.api.conftest import make_settings, wait_for_status
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import serve_pages

SECRET = "whsec_per-job-secret-0123456789"
FAST = {"rate_limit": 10, "timeout": 5}


# --- a webhook receiver on the fixture server --------------------------------------------
@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    """When it arrived (monotonic seconds)."""

    @property
    def event(self) -> str:
        return self.headers.get("x-scraper-event", "")

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """POSTs to the fixture server are recorded with their bodies, then answered by the
    server's routes (the fixture server itself only speaks GET and HEAD)."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        def do_POST(handler: BaseHTTPRequestHandler) -> None:
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in handler.headers.items()}
            with receiver._lock:
                receiver.deliveries.append(Delivery(handler.path, headers, body))
            server._handle(handler)

        handler_class: Any = server.httpd.RequestHandlerClass
        handler_class.do_POST = do_POST

    def url(self, path: str = "/hook") -> str:
        return self.server.url(path)

    def events(self) -> list[str]:
        with self._lock:
            return [d.event for d in self.deliveries]

    def of(self, event: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.event == event]

    async def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"webhooks so far: {self.events()}")
            await asyncio.sleep(0.05)


@pytest.fixture
def receiver(server: TestServer) -> Receiver:
    server.route("/hook", Reply(200, b"ok", content_type="text/plain"))
    return Receiver(server)


def fail_first(times: int) -> Any:
    """A route answering 500 to the first ``times`` attempts of each event, then 200."""
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def route(req: RequestInfo) -> Reply:
        with lock:
            event = req.headers.get("x-scraper-event", "")
            counts[event] = counts.get(event, 0) + 1
            seen = counts[event]
        if seen <= times:
            return Reply(500, b"try again", content_type="text/plain")
        return Reply(200, b"ok", content_type="text/plain")

    return route


def check_delivery(delivery: Delivery, secret: str, job_id: str, event: str) -> None:
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["x-scraper-event"] == event
    assert delivery.headers["x-scraper-delivery"] == f"{job_id}:{event}"
    assert verify(secret, delivery.headers["x-scraper-signature"], delivery.body)
    assert not verify(secret + "x", delivery.headers["x-scraper-signature"], delivery.body)
    assert "authorization" not in delivery.headers and "cookie" not in delivery.headers
    payload = delivery.payload
    assert payload["event"] == event and payload["job_id"] == job_id
    assert payload["timestamp"].endswith("Z")
    assert secret not in delivery.body.decode()


# --- end to end through the service ------------------------------------------------------
async def submit(client: httpx.AsyncClient, url: str, receiver: Receiver) -> httpx.Response:
    """A fast crawl of ``url`` with the receiver as its webhook, signed with SECRET."""
    return await client.post(
        "/api/v1/scrape",
        json={
            "url": url,
            "options": FAST,
            "webhook_url": receiver.url(),
            "webhook_secret": SECRET,
        },
    )


async def test_started_and_completed_are_delivered_signed(
    api: Any, site_server: Any, receiver: Receiver
) -> None:
    site = site_server("sphinx_classic")
    async with api() as (_, client):
        response = await submit(client, site.url("/index.html"), receiver)
        assert response.status_code == 202, response.text
        assert SECRET not in response.text
        job_id = response.json()["job_id"]
        job = await wait_for_status(client, job_id)
        assert job["status"] == "completed"
        assert SECRET not in (await client.get(f"/api/v1/jobs/{job_id}")).text
        await receiver.wait_for(lambda: {"started", "completed"} <= set(receiver.events()))
    [started] = receiver.of("started")
    [completed] = receiver.of("completed")
    check_delivery(started, SECRET, job_id, "started")
    check_delivery(completed, SECRET, job_id, "completed")
    assert started.payload["url"] == site.url("/index.html")
    body = completed.payload
    assert body["error_message"] is None
    assert body["statistics"]["pages_processed"] == 5
    assert [e["url"] for e in body["exports"]] == [e["url"] for e in job["exports"]]


async def test_failed_job_sends_failed(api: Any, receiver: Receiver) -> None:
    async with api() as (_, client):
        response = await submit(client, receiver.url("/missing/index.html"), receiver)
        job_id = response.json()["job_id"]
        job = await wait_for_status(client, job_id)
        assert job["status"] == "failed"
        await receiver.wait_for(lambda: "failed" in receiver.events())
    [failed] = receiver.of("failed")
    check_delivery(failed, SECRET, job_id, "failed")
    assert failed.payload["error_message"] == job["error_message"]
    assert "completed" not in receiver.events()


async def test_receiver_errors_are_retried_until_delivered(
    api: Any, site_server: Any, receiver: Receiver
) -> None:
    """500, 500, 200 for each event: delivered on the third attempt after the service's
    default backoff (1 s, then 2 s), every attempt with the same delivery id and a valid
    signature."""
    receiver.server.route("/hook", fail_first(2))
    site = site_server("plain")
    async with api() as (_, client):
        response = await submit(client, site.url("/index.html"), receiver)
        job_id = response.json()["job_id"]
        job = await wait_for_status(client, job_id)
        assert job["status"] == "completed"  # a slow receiver never holds the job
        await receiver.wait_for(
            lambda: len(receiver.of("started")) == 3 and len(receiver.of("completed")) == 3,
            timeout=60,
        )
    for event in ("started", "completed"):
        attempts = receiver.of(event)
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps  # waited as the backoff says
        assert {d.headers["x-scraper-delivery"] for d in attempts} == {f"{job_id}:{event}"}
        for delivery in attempts:
            check_delivery(delivery, SECRET, job_id, event)
        assert len({d.body for d in attempts}) == 1  # the same payload each time


async def test_key_secret_signs_when_the_job_has_none(
    api: Any, site_server: Any, receiver: Receiver, tmp_path: Path
) -> None:
    key = await create_key(make_settings(tmp_path / "data"), "hooks")
    site = site_server("plain")
    async with api() as (_, client):
        headers = {"X-API-Key": key.key}
        response = await client.post(
            "/api/v1/scrape",
            json={"url": site.url("/index.html"), "options": FAST, "webhook_url": receiver.url()},
            headers=headers,
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        await wait_for_status(client, job_id, headers=headers)
        await receiver.wait_for(lambda: "completed" in receiver.events(), timeout=2)
    check_delivery(receiver.of("completed")[0], key.webhook_secret, job_id, "completed")


def design_example(site: TestServer, receiver: Receiver) -> dict[str, Any]:
    """The request body of POST /api/v1/scrape in the API design, word for word, with
    its URL on the fixture site and its webhook at the receiver."""
    return {
        "url": site.url("/docs/"),
        "options": {
            "render_javascript": False,
            "max_depth": 10,
            "include_patterns": ["*/docs/*"],
            "exclude_patterns": ["*/blog/*"],
            "rate_limit": 2.0,
            "timeout": 30,
            "cache_enabled": True,
            "cache_ttl": 3600,
        },
        "export_formats": ["markdown", "pdf", "json"],
        "authentication": {"type": "bearer", "token": "secret-token"},
        "webhook_url": receiver.url(),
        "priority": "normal",
    }


async def test_the_design_example_without_a_secret_is_signed_with_a_generated_one(
    api: Any, receiver: Receiver
) -> None:
    """Keyless server, webhook_url without webhook_secret (the design's own example): 202,
    with a secret made for the job, shown once, that signs every delivery."""
    site = receiver.server
    serve_pages(site, {"/docs/": ["/docs/guide.html", "/blog/news.html"], "/docs/guide.html": []})
    async with api() as (_, client):
        response = await client.post("/api/v1/scrape", json=design_example(site, receiver))
        assert response.status_code == 202, response.text
        accepted = response.json()
        secret = accepted["webhook_secret"]
        assert isinstance(secret, str) and len(secret) >= 32
        job_id = accepted["job_id"]
        job = await wait_for_status(client, job_id)
        assert job["status"] == "completed", job
        for path in (f"/api/v1/jobs/{job_id}", "/api/v1/jobs"):
            assert secret not in (await client.get(path)).text
        await receiver.wait_for(lambda: {"started", "completed"} <= set(receiver.events()))
        # A second job gets its own secret.
        again = await client.post("/api/v1/scrape", json=design_example(site, receiver))
        assert again.status_code == 202, again.text
        assert again.json()["webhook_secret"] not in (secret, None)
        await wait_for_status(client, again.json()["job_id"])
    check_delivery(receiver.of("started")[0], secret, job_id, "started")
    check_delivery(receiver.of("completed")[0], secret, job_id, "completed")


async def test_a_secret_is_only_generated_when_nothing_else_can_sign(
    api: Any, site_server: Any, receiver: Receiver, tmp_path: Path
) -> None:
    site = site_server("plain")
    key = await create_key(make_settings(tmp_path / "data"), "hooks")
    async with api() as (_, client):
        body = {"url": site.url("/index.html"), "options": FAST, "webhook_url": receiver.url()}
        with_key = await client.post("/api/v1/scrape", json=body, headers={"X-API-Key": key.key})
        assert with_key.status_code == 202, with_key.text
        assert "webhook_secret" not in with_key.json()  # the key's secret signs
        own = await client.post(
            "/api/v1/scrape",
            json={**body, "webhook_secret": SECRET},
            headers={"X-API-Key": key.key},
        )
        assert own.status_code == 202 and "webhook_secret" not in own.json()
        assert SECRET not in own.text
        no_hook = await client.post(
            "/api/v1/scrape", json={"url": body["url"]}, headers={"X-API-Key": key.key}
        )
        assert "webhook_secret" not in no_hook.json()


async def test_signing_secret_resolution(api: Any, tmp_path: Path) -> None:
    key = await create_key(make_settings(tmp_path / "data"), "hooks")
    async with api() as (app, _):
        ctx = app.state.ctx
        assert await account_secret(ctx.sessions, ctx.cipher, key.key_id) == key.webhook_secret
        assert await account_secret(ctx.sessions, ctx.cipher, "local") is None
        job_enc = ctx.cipher.encrypt(SECRET)
        assert await signing_secret(ctx.sessions, ctx.cipher, key.key_id, job_enc) == SECRET
        assert (
            await signing_secret(ctx.sessions, ctx.cipher, key.key_id, None) == key.webhook_secret
        )
        assert await signing_secret(ctx.sessions, ctx.cipher, "local", job_enc) == SECRET
        assert await signing_secret(ctx.sessions, ctx.cipher, "local", None) is None
        assert await has_signing_secret(ctx.sessions, ctx.cipher, key.key_id)
        assert not await has_signing_secret(ctx.sessions, ctx.cipher, "local")


# --- refused at submission ---------------------------------------------------------------
PRIVATE_HOOKS = [
    "http://10.0.0.5/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://192.168.1.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:10.0.0.5]/hook",
    "http://0.0.0.0/hook",
    "http://localhost/hook",
    # Alternate spellings are refused as written, before the URL type normalises them.
    "http://167772165/hook",
    "http://0x0a000005/hook",
    "http://012.0.0.5/hook",
    "HTTP://10.0.0.5/hook",
]
NON_HTTP_HOOKS = ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "data:,x"]


@pytest.mark.checklist(10)
async def test_private_webhook_is_refused_at_submission(
    api: Any, site_server: Any, subtests: Any
) -> None:
    site = site_server("plain")
    async with api(allow_private_networks=False, allowed_hosts=["127.0.0.1/32"]) as (_, client):
        for hook in PRIVATE_HOOKS + NON_HTTP_HOOKS:
            with subtests.test(msg=hook):
                response = await client.post(
                    "/api/v1/scrape",
                    json={
                        "url": site.url("/index.html"),
                        "webhook_url": hook,
                        "webhook_secret": SECRET,
                    },
                )
                assert response.status_code == 400, response.text  # INVALID_URL: one status
                error = response.json()["error"]
                assert error["code"] == "INVALID_URL", error
                assert error["request_id"] == response.headers["x-request-id"]
                assert SECRET not in response.text
        assert (await client.get("/api/v1/jobs")).json()["jobs"] == []


async def test_allowed_webhook_is_accepted_under_a_strict_policy(
    api: Any, site_server: Any, receiver: Receiver
) -> None:
    site = site_server("plain")
    async with api(allow_private_networks=False, allowed_hosts=["127.0.0.1/32"]) as (_, client):
        response = await submit(client, site.url("/index.html"), receiver)
        assert response.status_code == 202, response.text
        await wait_for_status(client, response.json()["job_id"])
        await receiver.wait_for(lambda: "completed" in receiver.events())


# --- refused again at delivery -----------------------------------------------------------
def resolving_to(*addresses: str) -> tuple[Any, list[str]]:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(addresses)

    return resolver, asked


@pytest.mark.checklist(10)
async def test_delivery_to_a_name_that_resolves_privately_is_refused() -> None:
    resolver, asked = resolving_to("10.0.0.5")
    sender = WebhookSender(NetworkPolicy(resolver=resolver), attempts=5, backoff=5, timeout=2)
    started = time.monotonic()
    delivered = await sender.deliver(
        "http://hooks.example.com/hook", "completed", "job_x:completed", {"a": 1}, SECRET
    )
    assert delivered is False
    assert asked == ["hooks.example.com"]  # resolved once, refused, never retried
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("answers", [("127.0.0.1",), ("93.184.216.34", "127.0.0.1")])
@pytest.mark.checklist(10)
async def test_delivery_refusal_makes_no_connection(
    receiver: Receiver, answers: tuple[str, ...]
) -> None:
    """The name resolves to the receiver's own address (plus a public one): refused, and
    the receiver, which would have answered 200, sees nothing."""
    resolver, asked = resolving_to(*answers)
    sender = WebhookSender(NetworkPolicy(resolver=resolver), attempts=3, backoff=0.01)
    url = f"http://rebind.example.com:{receiver.server.port}/hook"
    assert await sender.deliver(url, "started", "job_x:started", {}, SECRET) is False
    assert asked == ["rebind.example.com"]
    assert receiver.server.hits == [] and receiver.deliveries == []


@pytest.mark.checklist(10)
async def test_delivery_to_a_private_literal_is_refused_without_dns() -> None:
    resolver, asked = resolving_to("93.184.216.34")
    sender = WebhookSender(NetworkPolicy(resolver=resolver), backoff=5)
    for url in ("http://10.0.0.5/hook", "http://169.254.169.254/", "file:///etc/passwd"):
        assert await sender.deliver(url, "started", "d", {}, SECRET) is False
    assert asked == []


# --- the sender itself -------------------------------------------------------------------
@pytest.fixture
def loopback_sender() -> Iterator[WebhookSender]:
    yield WebhookSender(NetworkPolicy(allow_private=True), attempts=3, backoff=0.01, timeout=2)


async def test_sender_retries_then_gives_up(
    receiver: Receiver, loopback_sender: WebhookSender
) -> None:
    receiver.server.route("/hook", Reply(503, b"down", content_type="text/plain"))
    started = time.monotonic()
    delivered = await loopback_sender.deliver(
        receiver.url(), "completed", "job_y:completed", {"job_id": "job_y"}, SECRET
    )
    assert delivered is False
    assert time.monotonic() - started < 1  # no sleep after the last attempt
    assert len(receiver.deliveries) == 3
    assert {d.headers["x-scraper-delivery"] for d in receiver.deliveries} == {"job_y:completed"}
    assert all(
        verify(SECRET, d.headers["x-scraper-signature"], d.body) for d in receiver.deliveries
    )


async def test_sender_retries_until_delivered(
    receiver: Receiver, loopback_sender: WebhookSender
) -> None:
    receiver.server.route("/hook", fail_first(2))
    assert await loopback_sender.deliver(receiver.url(), "started", "j:started", {}, SECRET)
    assert len(receiver.deliveries) == 3


async def test_sender_backoff_doubles(receiver: Receiver) -> None:
    receiver.server.route("/hook", fail_first(2))
    sender = WebhookSender(NetworkPolicy(allow_private=True), attempts=3, backoff=0.2)
    started = time.monotonic()
    assert await sender.deliver(receiver.url(), "started", "j:started", {}, SECRET)
    assert 0.55 <= time.monotonic() - started < 2  # 0.2 + 0.4


async def test_sender_does_not_follow_redirects(
    receiver: Receiver, loopback_sender: WebhookSender
) -> None:
    receiver.server.route("/hook", Reply(307, b"", {"Location": receiver.url("/elsewhere")}))
    receiver.server.route("/elsewhere", Reply(200, b"ok"))
    assert await loopback_sender.deliver(receiver.url(), "started", "d", {}, SECRET) is False
    assert {d.path for d in receiver.deliveries} == {"/hook"}
    assert receiver.server.hits_for("/elsewhere") == []


async def test_sender_never_reads_an_endless_response(
    receiver: Receiver, loopback_sender: WebhookSender
) -> None:
    receiver.server.route("/hook", Reply(200, itertools.repeat(b"x" * 65536)))
    started = time.monotonic()
    assert await loopback_sender.deliver(receiver.url(), "started", "d", {}, SECRET)
    assert time.monotonic() - started < 2


async def test_sender_gives_up_on_a_slow_receiver(receiver: Receiver) -> None:
    receiver.server.route("/hook", Reply(200, b"ok", delay=1.5))
    sender = WebhookSender(NetworkPolicy(allow_private=True), attempts=2, backoff=0.01, timeout=0.3)
    started = time.monotonic()
    assert await sender.deliver(receiver.url(), "started", "d", {}, SECRET) is False
    assert time.monotonic() - started < 1.2


async def test_sender_survives_an_unreachable_receiver(loopback_sender: WebhookSender) -> None:
    closed = TestServer().start()
    port = closed.port
    closed.stop()
    assert await loopback_sender.deliver(f"http://127.0.0.1:{port}/", "s", "d", {}, SECRET) is False


async def test_webhook_urls_and_secrets_stay_out_of_logs(
    receiver: Receiver, loopback_sender: WebhookSender
) -> None:
    token = "T0kenInThePath-9f8e7d"
    receiver.server.route(f"/hook/{token}", Reply(500, b"no"))
    with capture_logs() as events:
        await loopback_sender.deliver(
            receiver.url(f"/hook/{token}?sig={token}"), "started", "d", {}, SECRET
        )
    assert any(e["event"] == "webhook_retry" for e in events)
    assert token not in repr(events) and SECRET not in repr(events)


# --- signatures --------------------------------------------------------------------------
def test_verify_rejects_tampering_and_old_timestamps() -> None:
    body = b'{"event":"completed"}'
    now = int(time.time())
    header = signature(SECRET, now, body)
    assert verify(SECRET, header, body)
    assert verify(SECRET, header.replace(",", ", "), body)
    assert not verify(SECRET, header, body + b" ")
    assert not verify("another-secret-0123456789", header, body)
    assert not verify(SECRET, signature(SECRET, now - 3600, body), body)
    assert verify(SECRET, signature(SECRET, now - 3600, body), body, tolerance=7200)
    for garbage in ("", "t=abc,v1=00", "v1=00", f"t={now}", "nonsense", f"t={now},v1=ü"):
        assert not verify(SECRET, garbage, body)

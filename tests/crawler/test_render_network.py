"""The browser's network is the crawler's: every request a rendered page makes passes the
same network policy, credentials go only to their origin, and nothing leaves by a side
door (preconnect, workers, WebSockets, WebRTC)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import CrawlConfig
from scrape_api_docs.jobs.pipeline import crawl_site
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import SqlitePageStore
from scrape_api_docs.urls import canonical, origin
from tests.conftest import CrawlFn
from tests.support.server import Reply, TestServer

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)
REFUSED_HOST = "127.0.0.2"
"""Loopback, but not the 127.0.0.1/32 the tests' policy allows."""
PROBE_ATTEMPTS = (
    "img, css background, iframe, form in iframe, object, video, fetch, fetch no-cors, xhr, "
    "beacon, eventsource, websocket, import(), worker, service worker, popup, "
    "webrtc, ping link"
)


class Listener:
    """Records every TCP connection and UDP datagram that reaches ``host``, whatever it is
    (HTTP, a CONNECT, TLS, STUN): the refused address's side of the test."""

    def __init__(self, host: str) -> None:
        self.tcp = socket.create_server((host, 0))
        self.port: int = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.connections: list[bytes] = []
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._accept, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _accept(self) -> None:
        self.tcp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    first = conn.recv(200)
                except OSError:
                    first = b""
                self.connections.append(first or b"(connected)")
                if first.startswith(b"GET "):
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                        b"Access-Control-Allow-Origin: *\r\nContent-Length: 2\r\n"
                        b"Connection: close\r\n\r\nok"
                    )

    def _receive(self) -> None:
        self.udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, _ = self.udp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams.append(data)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(1)
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def refused_listener() -> Any:
    try:
        listener = Listener(REFUSED_HOST)
    except OSError as exc:  # pragma: no cover - 127.0.0.0/8 is all loopback on Linux
        pytest.skip(f"cannot listen on {REFUSED_HOST}: {exc}")
    yield listener
    listener.close()


async def crawl_probe(
    site_server: Any, tmp_path: Path, listener: Listener, policy: NetworkPolicy
) -> tuple[str, list[str]]:
    server: TestServer = site_server("spa_docs")
    target = f"http://{REFUSED_HOST}:{listener.port}"
    start = server.url(f"/probe.html?target={target}&udp={listener.port}")
    messages: list[str] = []

    def listen(event: CrawlEvent, stats: CrawlStats) -> None:
        messages.append(event.message)

    store = SqlitePageStore(tmp_path / f"probe-{len(list(tmp_path.iterdir()))}.sqlite")
    config = CrawlConfig(
        start_url=start,
        rate_limit=None,
        timeout=10,
        cache_enabled=False,
        use_sitemaps=False,
        max_pages=1,
        render_javascript="always",
        render_images=True,  # so images get as far as the policy check
    )
    await crawl_site(
        config, settings=Settings(data_dir=tmp_path), store=store, policy=policy, listener=listen
    )
    await asyncio.sleep(0.5)  # anything late would have arrived by now
    doc = store.get(canonical(start))
    store.close()
    assert doc is not None
    return doc.markdown, messages


@pytest.mark.checklist(9)
async def test_probe_page_leaves_no_trace_on_a_refused_address(
    site_server: Any, tmp_path: Path, refused_listener: Listener
) -> None:
    policy = NetworkPolicy(allowed_hosts=["127.0.0.1/32"])
    markdown, messages = await crawl_probe(site_server, tmp_path, refused_listener, policy)
    assert f"Probe finished after trying: {PROBE_ATTEMPTS}." in markdown, markdown[:600]
    assert refused_listener.connections == []
    assert refused_listener.datagrams == []
    summary = next(m for m in messages if m.startswith("rendered 1 pages"))
    assert "0 refused by the network policy" not in summary
    assert "1 WebSockets refused" in summary


async def test_probe_control_the_listener_does_see_allowed_requests(
    site_server: Any, tmp_path: Path, refused_listener: Listener
) -> None:
    """The same page with the address allowed: requests do arrive (through our fetcher),
    so the test above can fail. WebSockets and WebRTC stay closed either way."""
    policy = NetworkPolicy(allow_private=True)
    markdown, _ = await crawl_probe(site_server, tmp_path, refused_listener, policy)
    assert "Probe finished" in markdown
    # Chromium also opens speculative connections that send nothing ("(connected)").
    requests = [line for line in refused_listener.connections if line.count(b" ") >= 2]
    paths = {line.split(b" ")[1].split(b"?")[0] for line in requests}
    assert {b"/img.png", b"/frame.html", b"/fetch", b"/xhr", b"/script.js"} <= paths
    assert b"/ws" not in paths and refused_listener.datagrams == []


CREDENTIAL_PAGE = """<!doctype html><html><head><title>Private docs</title></head><body>
<main><h1>Private docs</h1><p id="own">…</p><p id="other">…</p><p id="moved">…</p>
<p id="escape">…</p><p id="framed">…</p><p id="keyed">…</p><p id="closed">…</p></main>
<iframe src="/frame-old.html"></iframe>
<script>
fetch("/private.json").then((r) => r.json()).then((d) => {
  document.getElementById("own").textContent = d.text;
});
fetch("OTHER/public.json").then((r) => r.json()).then((d) => {
  document.getElementById("other").textContent = d.text;
});
fetch("/moved.json").then((r) => r.json()).then((d) => {
  document.getElementById("moved").textContent = d.text;
});
// A header of its own: the browser asks first (a CORS preflight), then fetches.
const keyed = { headers: { "X-Api-Key": "public-key" } };
fetch("OTHER/keyed.json", keyed).then((r) => r.json()).then((d) => {
  document.getElementById("keyed").textContent = d.text;
});
fetch("OTHER/closed.json", keyed).then((r) => r.json()).then((d) => {
  document.getElementById("closed").textContent = d.text;
}).catch(() => {
  document.getElementById("closed").textContent = "The API without CORS kept its answer.";
});
fetch("/escape.json").then((r) => r.text()).then((t) => {
  document.getElementById("escape").textContent = "Escaped: " + t;
}).catch(() => {
  document.getElementById("escape").textContent = "The redirect out was refused.";
});
</script></body></html>"""


def text_json(text: str, headers: dict[str, str] | None = None) -> Reply:
    """``{"text": ...}``, as the credentials page's scripts read it."""
    return Reply(
        body=json.dumps({"text": text}), content_type="application/json", headers=headers or {}
    )


@pytest.mark.checklist(8, 11)
async def test_credentials_only_reach_their_own_origin_and_redirects_are_checked(
    crawl: CrawlFn,
) -> None:
    site, other = TestServer().start(), TestServer().start()
    try:
        site.route("/robots.txt", Reply(404, "", content_type="text/plain"))
        site.route("/index.html", Reply(body=CREDENTIAL_PAGE.replace("OTHER", other.base)))
        site.route(
            "/private.json",
            lambda req: text_json(
                "Only signed-in readers see this paragraph."
                if req.headers.get("authorization") == "Bearer secret-a"
                else "Sign in first."
            ),
        )
        site.route("/moved.json", Reply(301, headers={"Location": "/new.json"}))
        site.route("/frame-old.html", Reply(301, headers={"Location": "/frame.html"}))
        site.route(
            "/frame.html",
            Reply(
                body="<script>parent.document.getElementById('framed').textContent = "
                "'The frame was loaded from ' + location.pathname + '.'</script>"
            ),
        )
        site.route("/new.json", text_json("A paragraph that moved, reached through a redirect."))
        # A redirect to the cloud metadata address: refused at that hop.
        site.route(
            "/escape.json", Reply(302, headers={"Location": "http://169.254.169.254/latest"})
        )
        any_origin = {"Access-Control-Allow-Origin": "*"}
        other.route(
            "/public.json",
            text_json("A paragraph from another origin, fetched by the page.", any_origin),
        )
        other.route(
            "/keyed.json",
            text_json("A paragraph from an API that wants a key in a header.", any_origin),
        )
        other.route("/closed.json", text_json("Not for other origins."))
        start = site.url("/index.html")
        credentials = {origin(start): {"Authorization": "Bearer secret-a"}}
        _, store = await crawl(
            start, render_javascript="always", use_sitemaps=False, credentials=credentials
        )
        doc = store.get(canonical(start))
        assert doc is not None
        assert "Only signed-in readers see this paragraph." in doc.markdown
        assert "A paragraph from another origin" in doc.markdown
        assert "A paragraph that moved, reached through a redirect." in doc.markdown
        assert "The redirect out was refused." in doc.markdown
        # CORS as the servers answer it: the preflight is answered for them (only GET and
        # HEAD ever leave), the real response's headers decide.
        assert "A paragraph from an API that wants a key in a header." in doc.markdown
        assert other.hits_for("/keyed.json")[0].headers["x-api-key"] == "public-key"
        assert "The API without CORS kept its answer." in doc.markdown
        assert all(hit.method == "GET" for hit in other.hits)
        # A redirected document: the browser is sent on, and served what was fetched.
        assert "The frame was loaded from /frame.html." in doc.markdown
        assert len(site.hits_for("/frame.html")) == 1
        assert site.hits_for("/private.json")[0].headers["authorization"] == "Bearer secret-a"
        assert all("authorization" not in hit.headers for hit in other.hits)
        assert other.hits_for("/public.json")
        # The browser's own identity never reaches a server: our user agent does.
        assert all("Headless" not in hit.headers.get("user-agent", "") for hit in site.hits)
    finally:
        site.stop()
        other.stop()

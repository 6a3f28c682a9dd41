"""A real HTTP server on 127.0.0.1 for tests: static fixture sites plus programmable routes.

Each test gets its own server on a free port. Routes are plain functions that return a
``Reply``; every request is recorded (method, path, headers) so tests can assert what the
crawler really sent, and how often.
"""

from __future__ import annotations

import contextlib
import mimetypes
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0
    """Seconds to wait before answering (timeouts)."""


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]


Route = Callable[["RequestInfo"], Reply]


@dataclass
class RequestInfo:
    method: str
    path: str
    query: str
    headers: dict[str, str]


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server for which a client hanging up is normal (a crawler that
    stopped reading, a server process that was killed): no traceback printed for it."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class TestServer:
    __test__ = False

    def __init__(self, root: Path | None = None, delay: float = 0.0) -> None:
        self.root = root
        self.delay = delay
        """Seconds every file under ``root`` takes to answer (a slow site)."""
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_HEAD(self) -> None:
                server._handle(self)

        self.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, reply: Reply | Route) -> None:
        self.routes[path] = reply if callable(reply) else (lambda _req, r=reply: r)

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path.split("?")[0] == path]

    def start(self) -> TestServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- request handling -------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.hits.append(Hit(h.command, h.path, headers))
        info = RequestInfo(h.command, unquote(parts.path), parts.query, headers)
        route = self.routes.get(info.path)
        reply = route(info) if route else self._static(info.path)
        if reply.delay:
            time.sleep(reply.delay)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(h, reply)

    def _static(self, path: str) -> Reply:
        if self.root is None:
            return Reply(404, b"not found", content_type="text/plain")
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()):
            return Reply(404, b"not found", content_type="text/plain")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return Reply(404, b"not found", content_type="text/plain")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/xhtml+xml", "application/xml"):
            ctype += "; charset=utf-8"
        return Reply(200, target.read_bytes(), content_type=ctype, delay=self.delay)

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        h.send_response(reply.status)
        if reply.content_type:
            h.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        body = reply.body
        if isinstance(body, str):
            body = body.encode()
        if isinstance(body, bytes):
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
            return
        # An iterable body is streamed with chunked encoding (endless or trickling bodies).
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for chunk in _chunks(body):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")


def _chunks(body: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in body:
        if chunk:
            yield chunk

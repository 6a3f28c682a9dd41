"""A static docs server for benchmarks: HTTP/1.1 keep-alive, files gzip'd once at start.

Real docs hosts (nginx, CDNs) keep connections alive and serve pre-compressed files;
Python's ``http.server`` does neither, and would make the crawler look slower than it is.
Runs in its own process so its CPU is not counted as the crawler's.
"""

from __future__ import annotations

import gzip
import mimetypes
import multiprocessing
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    """A port nobody listens on now, on 127.0.0.1 (for the servers the benchmarks start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load(root: Path) -> dict[str, tuple[bytes, bytes, str]]:
    files: dict[str, tuple[bytes, bytes, str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if ctype.startswith("text/"):
                ctype += "; charset=utf-8"
            files["/" + path.relative_to(root).as_posix()] = (data, gzip.compress(data, 6), ctype)
    return files


def serve(root: Path, port: int, ready: multiprocessing.synchronize.Event | None = None) -> None:
    httpd = make_server(root, port)
    if ready is not None:
        ready.set()
    httpd.serve_forever()


def make_server(root: Path, port: int) -> ThreadingHTTPServer:
    """The server of ``root`` on 127.0.0.1:``port`` (0: a free one), not yet serving."""
    files = _load(root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            if path.endswith("/"):
                path += "index.html"
            entry = files.get(path)
            if entry is None and path + "/index.html" in files:
                # A folder asked for without its slash: redirect, as nginx and static hosts do.
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if entry is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            plain, zipped, ctype = entry
            use_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
            body = zipped if use_gzip else plain
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if use_gzip:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    return httpd


def start(root: Path, port: int) -> multiprocessing.Process:
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=serve, args=(root, port, ready), daemon=True)
    process.start()
    if not ready.wait(60):
        raise RuntimeError("benchmark server did not start")
    return process


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))

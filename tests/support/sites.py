"""Small generated sites for crawler tests: pages that link to each other, served for real."""

from __future__ import annotations

from collections.abc import Iterable

from tests.support.server import Reply, TestServer


def page(title: str, links: Iterable[str] = (), body: str = "") -> str:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><ul>{anchors}</ul></nav>"
        f"<main><h1>{title}</h1><p>Content of {title}. {body}</p></main></body></html>"
    )


def serve_pages(server: TestServer, pages: dict[str, list[str]]) -> None:
    """Serve ``{path: [links]}``; each page's title is its path."""
    for path, links in pages.items():
        server.route(path, Reply(body=page(path, links)))


def no_robots(server: TestServer) -> None:
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))

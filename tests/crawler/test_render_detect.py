"""The JavaScript detector behind ``render_javascript: "auto"`` and the validation warning:
every static fixture page is static, every app shell is dynamic."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrape_api_docs.extract.jsdetect import detect_javascript, detect_javascript_in
from tests.conftest import FIXTURE_SITES

STATIC_PAGES = sorted(
    path
    for path in FIXTURE_SITES.rglob("*.htm*")
    if not path.is_relative_to(FIXTURE_SITES / "spa_docs") or path.parent.name == "docs"
)


@pytest.mark.parametrize("page", STATIC_PAGES, ids=lambda p: str(p.relative_to(FIXTURE_SITES)))
def test_static_fixture_pages_are_static(page: Path) -> None:
    verdict = detect_javascript_in(page.read_bytes(), "text/html")
    assert not verdict.javascript, verdict.reasons


@pytest.mark.parametrize("shell", ["index.html", "reference.html"])
def test_spa_fixture_shells_are_dynamic(shell: str) -> None:
    verdict = detect_javascript_in((FIXTURE_SITES / "spa_docs" / shell).read_bytes(), None)
    assert verdict.javascript
    assert any(reason.startswith("empty application root") for reason in verdict.reasons)


def test_static_fixture_pages_are_enough() -> None:
    assert len(STATIC_PAGES) >= 40  # every site, plus the SPA's static changelog


SHELLS = {
    "create-react-app": (
        '<html><head><title>React App</title><script defer src="/static/js/main.js"></script>'
        "</head><body><noscript>You need to enable JavaScript to run this app.</noscript>"
        '<div id="root"></div></body></html>'
    ),
    "vue-cli": (
        "<html><head><title>docs</title></head><body><noscript><strong>We're sorry but docs "
        "doesn't work properly without JavaScript enabled. Please enable it to continue."
        '</strong></noscript><div id="app"></div><script src="/js/chunk-vendors.js"></script>'
        '<script src="/js/app.js"></script></body></html>'
    ),
    "angular": (
        '<html><head><base href="/"></head><body><app-root></app-root>'
        '<script src="runtime.js" type="module"></script>'
        '<script src="main.js" type="module"></script></body></html>'
    ),
    "docsify": (
        '<html><head><title>Docs</title></head><body><div id="app">Loading...</div>'
        "<script>window.$docsify = { name: 'tern', loadSidebar: true }</script>"
        '<script src="//cdn.jsdelivr.net/npm/docsify@4"></script></body></html>'
    ),
    "redoc": (
        '<html><head><title>API</title></head><body><redoc spec-url="openapi.yaml"></redoc>'
        '<script src="redoc.standalone.js"></script></body></html>'
    ),
    "stoplight-elements": (
        '<html><head><script src="https://unpkg.com/@stoplight/elements/web-components.min.js">'
        '</script></head><body><elements-api apiDescriptionUrl="openapi.yaml" router="hash">'
        "</elements-api></body></html>"
    ),
    "swagger-ui": (
        '<html><head><title>Swagger UI</title></head><body><div id="swagger-ui"></div>'
        '<script src="swagger-ui-bundle.js"></script>'
        "<script>window.ui = SwaggerUIBundle({url: 'openapi.json', dom_id: '#swagger-ui'})"
        "</script></body></html>"
    ),
    "scripts, no text": (
        "<html><head><title>Docs</title><script src=a.js></script><script src=b.js></script>"
        "</head><body><div class=shell></div></body></html>"
    ),
}


@pytest.mark.parametrize("name", sorted(SHELLS))
def test_app_shells_are_dynamic(name: str) -> None:
    verdict = detect_javascript(SHELLS[name])
    assert verdict.javascript, name


TEXT = "Tern is a small job queue for Python services. " * 12
STATIC = {
    "widget root beside the content": (
        f'<html><body><main><h1>Queues</h1><p>{TEXT}</p></main><div id="app"></div>'
        '<script src="comments.js"></script><script src="search.js"></script></body></html>'
    ),
    "server-rendered Next.js": (
        f'<html><body><div id="__next"><article><h1>Queues</h1><p>{TEXT}</p></article></div>'
        '<script id="__NEXT_DATA__" type="application/json">{}</script>'
        '<script src="/_next/main.js"></script></body></html>'
    ),
    "short page, one script": (
        '<html><body><h1>Moved</h1><p>This page moved.</p><script src="a.js"></script></body>'
        "</html>"
    ),
}


@pytest.mark.parametrize("name", sorted(STATIC))
def test_pages_with_their_text_are_static(name: str) -> None:
    verdict = detect_javascript(STATIC[name])
    assert not verdict.javascript, verdict.reasons

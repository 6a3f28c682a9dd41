"""JavaScript rendering through the entry points: the API (a job, the validation
endpoint, health) and the CLI, each for real."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import find_browser
from tests.api.conftest import make_settings, running_app, wait_for_status
from tests.support.server import TestServer
from tests.support.spa import START, serve_spa
from tests.test_cli import run

needs_browser = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)
FAST = {"requests_per_minute": 100_000}


async def health(client: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/system/health")
    assert response.status_code == 200, response.text
    return dict(response.json())


@needs_browser
async def test_auto_job_renders_and_health_follows_the_browser(
    site_server: Any, tmp_path: Path
) -> None:
    server = serve_spa(site_server)
    async with running_app(make_settings(tmp_path / "data", **FAST)) as (app, client):
        before = await health(client)
        assert before["dependencies"]["playwright"] == "healthy"
        assert "starts with the first rendering job" in before["details"]["playwright"]

        response = await client.post(
            "/api/v1/scrape",
            json={
                "url": server.url(START),
                "options": {"render_javascript": "auto", "rate_limit": 10, "cache_enabled": False},
            },
        )
        assert response.status_code == 202, response.text
        done = await wait_for_status(client, response.json()["job_id"])
        assert done["status"] == "completed", done
        assert done["statistics"]["pages_processed"] == 8
        book = (await client.get(done["exports"][0]["url"])).text
        assert r"Set visibility\_timeout to the longest time" in book
        assert "A payload may be at most 1 MiB of JSON." in book

        running = await health(client)
        assert running["dependencies"]["playwright"] == "healthy"
        assert "running" in running["details"]["playwright"]

        renderer = app.state.ctx.renderer
        assert renderer.pid is not None
        os.kill(renderer.pid, signal.SIGKILL)
        for _ in range(50):
            after = await health(client)
            if after["dependencies"]["playwright"] != "healthy":
                break
            await asyncio.sleep(0.1)
        assert after["dependencies"]["playwright"] == "degraded"
        assert after["status"] == "degraded"


async def test_rendering_job_without_a_browser_is_refused_at_once(
    server: TestServer, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data", browser_path="/nonexistent/chromium", **FAST)
    async with running_app(settings) as (_, client):
        for value in (True, "auto"):
            response = await client.post(
                "/api/v1/scrape",
                json={"url": server.url("/docs/"), "options": {"render_javascript": value}},
            )
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert error["code"] == "VALIDATION_ERROR"
            assert "needs a browser" in error["message"]
            assert "/nonexistent/chromium is not executable" in error["message"]
            assert error["details"]["option"] == "render_javascript"
        plain = await client.post(
            "/api/v1/scrape",
            json={"url": server.url("/docs/"), "options": {"render_javascript": False}},
        )
        assert plain.status_code == 202
        report = await health(client)
        assert report["dependencies"]["playwright"] == "unavailable"
        assert "/nonexistent/chromium" in report["details"]["playwright"]
        assert report["status"] == "healthy"  # a missing optional feature, not degradation


async def test_validate_recommends_rendering_for_the_app_shell(
    site_server: Any, tmp_path: Path
) -> None:
    server = serve_spa(site_server)
    async with running_app(make_settings(tmp_path / "data", **FAST)) as (_, client):
        spa = await client.post("/api/v1/scrape/validate", json={"url": server.url(START)})
        assert spa.status_code == 200, spa.text
        result = spa.json()
        assert result["recommendations"]["render_javascript"] is True
        assert any("JavaScript" in w for w in result["warnings"])
        signals = " ".join(result["details"]["javascript_signals"])
        assert 'empty application root <div id="root">' in signals
        rendering = await client.post(
            "/api/v1/scrape/validate",
            json={"url": server.url(START), "options": {"render_javascript": "auto"}},
        )
        already = rendering.json()
        assert already["details"]["javascript_signals"]  # seen, and already taken care of
        assert "render_javascript" not in already["recommendations"]
        assert not any("JavaScript" in w for w in already["warnings"])
        static = await client.post(
            "/api/v1/scrape/validate", json={"url": server.url("/docs/changelog.html")}
        )
        assert "render_javascript" not in static.json()["recommendations"]


@needs_browser
def test_cli_render_javascript_auto(site_server: Any, tmp_path: Path) -> None:
    server = serve_spa(site_server)
    out = tmp_path / "book.md"
    args = ["scrape", server.url(START), "-o", str(out), "--no-rate-limit"]
    env = {"SCRAPER_ALLOW_PRIVATE_NETWORKS": "1", "SCRAPER_DATA_DIR": str(tmp_path / "d")}
    result = run([*args, "--render-javascript", "auto"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "rendered    7  pages in Chromium" in result.stderr
    book = out.read_text()
    assert r"Set visibility\_timeout to the longest time" in book
    bad = run([*args, "--render-javascript", "sometimes"], tmp_path, env)
    assert bad.returncode == 2 and "'sometimes' is not one of" in bad.stderr
    selector = run(
        [*args, "--render-javascript", "auto", "--wait-for-selector", "div["], tmp_path, env
    )
    assert selector.returncode == 2
    assert "--wait-for-selector: wait_for_selector 'div[' is not a valid" in (selector.stderr)

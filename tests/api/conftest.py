"""The real app, in-process: lifespan run, httpx over the ASGI transport, data in tmp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from scrape_api_docs.api.main import create_app
from scrape_api_docs.settings import Settings

AppFactory = Callable[..., Any]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "allow_private_networks": True,
        "workers": 2,
        "extract_processes": 1,
        # No estimate at submission: tests count the requests a job makes (tests of the
        # estimate itself turn it on).
        "estimate_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


@pytest.fixture
def api(tmp_path: Path) -> Callable[..., Any]:
    """``async with api(**settings) as (app, client)``: a fresh service over tmp_path."""

    def factory(**overrides: Any) -> Any:
        return running_app(make_settings(tmp_path / "data", **overrides))

    return factory


async def wait_for_status(
    client: httpx.AsyncClient,
    job_id: str,
    statuses: tuple[str, ...] = ("completed", "failed", "cancelled"),
    timeout: float = 60,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get(f"/api/v1/jobs/{job_id}", headers=headers or {})
        body = response.json()
        if response.status_code == 200 and body["status"] in statuses:
            return dict(body)
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout}s")
        await asyncio.sleep(0.1)


Waiter = Callable[..., Awaitable[dict[str, Any]]]


ENVELOPE_KEYS = {"code", "message", "details", "timestamp", "request_id"}
LEAKS = ("Traceback", "site-packages", "/work/", "scrape_api_docs/", 'File "', "sqlalchemy")


def assert_envelope(
    response: httpx.Response,
    status: int | tuple[int, ...],
    code: str,
    *,
    absent: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The design's error envelope, with this response's request id, nothing internal
    (no traceback, path or library name) and none of the ``absent`` strings."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == ENVELOPE_KEYS, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert error["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(error["timestamp"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["request_id"].startswith("req_")
    for text in LEAKS + absent:
        assert text not in response.text, (text, response.text)
    return dict(error)

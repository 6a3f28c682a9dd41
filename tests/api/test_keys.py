"""API key rules end to end (security checklist 37): each key's statistics are its own,
revoking the last key locks the API but never for good (``keys delete`` is the documented
way back, to a server that answers loopback clients only), and nothing made without a key
or by a deleted key is left unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from scrape_api_docs.keys import KeyStillActive, delete_key, revoke_key
from tests.api.conftest import assert_envelope, make_settings, wait_for_status
from tests.api.test_security import auth, close_code, new_keys, ws_messages
from tests.test_cli import run

FAST = {"rate_limit": 10, "timeout": 5}


async def finished_job(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> str:
    response = await client.post(
        "/api/v1/scrape", json={"url": url, "options": FAST}, headers=headers
    )
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job_id"])
    assert (await wait_for_status(client, job_id, headers=headers))["status"] == "completed"
    return job_id


@pytest.mark.checklist(37)
async def test_stats_count_only_the_callers_jobs(
    api: Any, site_server: Any, tmp_path: Path
) -> None:
    site = site_server("plain")
    async with api() as (app, client):
        # Made before any key: the first key created takes it over.
        early = await finished_job(client, site.url("/index.html"), {})
        first, second = await new_keys(tmp_path, "first", "second")
        app.state.keys.forget()
        await finished_job(client, site.url("/index.html"), auth(first))
        mine = (await client.get("/api/v1/system/stats", headers=auth(first))).json()
        theirs = (await client.get("/api/v1/system/stats", headers=auth(second))).json()
        listed = (await client.get("/api/v1/jobs", headers=auth(first))).json()["jobs"]
    assert mine["jobs"]["total"] == 2 and mine["jobs"]["completed"] == 2
    assert early in {job["job_id"] for job in listed}
    assert mine["resources"]["artifacts_mb"] > 0 and mine["resources"]["storage_used_gb"] > 0
    # A new key sees nothing of the others': no jobs, no bytes.
    assert theirs["jobs"]["total"] == 0 and theirs["jobs"]["completed"] == 0
    assert theirs["performance"]["avg_pages_per_job"] == 0
    assert theirs["resources"]["artifacts_mb"] == 0
    assert theirs["resources"]["storage_used_gb"] == 0


@pytest.mark.checklist(37)
async def test_revoking_the_last_key_locks_the_api_and_delete_is_the_way_back(
    api: Any, site_server: Any, tmp_path: Path
) -> None:
    site = site_server("plain")
    settings = make_settings(tmp_path / "data")
    (only,) = await new_keys(tmp_path, "only")
    async with api() as (app, client):
        job_id = await finished_job(client, site.url("/index.html"), auth(only))
        # Deleting a key in use is refused: revoke first.
        try:
            await delete_key(settings, only.key_id)
            raise AssertionError("an active key was deleted")
        except KeyStillActive:
            pass
        assert await revoke_key(settings, only.key_id)
        app.state.keys.forget()
        # Locked, not open: revoked keys still count.
        assert_envelope(await client.get("/api/v1/jobs"), 401, "AUTHENTICATION_FAILED")
        assert_envelope(
            await client.get("/api/v1/jobs", headers=auth(only)), 401, "AUTHENTICATION_FAILED"
        )
        assert await delete_key(settings, only.key_id) == (True, 1)
        assert await delete_key(settings, only.key_id) == (False, 0)
        app.state.keys.forget()
        # Keyless again, for this machine only; the deleted key's job came back with it.
        jobs = (await client.get("/api/v1/jobs")).json()["jobs"]
        assert [job["job_id"] for job in jobs] == [job_id]
        stats = (await client.get("/api/v1/system/stats")).json()
        assert stats["jobs"]["total"] == 1
        remote = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 40000)),
            base_url="http://testserver",
        )
        async with remote:
            error = assert_envelope(await remote.get("/api/v1/jobs"), 401, "AUTHENTICATION_FAILED")
        assert "keys create" in error["message"]
        messages = await ws_messages(app, f"/api/v1/jobs/{job_id}/stream")
        assert close_code(messages) != 4401


def test_cli_keys_delete(tmp_path: Path) -> None:
    env = {"SCRAPER_DATA_DIR": str(tmp_path / "data")}
    created = run(["keys", "create", "ci"], tmp_path, env)
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("key id:", 1)[1].split()[0]
    active = run(["keys", "delete", key_id], tmp_path, env)
    assert active.returncode == 2 and "revoke it first" in active.stderr
    assert "Traceback" not in active.stderr
    assert run(["keys", "revoke", key_id], tmp_path, env).returncode == 0
    deleted = run(["keys", "delete", key_id], tmp_path, env)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {key_id}" in deleted.stdout
    assert "keyless again" in deleted.stderr
    assert key_id not in run(["keys", "list"], tmp_path, env).stdout
    missing = run(["keys", "delete", key_id], tmp_path, env)
    assert missing.returncode == 2 and "no key with id" in missing.stderr

"""The shortest real path: submit a crawl of a fixture site, wait, download the book."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import wait_for_status


async def test_submit_wait_download(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api() as (_, client):
        response = await client.post(
            "/api/v1/scrape", json={"url": site.url("/index.html"), "options": {"rate_limit": 10}}
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["status"] == "queued" and accepted["status_url"].endswith(
            accepted["job_id"]
        )
        assert accepted["websocket_url"].startswith("ws://testserver/api/v1/jobs/")
        job = await wait_for_status(client, accepted["job_id"])
        assert job["status"] == "completed", job
        assert job["statistics"]["pages_processed"] == 5
        assert job["progress"]["percent_complete"] == 100
        [export] = job["exports"]
        download = await client.get(export["url"])
        assert download.status_code == 200
        assert download.text.startswith("# Quillstore")
        assert download.headers["content-type"].startswith("text/markdown")
        assert 'attachment; filename="output.md"' in download.headers["content-disposition"]
        assert download.headers["x-request-id"].startswith("req_")

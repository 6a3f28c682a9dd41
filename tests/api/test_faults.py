"""Jobs under faults, over the real app against real servers on 127.0.0.1: a cancelled or
timed-out export stops, progress and statistics of the exports."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.jobs.export_process import descendants
from tests.api.conftest import assert_envelope, wait_for_status
from tests.support.server import Reply, TestServer
from tests.support.sites import no_robots, page

FAST = {"requests_per_minute": 100_000}


def big_page(paragraphs: int) -> str:
    text = "".join(
        f"<p>Paragraph {i}: the quick brown fox jumps over the lazy dog, "
        "again and again, so that the printer has many pages to lay out.</p>"
        for i in range(paragraphs)
    )
    return page("/big.html", body=text)


def holders_of(folder: Path) -> set[int]:
    """Processes other than this one with a file under ``folder`` open."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd).startswith(str(folder)):
                    found.add(int(entry.name))
                    break
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.skipif(find_browser(None) is None, reason="needs Chromium to print a PDF")
async def test_timed_out_sync_scrape_stops_its_pdf_export(api: Any, server: TestServer) -> None:
    """The sync time cap passes while Chromium prints: the export process and the browser
    under it are killed, nothing is written into the job afterwards, the job is cancelled."""
    no_robots(server)
    server.route("/big.html", Reply(body=big_page(20_000)))  # ~2.6 MB, hundreds of A4 pages
    async with api(sync_timeout=5, **FAST) as (app, client):
        job_dir_of = app.state.ctx.job_dir
        request = asyncio.create_task(
            client.post(
                "/api/v1/scrape/sync",
                json={"url": server.url("/big.html"), "export_formats": ["pdf"]},
            )
        )
        tree: set[int] = set()
        while not request.done():  # the export's processes, seen while it runs
            for job_dir in (app.state.ctx.settings.jobs_dir).glob("job_*"):
                for pid in holders_of(job_dir):
                    tree.update([pid, *descendants(pid)])
            await asyncio.sleep(0.2)
        response = request.result()
        error = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
        job_id = error["details"]["job_id"]
        assert tree, "the export never started (the page is too small to print past 5 s?)"
        job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        assert job["status"] == "cancelled"
        assert "Exporting pdf" in [line["message"] for line in job["logs"]]
        job_dir = job_dir_of(job_id)
        before = sorted(p.name for p in job_dir.iterdir())
        await asyncio.sleep(3)
        assert [pid for pid in tree if alive(pid)] == []
        after = sorted(p.name for p in job_dir.iterdir())
        assert after == before
        assert not [name for name in after if name.endswith(".pdf") or name.startswith(".")]


async def test_export_progress_and_statistics(api: Any, server: TestServer) -> None:
    """A message per format started and finished, the crawl's own duration and each
    export's time in the statistics, consistent with the job's duration."""
    no_robots(server)
    server.route("/index.html", Reply(body=page("/index.html", ["/two.html"])))
    server.route("/two.html", Reply(body=page("/two.html")))
    formats = ["markdown", "json", "html"]
    async with api(**FAST) as (_, client):
        response = await client.post(
            "/api/v1/scrape",
            json={
                "url": server.url("/index.html"),
                "options": {"rate_limit": 10},
                "export_formats": formats,
            },
        )
        assert response.status_code == 202, response.text
        job = await wait_for_status(client, response.json()["job_id"])
        assert job["status"] == "completed", job
        messages = [line["message"] for line in job["logs"]]
        for name in formats:
            started = messages.index(f"Exporting {name}")
            written = [i for i, m in enumerate(messages) if m.startswith(f"{name} written (")]
            assert written and written[0] > started, messages
        assert any(m.startswith("Crawl finished: 2 pages in ") for m in messages), messages
        stats = job["statistics"]
        assert set(stats["export_durations"]) == set(formats)
        assert all(seconds >= 0 for seconds in stats["export_durations"].values())
        assert 0 < stats["crawl_duration"] <= job["duration"]
        assert stats["crawl_duration"] + sum(stats["export_durations"].values()) <= job["duration"]

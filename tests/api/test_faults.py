"""Jobs under faults, over the real app against real servers on 127.0.0.1: a cancelled or
timed-out export stops, progress and statistics of the exports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.jobs.export_process import descendants
from tests.api.conftest import assert_envelope, make_settings, running_app, wait_for_status
from tests.api.test_live_server import LiveServer
from tests.support.server import Reply, RequestInfo, TestServer
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


def is_chromium(pid: int) -> bool:
    try:
        return b"chrom" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.skipif(find_browser(None) is None, reason="needs Chromium to print a PDF")
@pytest.mark.checklist(31)
async def test_timed_out_sync_scrape_stops_its_pdf_export(api: Any, server: TestServer) -> None:
    """The sync time cap passes while Chromium prints: the export process and the browser
    under it are killed, nothing is written into the job afterwards, the job is cancelled."""
    no_robots(server)
    server.route("/big.html", Reply(body=big_page(35_000)))  # ~4.5 MB: well past 10 s to print
    # 10 s: the crawl and extraction of the page must end inside the cap on a loaded machine.
    async with api(sync_timeout=10, **FAST) as (app, client):
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
        assert tree, "the export never started (the page is too small to print past 10 s?)"
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


@contextlib.contextmanager
def small_disk(folder: Path, size_mb: int) -> Iterator[Path]:
    """A real filesystem of ``size_mb`` (tmpfs) at ``folder``: writes past it fail with
    ENOSPC, as on a full disk. Needs root (CI runs as root); skipped otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        pytest.skip("mounting a small tmpfs to fill up needs root and mount(8)")
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run([umount, "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """A file taking all of ``folder``'s disk but ``leave`` bytes."""
    filler = folder / "filler.bin"
    size = shutil.disk_usage(folder).free - leave
    with filler.open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, size)
    return filler


@pytest.mark.parametrize(
    ("where", "second_page", "leave"),
    [
        ("crawl", 20_000, 64 * 1024),  # storing the second (big) page fills the disk
        ("export", 10, 1_500_000),  # the pages fit; the Markdown book (~2.6 MB) does not
    ],
)
@pytest.mark.checklist(30)
async def test_disk_full_mid_job(
    tmp_path: Path, server: TestServer, where: str, second_page: int, leave: int
) -> None:
    """The disk fills up while a job runs: the job ends failed with a clear message and
    its files removed (no truncated export left); with the disk still short of the
    minimum, health says degraded with the free space and submissions get 507."""
    gate = threading.Event()
    no_robots(server)
    server.route(
        "/index.html",
        Reply(body=big_page(20_000).replace("</main>", '<a href="/two.html">two</a></main>')),
    )

    def gated(_request: RequestInfo) -> Reply:
        gate.wait(30)
        return Reply(body=big_page(second_page))

    server.route("/two.html", gated)
    data = tmp_path / "data"
    try:
        with small_disk(data, 40):
            settings = make_settings(data, min_free_disk_mb=20, **FAST)
            async with running_app(settings) as (app, client):
                submitted = await client.post(
                    "/api/v1/scrape",
                    json={
                        "url": server.url("/index.html"),
                        "options": {"rate_limit": 10, "cache_enabled": False},
                        "export_formats": ["markdown"],
                    },
                )
                assert submitted.status_code == 202, submitted.text
                job_id = submitted.json()["job_id"]
                for _ in range(600):
                    if server.hits_for("/two.html"):
                        break
                    await asyncio.sleep(0.05)
                filler = fill(data, leave)
                gate.set()
                job = await wait_for_status(client, job_id)
                assert job["status"] == "failed", job
                assert "disk holding the data folder filled up" in job["error_message"]
                assert "partial files were removed" in job["error_message"]
                assert job["exports"] == []
                # The crawl stopped at the full disk: not a page error, and nothing after it.
                assert job["statistics"]["errors"] == 0, job["statistics"]
                assert job["statistics"]["pages_processed"] == (1 if where == "crawl" else 2)
                job_dir = app.state.ctx.job_dir(job_id)
                assert not job_dir.exists() or list(job_dir.iterdir()) == []

                health = (await client.get("/api/v1/system/health")).json()
                assert health["status"] == "degraded", health
                assert health["dependencies"]["storage"] == "degraded"
                assert "MB free" in health["details"]["storage"]
                refused = await client.post(
                    "/api/v1/scrape", json={"url": server.url("/index.html")}
                )
                error = assert_envelope(refused, 507, "INSUFFICIENT_STORAGE")
                assert error["details"]["min_free_mb"] == 20
                assert error["details"]["free_mb"] < 20

                filler.unlink()  # room again: healthy, and submissions are taken
                health = (await client.get("/api/v1/system/health")).json()
                assert health["dependencies"]["storage"] == "healthy", health
    finally:
        gate.set()


@pytest.mark.skipif(find_browser(None) is None, reason="needs Chromium to print a PDF")
@pytest.mark.checklist(31)
def test_sigkill_of_the_server_stops_its_export(tmp_path: Path, server: TestServer) -> None:
    """The service is killed with SIGKILL while Chromium prints: the export process and
    the browser under it end too, instead of printing on into a job nobody runs."""
    no_robots(server)
    server.route("/big.html", Reply(body=big_page(70_000)))  # ~9 MB: a minute to print
    live = LiveServer(tmp_path / "data").start()
    try:
        with live.client() as client:
            submitted = client.post(
                "/api/v1/scrape",
                json={"url": server.url("/big.html"), "export_formats": ["pdf"]},
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                job = client.get(f"/api/v1/jobs/{job_id}").json()
                if "Exporting pdf" in [line["message"] for line in job["logs"]]:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"the export never started: {job}")
        assert live.process is not None
        tree: set[int] = set()
        deadline = time.monotonic() + 60
        while not any(is_chromium(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.2)
            for pid in holders_of(tmp_path / "data" / "jobs" / job_id) - {live.process.pid}:
                tree.update([pid, *descendants(pid)])
        assert any(is_chromium(pid) for pid in tree), tree  # the export is printing
        live.signal(signal.SIGKILL)
        live.wait_exit(10)
        deadline = time.monotonic() + 10
        while [pid for pid in tree if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in tree if alive(pid)] == []
    finally:
        live.cleanup()


@pytest.mark.checklist(30)
async def test_sync_scrape_that_fills_the_disk_answers_507(
    tmp_path: Path, server: TestServer
) -> None:
    gate = threading.Event()
    no_robots(server)
    server.route("/index.html", Reply(body=page("/index.html", ["/two.html"])))

    def gated(_request: RequestInfo) -> Reply:
        gate.wait(30)
        return Reply(body=big_page(20_000))

    server.route("/two.html", gated)
    data = tmp_path / "data"
    try:
        with small_disk(data, 40):
            settings = make_settings(data, min_free_disk_mb=20, **FAST)
            async with running_app(settings) as (_, client):
                request = asyncio.create_task(
                    client.post(
                        "/api/v1/scrape/sync",
                        json={"url": server.url("/index.html"), "options": {"rate_limit": 10}},
                    )
                )
                for _ in range(600):
                    if server.hits_for("/two.html"):
                        break
                    await asyncio.sleep(0.05)
                fill(data, 64 * 1024)
                gate.set()
                error = assert_envelope(await request, 507, "INSUFFICIENT_STORAGE")
                assert "filled up" in error["message"] and error["details"]["job_id"]
    finally:
        gate.set()

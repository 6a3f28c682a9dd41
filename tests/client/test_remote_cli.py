"""``scrape-docs jobs ...`` against a real ``scrape-docs serve`` on 127.0.0.1: each command
end to end, its output and exit status (run in this process through ``main``, as the
entry point runs it, except where a terminal is needed)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scrape_api_docs.api.models.responses import JobDetail
from scrape_api_docs.cli import main
from tests.api.test_live_server import LiveServer, free_port
from tests.client.conftest import PAGES, Site
from tests.support.terminal import read_until_exit

CLI = [sys.executable, "-m", "scrape_api_docs.cli"]
FAST = ["--rate-limit", "10", "--no-cache"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def server_env(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server from the environment, as a user would set it once."""
    monkeypatch.setenv("SCRAPE_DOCS_SERVER", live_server.base_url)
    monkeypatch.delenv("SCRAPE_DOCS_API_KEY", raising=False)


@dataclass
class Submitted:
    status: int
    out: str
    err: str
    out_dir: Path


@pytest.fixture(scope="module")
def submitted(
    live_server: LiveServer, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> Submitted:
    """``jobs submit --wait -o`` of the fixture site, once for the module (a job costs
    seconds); its output captured as a user's terminal-less run would show it."""
    out_dir = tmp_path_factory.mktemp("cli") / "out"
    out, err = io.StringIO(), io.StringIO()
    args = [*("jobs", "submit", site.docs, *FAST, "--format", "markdown", "--format", "json")]
    args += ["--wait", "-o", str(out_dir), "--server", live_server.base_url]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return Submitted(status, out.getvalue(), err.getvalue(), out_dir)


def test_submit_wait_ends_with_the_summary_of_a_local_crawl(
    capsys: pytest.CaptureFixture[str], submitted: Submitted, tmp_path: Path
) -> None:
    status, out, err, out_dir = submitted.status, submitted.out, submitted.err, submitted.out_dir
    assert status == 0, err
    job_id = out.splitlines()[0]
    assert job_id.startswith("job_")
    lines = err.splitlines()
    assert any(line.startswith("[") and "Processed page" in line for line in lines)
    summary = next(line for line in lines if line.startswith("done:"))
    assert summary.startswith(f"done: {len(PAGES)} pages crawled in ") and "pages/s" in summary
    assert "cache 0 hits / 4 misses" in summary
    assert any(line.startswith("total: ") for line in lines)
    for fmt in ("markdown", "json"):
        line = next(line for line in out.splitlines() if line.startswith(f"{fmt}: "))
        assert f"{out_dir}/" in line and ", built in " in line
    book = next(out_dir.glob("*.md")).read_text()
    assert all(f"Content of {path}." in book for path in PAGES)

    # The same job from the other commands, by the id printed.
    status, out, err = run(capsys, "jobs", "list", "--status", "completed")
    assert status == 0 and any(
        line.startswith(f"{job_id}\tcompleted\t4\t") for line in out.splitlines()
    )
    status, out, _ = run(capsys, "jobs", "show", job_id)
    assert status == 0 and "status:   completed" in out and "markdown: " in out
    status, out, _ = run(capsys, "jobs", "show", job_id, "--json")
    assert JobDetail.model_validate_json(out).job_id == job_id
    status, out, err = run(capsys, "jobs", "watch", job_id)  # already done: the summary
    assert status == 0 and f"done: {len(PAGES)} pages crawled" in err
    target = tmp_path / "book.md"
    status, out, _ = run(capsys, "jobs", "download", job_id, "-o", str(target))
    assert status == 0 and out.strip() == str(target) and target.read_text() == book
    status, out, _ = run(
        capsys, "jobs", "download", job_id, "--format", "json", "-o", str(tmp_path)
    )
    assert status == 0 and json.loads(Path(out.strip()).read_text())


def test_cancel_then_watch_exits_non_zero(capsys: pytest.CaptureFixture[str], site: Site) -> None:
    status, out, err = run(capsys, "jobs", "submit", site.slow, *FAST)
    assert status == 0, err
    job_id = out.strip()
    assert f"scrape-docs jobs watch {job_id}" in err
    status, out, err = run(capsys, "jobs", "cancel", job_id)
    assert status == 0 and f"{job_id}: cancelled" in out, err
    status, out, err = run(capsys, "jobs", "watch", job_id)
    assert status == 1 and err.splitlines()[-1].startswith(f"error: job {job_id} cancelled")
    assert any(line.startswith("done: ") for line in err.splitlines())
    status, _, err = run(capsys, "jobs", "cancel", job_id)  # nothing to cancel: bad input
    assert status == 2 and "already cancelled" in err and "--delete" in err
    status, out, _ = run(capsys, "jobs", "cancel", job_id, "--delete")
    assert status == 0 and "deleted" in out


def test_errors_are_one_line_with_the_local_exit_codes(
    capsys: pytest.CaptureFixture[str], site: Site
) -> None:
    status, _, err = run(capsys, "jobs", "show", "job_0000000000000000")
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("error: JOB_NOT_FOUND: job job_0000000000000000 not found (request req_")
    status, _, err = run(capsys, "jobs", "submit", site.docs, "--max-depth", "1000")
    assert status == 2 and err.startswith("error: VALIDATION_ERROR: options.max_depth")
    status, _, err = run(capsys, "jobs", "submit", site.docs, "--format", "docx")
    assert status == 2 and err.startswith("error: INVALID_OPTIONS: ")
    status, _, err = run(capsys, "jobs", "submit", "ftp://example.com/")
    assert status == 2 and err.startswith("error: INVALID_URL: ")
    nowhere = f"http://127.0.0.1:{free_port()}"
    status, _, err = run(capsys, "jobs", "list", "--server", nowhere)
    assert status == 1 and err.startswith(f"error: cannot reach the server at {nowhere}")


def test_shell_completion(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """click's own completion: the script to source, and what it completes."""
    monkeypatch.setenv("_SCRAPE_DOCS_COMPLETE", "bash_source")
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 0
    script = capsys.readouterr().out
    assert "_scrape_docs_completion()" in script
    assert "complete -o nosort -F _scrape_docs_completion scrape-docs" in script
    monkeypatch.setenv("_SCRAPE_DOCS_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "scrape-docs jobs w")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit):
        main([])
    assert capsys.readouterr().out.split() == ["plain,watch"]


def test_the_live_bar_on_a_terminal(live_server: LiveServer, submitted: Submitted) -> None:
    job_id = submitted.out.splitlines()[0]
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI with the pty as its terminal
        os.environ["COLUMNS"] = "120"
        os.environ["SCRAPE_DOCS_SERVER"] = live_server.base_url
        os.execv(sys.executable, [*CLI, "jobs", "watch", job_id])
    status, text = read_until_exit(fd, pid, 90)
    assert status == 0, text
    assert "crawling" in text  # the live bar was drawn
    assert f"done: {len(PAGES)} pages" in text

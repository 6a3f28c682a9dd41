"""The scrape-docs command, run as a user runs it: a real process against a real server."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Reply, TestServer
from tests.support.terminal import read_until_exit

CLI = [sys.executable, "-m", "scrape_api_docs.cli"]


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPER_")}
    # The page cache goes to the user's cache folder: a test's own, never the real one.
    full_env["XDG_CACHE_HOME"] = str(cwd / "xdg-cache")
    full_env.update(env or {})
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_scrape_writes_the_book_and_reports(site_server: Any, tmp_path: Path) -> None:
    server = site_server("sphinx_classic")
    out = tmp_path / "book.md"
    result = run(
        [
            "scrape",
            server.url("/index.html"),
            "-o",
            str(out),
            "--no-rate-limit",
            "--allow-private-networks",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    book = out.read_text()
    assert book.startswith("# Quillstore")
    assert "## Contents" in book and "```python3" in book
    assert f"markdown: {out}" in result.stdout
    lines = result.stderr.splitlines()
    assert any(line.startswith("[1/") for line in lines)  # plain progress lines off a terminal
    summary = next(line for line in lines if line.startswith("done:"))
    assert "5 pages" in summary and "errors" in summary and "skipped" in summary
    assert any("HTTP 404" in line for line in lines)  # genindex.html etc. are dead links
    assert (tmp_path / "xdg-cache" / "scrape-api-docs" / "pages.sqlite").exists()


def test_several_formats_with_a_title_and_author(site_server: Any, tmp_path: Path) -> None:
    """Several ``--format``s write a folder named as in a job's folder; ``--title`` and
    ``--author`` reach the EPUB's metadata."""
    server = site_server("sphinx_classic")
    out = tmp_path / "out"
    result = run(
        [
            "scrape",
            server.url("/index.html"),
            *("--format", "epub", "--format", "markdown_pages", "--format", "markdown"),
            *("--title", "The Handbook", "--author", "Ada Example"),
            *("-o", str(out), "--no-rate-limit", "--allow-private-networks"),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "markdown-pages.zip",
        "output.epub",
        "output.md",
    ]
    with zipfile.ZipFile(out / "output.epub") as epub:
        opf = epub.read("EPUB/content.opf").decode()
    assert "<dc:title>The Handbook</dc:title>" in opf
    assert "<dc:creator>Ada Example</dc:creator>" in opf
    assert (out / "output.md").read_text().startswith("# The Handbook")


def test_second_run_is_served_from_the_cache(site_server: Any, tmp_path: Path) -> None:
    server = site_server("plain")
    args = ["scrape", server.url("/index.html"), "-o", str(tmp_path / "a.md"), "--no-rate-limit"]
    env = {"SCRAPER_ALLOW_PRIVATE_NETWORKS": "1", "XDG_CACHE_HOME": str(tmp_path / "state")}
    assert run(args, tmp_path, env).returncode == 0
    hits = len(server.hits)
    second = run(args, tmp_path, env)
    assert second.returncode == 0
    assert "cache 4 hits / 0 misses" in second.stderr
    assert len(server.hits) - hits <= 6  # robots.txt, sitemap.xml and dead links only


def test_private_networks_are_refused_without_the_opt_in(site_server: Any, tmp_path: Path) -> None:
    server = site_server("plain")
    result = run(["scrape", server.url("/index.html")], tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert (
        result.stderr.startswith("error: INVALID_URL:")
        and "--allow-private-networks" in result.stderr
    )
    assert server.hits == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["scrape", "http://x.org/", "--max-depth", "0"],
            "--max-depth: Input should be greater than or equal to 1",
        ),
        (
            ["scrape", "http://x.org/", "--rate-limit", "50"],
            "--rate-limit: Input should be less than or equal to 10",
        ),
        (
            ["scrape", "http://x.org/", "--timeout", "1"],
            "--timeout: Input should be greater than or equal to 5",
        ),
        (["scrape", "http://x.org/", "--rate-limit", "fast"], "'fast' is not a valid float"),
        (["scrape", "ftp://x.org/"], "INVALID_URL: URL scheme 'ftp' is not allowed"),
        (["scrape", "http://2130706433/"], "INVALID_URL: non-standard IP address spelling"),
        (["scrape", "not a url"], "INVALID_URL"),
        (["scrape", "http://x.org/", "--format", "docx"], "Invalid value for '--format'"),
        (["scrape"], "Missing argument 'URL'"),
        (
            ["scrape", "http://x.org/", "--user-agent", "é"],
            "--user-agent: the user agent must be printable ASCII",
        ),
        (["scrape", "http://x.org/", "--user-agent", "bot\tv1"], "--user-agent: the user agent"),
        (["scrape", "http://x.org/", "--max-pages", "lots"], "'lots' is not a valid integer"),
        (["scrape", "http://x.org/", "--wait-for-selector", "div["], "--wait-for-selector"),
        (["keys", "revoke", "key_nope"], "no key with id 'key_nope'"),
    ],
)
@pytest.mark.checklist(35)
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = run(args, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_failed_crawl_exits_non_zero(server: TestServer, tmp_path: Path) -> None:
    server.route("/robots.txt", Reply(404, ""))
    server.route("/docs/", Reply(500, "broken"))
    result = run(
        ["scrape", server.url("/docs/"), "--allow-private-networks", "-o", str(tmp_path / "x.md")],
        tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        "error: SCRAPING_FAILED: nothing could be crawled"
    )
    assert not (tmp_path / "x.md").exists()


def test_live_progress_bar_on_a_terminal(site_server: Any, tmp_path: Path) -> None:
    server = site_server("mkdocs_material")
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI with the pty as its terminal
        os.chdir(tmp_path)
        os.environ["COLUMNS"] = "120"
        os.execv(
            sys.executable,
            [
                *CLI,
                "scrape",
                server.url("/index.html"),
                "-o",
                "b.md",
                "--allow-private-networks",
                "--no-rate-limit",
            ],
        )
    status, text = read_until_exit(fd, pid, 60)
    assert status == 0, text
    assert "crawling" in text  # the live bar was drawn
    assert "done: 4 pages" in text
    assert (tmp_path / "b.md").exists()


def one_line_error(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_output_that_cannot_be_written_is_refused_before_crawling(
    server: TestServer, tmp_path: Path
) -> None:
    server.route("/docs/", Reply(200, "<html><title>Docs</title><p>Some words.</p></html>"))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    (tmp_path / "folder").mkdir()
    scrape = ["scrape", server.url("/docs/"), "--allow-private-networks"]
    cases = [
        (["-o", str(a_file / "x.md")], f"{a_file} is a file, not a folder"),
        (["-o", str(a_file / "deeper" / "x.md")], f"{a_file} is a file, not a folder"),
        (["-o", "/proc/x.md"], "cannot write in /proc"),
        (["-o", str(tmp_path / "folder")], "is a folder; give a file name"),
        (["-o", str(a_file), "--format", "json", "--format", "epub"], "is a file; several"),
    ]
    for args, message in cases:
        one_line_error(run([*scrape, *args], tmp_path), 2, message)
    assert server.hits == []  # refused before any request


def test_an_invalid_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    result = run(["scrape", "http://x.org/"], tmp_path, {"SCRAPER_USER_AGENT": "bot ü"})
    one_line_error(result, 2, "SCRAPER_USER_AGENT: the user agent must be printable ASCII")


def test_an_unwritable_cache_folder_is_one_line(server: TestServer, tmp_path: Path) -> None:
    server.route("/docs/", Reply(200, "<html><title>Docs</title><p>Some words.</p></html>"))
    blocker = tmp_path / "cache-file"
    blocker.write_text("")
    result = run(
        ["scrape", server.url("/docs/"), "--allow-private-networks", "-o", str(tmp_path / "b.md")],
        tmp_path,
        {"XDG_CACHE_HOME": str(blocker)},
    )
    one_line_error(result, 1, str(blocker / "scrape-api-docs"))


def test_the_page_cache_lives_in_the_user_cache_folder(site_server: Any, tmp_path: Path) -> None:
    """``$XDG_CACHE_HOME/scrape-api-docs``, never ``./data`` of the current folder."""
    server = site_server("plain")
    work, cache_home = tmp_path / "work", tmp_path / "cache-home"
    work.mkdir()
    args = ["scrape", server.url("/index.html"), "-o", "book.md", "--no-rate-limit"]
    env = {"SCRAPER_ALLOW_PRIVATE_NETWORKS": "1", "XDG_CACHE_HOME": str(cache_home)}
    result = run(args, work, env)
    assert result.returncode == 0, result.stderr
    assert (cache_home / "scrape-api-docs" / "pages.sqlite").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["book.md"]


def test_summary_gives_the_crawl_rate_and_each_exports_time(
    site_server: Any, tmp_path: Path
) -> None:
    """The rate is pages over the crawl's own time, and each export's time is its own
    line: exports must not be counted as crawl time."""
    server = site_server("sphinx_classic")
    out = tmp_path / "out"
    result = run(
        [
            "scrape",
            server.url("/index.html"),
            *("--format", "markdown", "--format", "json"),
            *("-o", str(out), "--no-rate-limit", "--allow-private-networks"),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = next(line for line in result.stderr.splitlines() if line.startswith("done:"))
    found = re.match(r"done: (\d+) pages crawled in ([\d.]+)s \(([\d.]+) pages/s\)", summary)
    assert found, summary
    pages, seconds, rate = int(found[1]), float(found[2]), float(found[3])
    assert pages == 5 and seconds > 0
    # Both are printed to one decimal: the crawl's own time lies within 0.05 s of
    # ``seconds`` (0.2 s for a 0.24 s crawl), its rate within 0.05 of ``rate``.
    slowest, fastest = pages / (seconds + 0.05), pages / max(seconds - 0.05, 0.01)
    assert slowest - 0.05 <= rate <= fastest + 0.05, summary
    for name in ("markdown", "json"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"{name}:"))
        assert re.search(r", built in \d+\.\ds\)$", line), line
    assert re.search(r"^total: [\d.]+s$", result.stderr, re.M), result.stderr

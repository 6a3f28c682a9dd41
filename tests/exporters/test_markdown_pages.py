"""Markdown pages from a real crawl, unzipped and read back: files mirror the site's paths,
links between them resolve, and hostile URLs cannot name a path outside the folder."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from scrape_api_docs.exporters.markdown_pages import assign_paths, page_path, relative_link
from scrape_api_docs.jobs.pipeline import export_all
from tests.conftest import CrawlFn
from tests.exporters.common import SPHINX_TITLES

FOLDER = "/docs/"
LINK = re.compile(r"\]\((<[^>\n]*>|[^)\s]+)(?:\s+\"[^\"\n]*\")?\)")
SPHINX_FILES = ["index.md", "intro.md", "tutorial.md", "library/quillstore.md", "faq.md"]


async def export_sphinx(site_server: Any, crawl: CrawlFn, tmp_path: Path) -> tuple[str, Path]:
    server = site_server("sphinx_classic")
    start = server.url("/index.html")
    _, store = await crawl(start)
    [artifact] = export_all(store, start, ["markdown_pages"], tmp_path / "pages.zip")
    assert artifact.content_type == "application/zip"
    root = tmp_path / "pages"
    with zipfile.ZipFile(artifact.path) as zf:
        assert zf.testzip() is None
        zf.extractall(root)
    return server.base, root


async def test_files_mirror_the_site_and_links_resolve(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    base, root = await export_sphinx(site_server, crawl, tmp_path)
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert names == sorted(["SUMMARY.md", *SPHINX_FILES])
    relative = 0
    for name in SPHINX_FILES:
        text = (root / name).read_text()
        lines = text.splitlines()
        assert lines[0].startswith("# ") and lines[1] == ""
        assert lines[2].startswith(f"Source: <{base}/")
        for target in LINK.findall(text):
            parts = urlsplit(target.strip("<>"))
            if parts.scheme:
                assert parts.scheme in ("http", "https", "mailto")
                assert not target.startswith(base), f"{name}: crawled page left absolute: {target}"
                continue
            if parts.path:
                assert parts.path.endswith(".md")
                assert (root / name).parent.joinpath(unquote(parts.path)).resolve().is_file()
                relative += 1
    assert relative >= 10
    tutorial = (root / "tutorial.md").read_text()
    assert "Values are serialised with pickle" in tutorial
    assert "](library/quillstore.md#quillstore.open " in tutorial  # fragment kept
    assert "```ini\n[quillstore]\nbackend = log" in tutorial  # code verbatim
    reference = (root / "library/quillstore.md").read_text()
    assert "](../tutorial.md#reading-and-writing)" in reference
    assert "](#quillstore.Store " in reference  # a link within the page stays in the page
    assert "[SQLite](https://www.sqlite.org/)" in (root / "intro.md").read_text()
    assert (root / "intro.md").read_text().startswith("# Introduction\n\nSource: <")
    assert "\n## Storage backends\n" in (root / "intro.md").read_text()


async def test_summary_lists_pages_in_reading_order(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    _, root = await export_sphinx(site_server, crawl, tmp_path)
    summary = (root / "SUMMARY.md").read_text()
    entries = re.findall(r"^- \[(.+)\]\((.+)\)$", summary, re.M)
    assert [path for _, path in entries] == SPHINX_FILES
    assert [title for title, _ in entries] == SPHINX_TITLES
    assert summary.startswith(f"# {SPHINX_TITLES[0]}\n")


def test_page_path_mirrors_the_url() -> None:
    assert page_path("https://x/docs/library/os.html", FOLDER) == "library/os.md"
    assert page_path("https://x/docs/", FOLDER) == "index.md"
    assert page_path("https://x/docs/index.html", FOLDER) == "index.md"
    assert page_path("https://x/docs/guide/", FOLDER) == "guide/index.md"
    assert page_path("https://x/docs/guide", FOLDER) == "guide.md"
    assert page_path("https://x/elsewhere/a.htm", FOLDER) == "elsewhere/a.md"
    assert page_path("https://x/docs/p?id=3&x=y", FOLDER) == "p-id-3-x-y.md"
    assert page_path("https://x/docs/%E6%97%A5%E6%9C%AC.html", FOLDER) == "日本.md"
    assert page_path("https://x/docs/x.md/y", FOLDER) == "x_md/y.md"  # never a folder "x.md"
    assert page_path("https://x/docs/con.html", FOLDER) == "_con.md"


HOSTILE = [
    "https://x/docs/../../etc/passwd",
    "https://x/docs/%2e%2e/%2e%2e/etc/passwd",
    "https://x/docs/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "https://x/docs/%252e%252e%252f%252e%252e%252fsecret",
    "https://x/docs/..%5C..%5Cwindows%5Cwin.ini",
    "https://x/docs/C:%5Cboot.ini",
    "https://x/docs//%2Fabsolute/path",
    "https://x/docs/.hidden/.env",
    "https://x/docs/a/./b/../c/..",
    "https://x/docs/%00nul%0Abyte.html",
    "https://x/docs/" + "a" * 300 + ".html",
    "https://x/docs/" + "é" * 200 + ".html",
    "https://x/docs/" + "/".join(["folder" * 12] * 40) + "/page.html",
    "https://x/docs/..",
    "https://x/docs/.../....",
]


def test_page_path_is_safe_for_hostile_urls(tmp_path: Path) -> None:
    paths = assign_paths(HOSTILE, FOLDER)
    assert len(set(paths)) == len(paths)
    for url, path in zip(HOSTILE, paths, strict=True):
        pure = PurePosixPath(path)
        assert not pure.is_absolute() and path.endswith(".md"), (url, path)
        assert "\\" not in path and ":" not in path and "\x00" not in path, (url, path)
        assert all(part not in ("", ".", "..") for part in path.split("/")), (url, path)
        assert all(not part.startswith(".") for part in pure.parts), (url, path)
        assert all(len(part.encode()) <= 64 for part in pure.parts), (url, path)
        assert len(path.encode()) <= 200, (url, path)
        assert (tmp_path / path).resolve().is_relative_to(tmp_path.resolve())
    # Two long names that share a prefix stay apart.
    long_a, long_b = (f"https://x/docs/{'n' * 100}{tail}.html" for tail in "ab")
    assert page_path(long_a, FOLDER) != page_path(long_b, FOLDER)


def test_colliding_paths_are_made_unique_even_ignoring_case() -> None:
    urls = [
        "https://x/docs/Guide.html",
        "https://x/docs/guide.htm",
        "https://x/docs/guide",
        "https://x/docs/SUMMARY.html",
        "https://x/docs/guide-2.html",
    ]
    paths = assign_paths(urls, FOLDER)
    assert paths == ["Guide.md", "guide-2.md", "guide-3.md", "SUMMARY-2.md", "guide-2-2.md"]
    assert len({p.casefold() for p in paths}) == len(paths)


def test_relative_links() -> None:
    assert relative_link("library/os.md", "index.md", "x") == "../index.md#x"
    assert relative_link("index.md", "library/os.md") == "library/os.md"
    assert relative_link("a/b.md", "a/b.md", "frag") == "#frag"
    assert relative_link("a/b.md", "a/b.md") == "b.md"
    assert relative_link("a.md", "日本 x.md") == "%E6%97%A5%E6%9C%AC%20x.md"

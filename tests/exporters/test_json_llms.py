"""JSON, JSON Lines and llms.txt from a real crawl of a fixture site, read back by
independent parsers (json, a line-by-line reader, the llmstxt.org structure)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pyromark
import pytest

from scrape_api_docs.exporters.text import code_blocks, plain_text, summary
from scrape_api_docs.jobs.pipeline import export_all
from tests.conftest import CrawlFn
from tests.exporters.common import HOSTILE_TITLE, write_hostile_site
from tests.support.server import TestServer

PAGE_FIELDS = {
    "position": int,
    "url": str,
    "final_url": str,
    "title": str,
    "anchor": str,
    "headings": list,
    "terms": list,
    "markdown": str,
    "text": str,
    "code_blocks": list,
    "links": list,
    "word_count": int,
    "token_estimate": int,
    "fetched_at": str,
    "content_hash": str,
}


async def crawl_site_formats(site_server: Any, crawl: CrawlFn, tmp_path: Path) -> dict[str, Path]:
    server = site_server("sphinx_classic")
    start = server.url("/index.html")
    _, store = await crawl(start)
    artifacts = export_all(
        store, start, ["json", "jsonl", "llms_txt", "markdown"], tmp_path / "out"
    )
    return {a.format: a.path for a in artifacts}


def check_page(page: dict[str, Any]) -> None:
    for field, kind in PAGE_FIELDS.items():
        assert isinstance(page[field], kind), field
    assert page["content_hash"].startswith("sha256:") and len(page["content_hash"]) == 71
    assert page["word_count"] > 0 and page["token_estimate"] > 0


async def test_json_follows_the_documented_schema(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    files = await crawl_site_formats(site_server, crawl, tmp_path)
    data = json.loads(files["json"].read_text())
    assert data["schema"] == "scrape-api-docs/pages" and data["version"] == 1
    assert data["site"]["page_count"] == len(data["pages"]) == 5
    for page in data["pages"]:
        check_page(page)
    titles = [p["title"] for p in data["pages"]]
    assert titles[:3] == [
        "Quillstore — a small persistent key-value store",
        "Introduction",
        "Tutorial",
    ]
    tutorial = data["pages"][2]
    languages = {b["language"] for b in tutorial["code_blocks"]}
    assert {"python3", "pycon", "ini"} <= languages
    assert any(
        '>>> store = quillstore.open("settings.qs")' in b["code"] for b in tutorial["code_blocks"]
    )
    assert "```" not in tutorial["text"] and "](" not in tutorial["text"]
    # API entries with the id they had: final_url#anchor is a deep link to each.
    reference = next(p for p in data["pages"] if p["url"].endswith("/library/quillstore.html"))
    entries = {h["anchor"]: h["text"] for h in reference["headings"]}  # signatures: headings
    assert entries["quillstore.open"].startswith("quillstore.open(")
    assert "quillstore.Store.compact" in entries


async def test_jsonl_streams_one_record_a_line(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    files = await crawl_site_formats(site_server, crawl, tmp_path)
    records = [json.loads(line) for line in files["jsonl"].read_text().splitlines()]
    assert records[0]["type"] == "site" and records[0]["version"] == 1
    assert [r["type"] for r in records[1:]] == ["page"] * 5
    for record in records[1:]:
        check_page(record)


async def test_llms_txt_follows_the_format(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    files = await crawl_site_formats(site_server, crawl, tmp_path)
    text = files["llms_txt"].read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# ") and lines[2].startswith("> ")  # title, then the summary
    sections = [line for line in lines if line.startswith("## ")]
    assert sections, "at least one section of links"
    links = [line for line in lines if line.startswith("- [")]
    assert len(links) == 5
    assert all(re.match(r"^- \[[^\]]+\]\(https?://[^)]+\)(: .+)?$", line) for line in links)
    full = files["llms_full"].read_text()
    assert "Values are serialised with pickle" in full and full.count("Source: <") == 5


def test_text_helpers() -> None:
    markdown = (
        "# Title\n\nSee [the guide](https://x.org/g) and ![logo](https://x.org/l.png).\n\n"
        "```python\nprint(1)\n```\n\n> **Note**\n>\n> Careful: 2 \\* 3."
    )
    assert code_blocks(markdown)[0].language == "python"
    assert code_blocks(markdown)[0].code == "print(1)"
    text = plain_text(markdown)
    assert "the guide" in text and "https://" not in text and "logo" in text
    assert "Careful: 2 * 3." in text and "**" not in text
    assert summary(markdown) == "See the guide and logo."


def check_markdown_is_inert(name: str, markdown: str) -> None:
    """Rendered by a CommonMark renderer: no tag of the page's, no link or image that is
    not http(s), mailto, in-book or a raster picture."""
    rendered = pyromark.html(markdown, options=pyromark.Options.ENABLE_TABLES)
    assert "<script" not in rendered, name
    for url in re.findall(r'(?:href|src)="([^"]*)"', rendered):
        assert re.match(r"(https?:|mailto:|#|data:image/png)", url) or not re.match(
            r"[a-z][a-z0-9+.-]*:", url.lower()
        ), f"{name}: {url}"


@pytest.mark.checklist(33)
async def test_markdown_exports_of_a_hostile_site_are_text(crawl: CrawlFn, tmp_path: Path) -> None:
    server = TestServer(write_hostile_site(tmp_path / "hostile")).start()
    try:
        start = server.url("/index.html")
        _, store = await crawl(start)
    finally:
        server.stop()
    formats = ["markdown", "markdown_pages", "llms_txt", "json"]
    files = {a.format: a.path for a in export_all(store, start, formats, tmp_path / "out")}
    texts = {
        "markdown": files["markdown"].read_text(),
        "llms.txt": files["llms_txt"].read_text(),
        "llms-full.txt": files["llms_full"].read_text(),
    }
    with zipfile.ZipFile(files["markdown_pages"]) as zf:
        texts |= {name: zf.read(name).decode() for name in zf.namelist()}
    pages = json.loads(files["json"].read_text())["pages"]
    texts |= {f"json {page['url']}": page["markdown"] for page in pages}
    for name, text in texts.items():
        check_markdown_is_inert(name, text)
    book = pyromark.html(texts["markdown"])
    assert book.startswith("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>")
    assert book.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # title, contents, chapter
    assert "encoded link" in book and "mixed case" in book and "html image" in book
    assert "[a link](javascript:alert(13))" in book  # as text
    for name in ("llms.txt", "llms-full.txt", "SUMMARY.md", "index.md"):
        first = pyromark.html(texts[name]).split("\n")[0]
        assert first == "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>", (name, first)
    assert pages[0]["title"] == HOSTILE_TITLE

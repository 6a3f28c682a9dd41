"""Where the printed PDF breaks pages: never between an admonition's title and its body,
nor between a heading and the block after it. Chapters whose filler grows a line at a time
push the title, or the heading, across every position near the foot of a page, so some
would end a page without the rules; pypdf reads each page's text back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pypdf import PdfReader

from scrape_api_docs.jobs.pipeline import export_all
from tests.conftest import CrawlFn
from tests.exporters.test_pdf import context, needs_chromium, page
from tests.support.server import TestServer

LINES = range(38, 66)
"""Filler lines before the block under test: an A4 page holds about 50 of them."""


def filler(n: int) -> str:
    return "<p>" + "<br>".join(f"Filler line {i} of {n}." for i in range(n)) + "</p>"


def breaks_site(root: Path) -> None:
    root.mkdir()
    links = []
    for n in LINES:
        links.append(f'<li><a href="note-{n}.html">Note {n}</a></li>')
        (root / f"note-{n}.html").write_text(
            page(
                f"Note {n}",
                f"<h1>Note chapter {n}</h1>{filler(n)}"
                f'<div class="admonition warning"><p class="admonition-title">Mind {n}</p>'
                f"<p>Warning body {n} first line.</p></div>",
            )
        )
        links.append(f'<li><a href="heading-{n}.html">Heading {n}</a></li>')
        (root / f"heading-{n}.html").write_text(
            page(
                f"Heading {n}",
                f"<h1>Heading chapter {n}</h1>{filler(n)}"
                f"<h2>Section title {n}</h2><p>Section body {n} first line.</p>",
            )
        )
    (root / "index.html").write_text(
        page("Breaks", f"<h1>Breaks</h1><p>Every chapter below.</p><ul>{''.join(links)}</ul>")
    )


def page_of(texts: list[str], needle: str) -> int:
    [found] = [i for i, text in enumerate(texts) if needle in text]
    return found


@needs_chromium
async def test_titles_and_headings_keep_with_what_follows(crawl: CrawlFn, tmp_path: Path) -> None:
    breaks_site(tmp_path / "site")
    server = TestServer(tmp_path / "site").start()
    try:
        start = server.url("/index.html")
        _, store = await crawl(start)
    finally:
        server.stop()
    [artifact] = await asyncio.to_thread(
        export_all, store, start, ["pdf"], tmp_path / "book.pdf", context(tmp_path)
    )
    texts = [" ".join((p.extract_text() or "").split()) for p in PdfReader(artifact.path).pages]
    apart = []
    for n in LINES:
        for title, body in (
            (f"Mind {n}", f"Warning body {n}"),
            (f"Section title {n}", f"Section body {n}"),
        ):
            if page_of(texts, title) != page_of(texts, body):
                apart.append(title)
    assert apart == []

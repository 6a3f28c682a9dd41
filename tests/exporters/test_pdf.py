"""The PDF from real crawls of sites on 127.0.0.1, printed by the real Chromium (and by the
WeasyPrint fallback), read back by an independent reader (pypdf): pages, bookmarks, page
numbers, table-of-contents links, metadata, embedded images, and that Chromium fetched
nothing itself and hostile pages stay text."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from scrape_api_docs.crawler.browser import find_browser, memory_of
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.errors import ExportFailedError
from scrape_api_docs.exporters import pdf
from scrape_api_docs.exporters.pdf_weasy import print_with_weasyprint
from scrape_api_docs.exporters.registry import EXPORTERS, ExportContext
from scrape_api_docs.jobs.export_process import descendants
from scrape_api_docs.jobs.pipeline import Artifact, export_all, export_context
from scrape_api_docs.settings import Settings
from tests.conftest import CrawlFn
from tests.exporters.common import HOSTILE_TITLE, SPHINX_TITLES
from tests.support.server import Reply, TestServer

needs_chromium = pytest.mark.skipif(
    find_browser() is None, reason="no Chromium (Debian: apt-get install chromium)"
)
METADATA = {"title": "The Quillstore Handbook", "author": "Ada Example"}
LONG_TOKEN = "Q" * 400
MEMORY_BOUND = 500 * 2**20
"""Chromium's PSS printing pieces of 250 KB of HTML (what the huge-page test allows)."""


def png(width: int = 24, height: int = 16) -> bytes:
    """A real (decodable) red RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head>"
        f"<body><main>{body}</main></body></html>"
    )


def image_site(root: Path, remote_image: str) -> None:
    """Three pages: a picture served by the site, one from elsewhere, a hostile title, and
    a code line far wider than the page."""
    root.mkdir()
    (root / "pic.png").write_bytes(png())
    (root / "index.html").write_text(
        page(
            "Pictures",
            "<h1>Pictures</h1><p>A red rectangle follows.</p>"
            '<p><img src="pic.png" alt="red rectangle"></p>'
            '<p>See <a href="remote.html">the remote picture</a> and '
            '<a href="hostile.html">the hostile page</a>.</p>',
        )
    )
    (root / "remote.html").write_text(
        page(
            "Remote",
            "<h1>Remote</h1><p>This picture lives on another host.</p>"
            f'<p><img src="{remote_image}" alt="remote picture"></p>'
            f"<pre><code>{LONG_TOKEN}</code></pre>",
        )
    )
    (root / "hostile.html").write_text(
        page(
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "<p>Before the script.<script>window.pwned = 1</script> After the script.</p>"
            '<p><img src="pic.png" onerror="alert(3)" alt="again"></p>',
        )
    )


def text_of(reader: PdfReader) -> str:
    return "\n".join(p.extract_text() or "" for p in reader.pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def top_level_outline(reader: PdfReader) -> list[Any]:
    return [item for item in reader.outline if not isinstance(item, list)]


def page_index(reader: PdfReader) -> dict[int, int]:
    return {
        p.indirect_reference.idnum: i
        for i, p in enumerate(reader.pages)
        if p.indirect_reference is not None
    }


def link_targets(reader: PdfReader, number: int) -> list[int]:
    """Page indexes the internal links on page ``number`` go to: explicit destinations (the
    Chromium path writes these) or named ones (WeasyPrint's)."""
    pages = page_index(reader)
    named = reader.named_destinations
    found = []
    for ref in reader.pages[number].get("/Annots", []):
        annot = ref.get_object()
        action = annot.get("/A")
        dest = annot.get("/Dest")
        if dest is None and action is not None and action.get("/S") == "/GoTo":
            dest = action.get("/D")
        if annot.get("/Subtype") != "/Link" or dest is None:
            continue
        if isinstance(dest, ArrayObject):
            assert isinstance(dest[0], IndirectObject)
            found.append(pages[dest[0].idnum])
        else:
            found.append(reader.get_destination_page_number(named[str(dest)]))
    return found


def picture_count(reader: PdfReader) -> int:
    """Distinct image XObjects the size of ``png()`` (Chromium draws a 14x16 icon in place
    of a missing image)."""
    found = set()
    for p in reader.pages:
        resources = p.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if isinstance(resources, DictionaryObject) else None
        for ref in (xobjects.get_object() if xobjects is not None else {}).values():
            image = ref.get_object()
            if image.get("/Subtype") == "/Image" and (image["/Width"], image["/Height"]) == (
                24,
                16,
            ):
                found.add(ref.idnum)
    return len(found)


async def crawl_sphinx(site_server: Any, crawl: CrawlFn) -> tuple[Any, str]:
    server = site_server("sphinx_classic")
    start = server.url("/index.html")
    _, store = await crawl(start)
    return store, start


def context(tmp_path: Path, *, allow_private: bool = True) -> ExportContext:
    settings = Settings(data_dir=tmp_path, allow_private_networks=allow_private)
    return export_context(
        settings,
        tmp_path / "images",
        {"metadata": METADATA},
        NetworkPolicy(allow_private=allow_private),
    )


async def export_pdf(store: Any, start: str, path: Path, ctx: ExportContext) -> list[Artifact]:
    """As the service runs exporters: in a thread, with no event loop of its own."""
    return await asyncio.to_thread(export_all, store, start, ["pdf"], path, ctx)


def test_pdf_is_registered() -> None:
    exporter = EXPORTERS["pdf"]
    assert (exporter.filename, exporter.content_type) == ("output.pdf", "application/pdf")


@needs_chromium
async def test_chromium_book_in_batches(
    site_server: Any, crawl: CrawlFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One chapter per printed part: every link between chapters crosses parts.
    monkeypatch.setattr(pdf, "BATCH_BYTES", 1)
    store, start = await crawl_sphinx(site_server, crawl)
    [artifact] = await export_pdf(store, start, tmp_path / "book.pdf", context(tmp_path))
    assert artifact.content_type == "application/pdf" and artifact.size_bytes > 10_000
    reader = PdfReader(artifact.path)

    assert len(reader.pages) > len(SPHINX_TITLES) + 1  # cover, contents, chapters
    assert reader.metadata is not None
    assert reader.metadata.title == METADATA["title"]
    assert reader.metadata.author == METADATA["author"]

    chapters = top_level_outline(reader)
    assert [item.title for item in chapters] == SPHINX_TITLES
    chapter_pages = [reader.get_destination_page_number(item) for item in chapters]
    assert chapter_pages == sorted(chapter_pages) and chapter_pages[0] >= 2
    assert any(isinstance(item, list) for item in reader.outline), "sections under chapters"

    text = text_of(reader)
    assert "Values are serialised with pickle" in flat(text)
    assert ">>> store = quillstore.open(" in text
    total = len(reader.pages)
    for number in (2, total):
        assert f"{number} / {total}" in (reader.pages[number - 1].extract_text() or "")
    assert "1 / " not in (reader.pages[0].extract_text() or "")  # the cover is not numbered

    # The contents page links to every chapter's first page, across the printed parts.
    contents = reader.pages[1]
    listing = contents.extract_text() or ""
    assert "Contents" in listing
    assert link_targets(reader, 1) == chapter_pages
    # Each entry with the number of the page it goes to at the end of its line: the
    # number stamped at the foot of that page.
    lines = [
        re.sub(r"\s+", " ", line).strip()
        for line in contents.extract_text(extraction_mode="layout").splitlines()
    ]
    for n, (title, page) in enumerate(zip(SPHINX_TITLES, chapter_pages, strict=True), 1):
        assert f"{n}. {title} {page + 1}" in lines, (title, page + 1, lines)
        assert f"{page + 1} / {total}" in (reader.pages[page].extract_text() or "")
    # Links inside chapters to other chapters are resolved too: none is left pointing at
    # the printer's made-up origin.
    for p in reader.pages:
        for ref in p.get("/Annots", []):
            action = ref.get_object().get("/A")
            if action is not None:
                assert not str(action.get("/URI", "")).startswith("https://pdf.invalid")


@needs_chromium
@pytest.mark.checklist(23)
async def test_images_embedded_and_printers_fetch_nothing(crawl: CrawlFn, tmp_path: Path) -> None:
    elsewhere = TestServer().start()
    try:
        elsewhere.route("/x.png", lambda _req: _png_reply())
        image_site(tmp_path / "site", elsewhere.url("/x.png"))
        site = TestServer(tmp_path / "site").start()
        try:
            _, store = await crawl(site.url("/index.html"))
            crawl_hits = len(site.hits_for("/pic.png"))
            # Images allowed (loopback): each fetched once, by the image loader.
            loose = context(tmp_path)
            [allowed] = await export_pdf(store, site.url("/index.html"), tmp_path / "a.pdf", loose)
            assert len(site.hits_for("/pic.png")) == crawl_hits + 1
            assert len(elsewhere.hits_for("/x.png")) == 1
            # WeasyPrint, with the same loader (which has the files): no fetch at all.
            no_browser = dataclasses.replace(loose, browser_path=str(tmp_path / "no-chromium"))
            [weasy] = await export_pdf(
                store, site.url("/index.html"), tmp_path / "w.pdf", no_browser
            )
            assert len(site.hits_for("/pic.png")) == crawl_hits + 1
            assert len(elsewhere.hits_for("/x.png")) == 1
            # The default policy refuses loopback: nothing is fetched, the PDF still builds.
            [refused] = await export_pdf(
                store,
                site.url("/index.html"),
                tmp_path / "b.pdf",
                context(tmp_path / "strict", allow_private=False),
            )
            assert len(site.hits_for("/pic.png")) == crawl_hits + 1
            assert len(elsewhere.hits_for("/x.png")) == 1
        finally:
            site.stop()
    finally:
        elsewhere.stop()

    reader = PdfReader(allowed.path)
    assert picture_count(reader) >= 2  # the site's and the other host's
    text = text_of(reader)
    assert HOSTILE_TITLE in text  # the title is text, not markup
    assert "Before the script. After the script." in flat(text)
    assert "window.pwned" not in text
    # The long code line wraps instead of running off the page.
    assert "QQQQ" in text
    assert max(len(line.strip()) for line in text.splitlines() if "QQQQ" in line) < 200

    assert picture_count(PdfReader(weasy.path)) >= 2
    assert HOSTILE_TITLE in text_of(PdfReader(weasy.path))

    strict = PdfReader(refused.path)
    assert picture_count(strict) == 0
    assert [i.title for i in top_level_outline(strict)] == [
        i.title for i in top_level_outline(reader)
    ]


def _png_reply() -> Any:
    from tests.support.server import Reply

    return Reply(200, png(), content_type="image/png")


@pytest.mark.parametrize("browser", ["not-executable", "/bin/false"])
async def test_weasyprint_fallback_when_no_browser_runs(
    site_server: Any, crawl: CrawlFn, tmp_path: Path, browser: str
) -> None:
    """A configured browser that is not executable, or one that does not start: the
    fallback prints the book (a warning says why)."""
    store, start = await crawl_sphinx(site_server, crawl)
    path = browser if browser.startswith("/") else str(tmp_path / browser)
    ctx = dataclasses.replace(context(tmp_path), browser_path=path)
    [artifact] = await export_pdf(store, start, tmp_path / "weasy.pdf", ctx)
    reader = PdfReader(artifact.path)
    import shutil

    shutil.copy(artifact.path, "/tmp/book.pdf")
    assert len(reader.pages) > len(SPHINX_TITLES) + 1
    assert reader.metadata is not None
    assert reader.metadata.title == METADATA["title"]
    assert reader.metadata.author == METADATA["author"]
    assert [item.title for item in top_level_outline(reader)] == SPHINX_TITLES
    text = text_of(reader)
    assert "Values are serialised with pickle" in flat(text)
    total = len(reader.pages)
    assert f"2 / {total}" in (reader.pages[1].extract_text() or "")
    assert len(link_targets(reader, 1)) >= len(SPHINX_TITLES)  # the contents links


def test_weasyprint_time_limit_fails_cleanly(tmp_path: Path) -> None:
    html = tmp_path / "book.html"
    html.write_text("<p>hello</p>")
    with pytest.raises(ExportFailedError, match="within"):
        print_with_weasyprint(html, tmp_path / "out.pdf", {}, time_limit=0.01)
    assert not (tmp_path / "out.pdf").exists()


@needs_chromium
async def test_chromium_too_slow_fails_cleanly(
    site_server: Any, crawl: CrawlFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "PRINT_TIMEOUT", 0.001)
    store, start = await crawl_sphinx(site_server, crawl)
    with pytest.raises(ExportFailedError, match="Chromium"):
        await export_pdf(store, start, tmp_path / "out" / "book.pdf", context(tmp_path))
    assert list((tmp_path / "out").iterdir()) == []  # no book, no parts left behind


def long_chapter(sections: int) -> str:
    """A page of ``sections`` sections, a link at the top to the last and one at the end
    back to the first."""
    body = [f'<p>Jump to <a href="#s{sections}">the last section</a>.</p>']
    for n in range(1, sections + 1):
        body.append(f'<h2 id="s{n}">Section {n}</h2>')
        body.extend(
            f"<p>Paragraph {k} of section {n}. {'Words to fill lines. ' * 20}</p>" for k in range(8)
        )
        body.append(f"<pre><code>print({n})\nprint({n} * 2)</code></pre>")
    body.append('<p>Back to <a href="#s1">the first section</a>.</p>')
    return page("Long reference", "<h1>Long reference</h1>" + "".join(body))


def test_a_chapter_longer_than_the_limit_is_split_between_elements(
    tmp_path: Path,
) -> None:
    """Pieces cut between top-level elements, in order, nothing lost: each heading's
    bookmark and link target in the piece that holds it, links within the chapter sent
    through the merger (their target may be in another piece)."""
    from scrape_api_docs.exporters.html_render import RenderedChapter

    body = "".join(
        f'<h2 id="c--s{n}">Section {n}</h2><p>{"text " * 200}<br><img src="x{n}"></p>'
        f'<table><tr><td><a href="#c--s{(n % 30) + 1}">next</a></td></tr></table>'
        for n in range(1, 31)
    )
    chapter = RenderedChapter("c", "Chapter", "https://example.org/c", body, ())
    whole = pdf.chapter_part(chapter, [])
    parts = pdf.split_chapter(chapter, [], 5_000)
    assert len(parts) > 5
    assert all(len(part.html) < 5_000 + 2_000 for part in parts)
    assert [entry for part in parts for entry in part.outline] == whole.outline
    assert parts[0].html.startswith('<section class="chapter"><h1 id="c">Chapter</h1>')
    pieces = [
        re.sub(r'<div class="targets" hidden>.*?</div></section>$', "", part.html) for part in parts
    ]
    pieces[0] = pieces[0].split("</p>", 1)[1]  # after the title and source line
    pieces[1:] = [piece.removeprefix('<section class="chapter-continued">') for piece in pieces[1:]]
    assert "".join(pieces) == body.replace('href="#', f'href="{pdf.CHAPTER_LINK}')
    for part in parts:
        ids = re.findall(r' id="([^"]+)"', part.html)
        targets = re.findall(r'<a href="#([^"]+)"></a>', part.html)
        assert sorted(targets) == sorted(i for i in ids if i != "c") or part is parts[0]
    assert pdf.split_chapter(chapter, [], 1_000_000) == [whole]


@needs_chromium
async def test_a_huge_page_printed_in_pieces_keeps_its_bookmarks_and_links(
    server: TestServer, crawl: CrawlFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "SPLIT_BYTES", 20_000)
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    server.route("/index.html", Reply(body=long_chapter(40)))
    start = server.url("/index.html")
    _, store = await crawl(start)
    [artifact] = await export_pdf(store, start, tmp_path / "book.pdf", context(tmp_path))
    reader = PdfReader(artifact.path)
    [chapter] = top_level_outline(reader)
    sections = [item for item in reader.outline[1] if not isinstance(item, list)]
    assert [item.title for item in sections] == [f"Section {n}" for n in range(1, 41)]
    pages = [reader.get_destination_page_number(item) for item in sections]
    assert pages == sorted(pages) and pages[-1] > pages[0] + 5
    first_page = reader.get_destination_page_number(chapter)
    assert pages[-1] in link_targets(reader, first_page)  # top -> last section
    assert pages[0] in link_targets(reader, len(reader.pages) - 1)  # end -> first section


def _command_line(pid: int) -> str:
    """The process's command line; "" when it ended since it was listed."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def chromium_pss() -> int:
    """Summed PSS of the Chromium processes under this one (the printer's)."""
    pids = [pid for pid in descendants(os.getpid()) if "chrom" in _command_line(pid)]
    return memory_of(pids) or 0


@needs_chromium
@pytest.mark.checklist(31)
async def test_a_huge_page_prints_within_a_memory_bound(
    server: TestServer, crawl: CrawlFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chromium's memory follows the size of a piece, not of the page: a 6.5 MB page in
    pieces of 250 KB peaked at ~240 MB (PSS), under MEMORY_BOUND; printed whole, ~950 MB."""
    monkeypatch.setattr(pdf, "SPLIT_BYTES", 250_000)
    monkeypatch.setattr(pdf, "BATCH_BYTES", 250_000)
    text = "".join(
        f"<p>Paragraph {i}: the quick brown fox jumps over the lazy dog, again and again, "
        "so that the printer has many pages to lay out.</p>"
        for i in range(50_000)
    )
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    server.route("/index.html", Reply(body=page("Huge", f"<h1>Huge</h1>{text}")))
    start = server.url("/index.html")
    _, store = await crawl(start)
    peak = 0
    export = asyncio.ensure_future(
        export_pdf(store, start, tmp_path / "book.pdf", context(tmp_path))
    )
    while not export.done():
        peak = max(peak, await asyncio.to_thread(chromium_pss))
        await asyncio.sleep(0.3)
    [artifact] = export.result()
    assert len(PdfReader(artifact.path).pages) > 300
    assert 0 < peak < MEMORY_BOUND, peak / 2**20

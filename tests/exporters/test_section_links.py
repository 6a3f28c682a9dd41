"""A link to ``page#id`` lands on that section of the chapter, not on its top, in the
Markdown book, the HTML site, the EPUB and the PDF, when the id was on a heading (or its
section), on a defined term (an API entry) or on any other element (here a paragraph);
an id the page does not have lands on the chapter."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from pypdf import PdfReader

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.jobs.pipeline import export_all, export_context
from scrape_api_docs.settings import Settings
from tests.conftest import CrawlFn
from tests.exporters.test_pdf import link_targets
from tests.support.server import Reply, TestServer

FILLER = "".join(
    f"<p>Paragraph {n} of the long introduction, there to push the next section a few "
    "pages down when the book is printed.</p>"
    for n in range(120)
)
START = """<!doctype html><html><head><title>Start</title></head><body><main>
<h1>Start</h1>
<p>Read <a href="ref.html#usage">the usage section</a>, the
<a href="ref.html#ref.Client.open">open method</a>,
<a href="ref.html#index-7">an index entry</a> and <a href="ref.html">the reference</a>.
</p></main></body></html>"""
REFERENCE = f"""<!doctype html><html><head><title>Reference</title></head><body><main>
<h1>Reference</h1>{FILLER}
<section id="usage"><h2>Usage of <code>Client</code></h2>
<p>How the client is used, the paragraph the usage link must land on.</p>
<dl class="py method"><dt class="sig sig-object py" id="ref.Client.open">
<span class="sig-name descname"><span class="pre">open</span></span>(<em>path</em>)</dt>
<dd><p id="index-7">Opens a path.</p></dd></dl>
<dl><dt id="term-handle">handle</dt><dd>What open returns.</dd></dl>
</section></main></body></html>"""


async def crawl_site(server: TestServer, crawl: CrawlFn) -> tuple[Any, str]:
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    server.route("/docs/index.html", Reply(body=START))
    server.route("/docs/ref.html", Reply(body=REFERENCE))
    start = server.url("/docs/index.html")
    _, store = await crawl(start, use_sitemaps=False)
    return store, start


def export(store: Any, start: str, formats: list[str], out: Path) -> dict[str, Path]:
    settings = Settings(data_dir=out, allow_private_networks=True)
    ctx = export_context(settings, out / "images", {}, NetworkPolicy(allow_private=True))
    return {a.format: a.path for a in export_all(store, start, formats, out / "out", ctx)}


async def test_markdown_book_html_site_and_epub_land_on_the_section(
    server: TestServer, crawl: CrawlFn, tmp_path: Path
) -> None:
    store, start = await crawl_site(server, crawl)
    paths = await asyncio.to_thread(export, store, start, ["markdown", "html", "epub"], tmp_path)

    book = paths["markdown"].read_text(encoding="utf-8")
    assert "[the usage section](#ref--usage)" in book
    assert "[open method](#ref--ref.Client.open)" in book
    assert "[an index entry](#ref--index-7)" in book  # an id on a paragraph: that paragraph
    assert "[the reference](#ref)" in book
    assert '<a id="ref--usage"></a>\n\n### Usage of `Client`' in book
    assert '<a id="ref--ref.Client.open"></a>\n\n#### `open(path)`' in book  # a signature
    assert '<a id="ref--index-7"></a>\n\nOpens a path.' in book
    assert "**handle**" in book and "term-handle" not in book  # linked from nowhere: no mark

    with zipfile.ZipFile(paths["html"]) as site:
        start_page = lxml.html.fromstring(site.read("index.html"))
        reference = lxml.html.fromstring(site.read("ref.html"))
    hrefs = {a.text_content(): a.get("href") for a in start_page.xpath("//main//a")}
    assert hrefs["the usage section"] == "ref.html#ref--usage"
    assert hrefs["open method"] == "ref.html#ref--ref.Client.open"
    assert hrefs["an index entry"] == "ref.html#ref--index-7"
    assert hrefs["the reference"] == "ref.html"
    [heading] = reference.xpath('//*[@id="ref--usage"]')
    assert heading.tag == "h2" and heading.text_content() == "Usage of Client"
    [signature] = reference.xpath('//*[@id="ref--ref.Client.open"]')  # a heading now
    assert signature.tag == "h3" and signature.text_content() == "open(path)"

    with zipfile.ZipFile(paths["epub"]) as epub:
        names = epub.namelist()
        [start_file] = [n for n in names if n.endswith("/index.xhtml")]
        [ref_file] = [n for n in names if n.endswith("/ref.xhtml")]
        start_doc = lxml.html.fromstring(epub.read(start_file))
        ref_doc = lxml.html.fromstring(epub.read(ref_file))
    hrefs = {a.text_content(): a.get("href") for a in start_doc.iter("{*}a")}
    assert hrefs["the usage section"] == "ref.xhtml#ref--usage"
    assert hrefs["open method"] == "ref.xhtml#ref--ref.Client.open"
    assert [el.tag.rpartition("}")[2] for el in ref_doc.xpath('//*[@id="ref--usage"]')] == ["h2"]
    assert len(ref_doc.xpath('//*[@id="ref--ref.Client.open"]')) == 1


@pytest.mark.skipif(find_browser() is None, reason="needs Chromium")
async def test_pdf_link_goes_to_the_section_page(
    server: TestServer, crawl: CrawlFn, tmp_path: Path
) -> None:
    store, start = await crawl_site(server, crawl)
    paths = await asyncio.to_thread(export, store, start, ["pdf"], tmp_path)
    reader = PdfReader(paths["pdf"])
    [start_item, reference_item, sections] = reader.outline
    assert (start_item.title, reference_item.title) == ("Start", "Reference")
    usage = sections[0]  # (the method's signature below it)
    assert usage.title == "Usage of Client"
    chapter_page = reader.get_destination_page_number(reference_item)
    usage_page = reader.get_destination_page_number(usage)
    assert usage_page > chapter_page  # the filler pushed it down
    start_page = reader.get_destination_page_number(start_item)
    # The start chapter's links: the section's page, the method's (on it or the next),
    # the index entry's (the paragraph after the method), then the chapter's.
    usage, method, entry, chapter = link_targets(reader, start_page)
    assert usage == usage_page and method in (usage_page, usage_page + 1)
    assert "open(path)" in (reader.pages[method].extract_text() or "")
    assert "Opens a path." in (reader.pages[entry].extract_text() or "")
    assert chapter == chapter_page


ENTRIES = """<!doctype html><html><head><title>Entries</title></head><body><main>
<h1>Entries</h1>
<p>Entries in markup no generator rule knows, each linked from the start page.</p>
{filler}
<div class="member" id="foo.bar"><code>foo.bar()</code><p>Calls bar.</p></div>
{filler}
<h4><a name="legacy"></a>Legacy entry</h4><p>Legacy body.</p>
{filler}
<p>Some text with <span id="inline.target">an inline target</span> inside.</p>
{filler}
<ul><li><dl><dt id="nested.x">nested.x()</dt><dd>Nested body.</dd></dl></li></ul>
<table><tr id="row.y"><td>row.y</td><td>A row entry.</td></tr></table>
<pre><code><span id="line-3">code line three</span></code></pre>
</main></body></html>""".format(filler="<p>Filler paragraph between entries.</p>" * 3)
ENTRY_IDS = ["foo.bar", "legacy", "inline.target", "nested.x", "row.y", "line-3"]
ENTRY_TEXT = {
    "foo.bar": "foo.bar()",
    "legacy": "Legacy entry",
    "inline.target": "an inline target",
    "nested.x": "nested.x()",
    "row.y": "row.y",
    "line-3": "code line three",
}


async def test_every_entry_anchor_sits_at_its_entry(
    server: TestServer, crawl: CrawlFn, tmp_path: Path
) -> None:
    links = " ".join(f'<a href="entries.html#{i}">to {i}</a>' for i in ENTRY_IDS)
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    server.route(
        "/docs/index.html",
        Reply(
            body=f"<html><head><title>Start</title></head><body><main><h1>Start</h1>"
            f"<p>Links: {links}.</p></main></body></html>"
        ),
    )
    server.route("/docs/entries.html", Reply(body=ENTRIES))
    start = server.url("/docs/index.html")
    _, store = await crawl(start, use_sitemaps=False)
    paths = await asyncio.to_thread(export, store, start, ["markdown", "html"], tmp_path)

    book = paths["markdown"].read_text(encoding="utf-8")
    chapter = book[book.index('<a id="entries"></a>') :]
    top = chapter[: chapter.index("Entries in markup")]
    assert '<a id="entries--' not in top, top  # nothing piles up at the chapter's top
    for entry in ENTRY_IDS:
        assert f"[to {entry}](#entries--{entry})" in book
        mark = f'<a id="entries--{entry}"></a>'
        assert book.count(mark) == 1, entry
        after = book[book.index(mark) + len(mark) :].lstrip("\n #`*")
        assert after.startswith(ENTRY_TEXT[entry]), (entry, after[:60])
    assert "Some text with " + '<a id="entries--inline.target"></a>an inline target' in book

    with zipfile.ZipFile(paths["html"]) as site:
        page = lxml.html.fromstring(site.read("entries.html"))
        start_page = lxml.html.fromstring(site.read("index.html"))
    hrefs = {a.text_content(): a.get("href") for a in start_page.xpath("//main//a")}
    for entry in ENTRY_IDS:
        assert hrefs[f"to {entry}"] == f"entries.html#entries--{entry}"
        [element] = page.xpath(f'//*[@id="entries--{entry}"]')
        following = element.xpath("string(following::text()[normalize-space()][1])")
        own = element.text_content().strip()
        assert (own or following.strip()).startswith(ENTRY_TEXT[entry]), (entry, own, following)

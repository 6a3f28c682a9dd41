"""A link to ``page#id`` lands on that section of the chapter, not on its top, in the
Markdown book, the HTML site, the EPUB and the PDF, when the id was on a heading (or its
section) or on a defined term (an API entry); an id on nothing of the kind lands on the
chapter, as before."""

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
from scrape_api_docs.jobs.runner import export_all, export_context
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
    assert "[an index entry](#ref)" in book  # an id on a paragraph: the chapter
    assert "[the reference](#ref)" in book
    assert '<a id="ref--usage"></a>\n\n### Usage of `Client`' in book
    assert '<a id="ref--ref.Client.open"></a>\n\n`open(path)`' in book
    assert "**handle**" in book and "term-handle" not in book  # linked from nowhere: no mark

    with zipfile.ZipFile(paths["html"]) as site:
        start_page = lxml.html.fromstring(site.read("index.html"))
        reference = lxml.html.fromstring(site.read("ref.html"))
    hrefs = {a.text_content(): a.get("href") for a in start_page.xpath("//main//a")}
    assert hrefs["the usage section"] == "ref.html#ref--usage"
    assert hrefs["open method"] == "ref.html#ref--ref.Client.open"
    assert hrefs["an index entry"] == hrefs["the reference"] == "ref.html"
    [heading] = reference.xpath('//*[@id="ref--usage"]')
    assert heading.tag == "h2" and heading.text_content() == "Usage of Client"
    [mark] = reference.xpath('//*[@id="ref--ref.Client.open"]')
    assert mark.getparent().getnext().text_content() == "open(path)"  # the next paragraph

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
    [usage] = sections
    assert usage.title == "Usage of Client"
    chapter_page = reader.get_destination_page_number(reference_item)
    usage_page = reader.get_destination_page_number(usage)
    assert usage_page > chapter_page  # the filler pushed it down
    start_page = reader.get_destination_page_number(start_item)
    # The start chapter's links: the section's page, the method's (on it or the next),
    # then the chapter's twice.
    usage, method, *rest = link_targets(reader, start_page)
    assert usage == usage_page and method in (usage_page, usage_page + 1)
    assert "open(path)" in (reader.pages[method].extract_text() or "")
    assert rest == [chapter_page, chapter_page]

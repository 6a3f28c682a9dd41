"""The HTML site from a real crawl, read back by independent readers: lxml parses every
page and follows every link inside the zip; real Chromium opens the site from disk and over
HTTP, searches it, and runs no script but ours."""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import lxml.html
import pytest
from playwright.async_api import Page, async_playwright

from scrape_api_docs.crawler.browser import launch
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.exporters.book import Book
from scrape_api_docs.exporters.html_site import CSP, export_html_site, sidebar_positions
from scrape_api_docs.jobs.pipeline import export_all, export_context
from scrape_api_docs.settings import Settings
from tests.conftest import CrawlFn
from tests.exporters.common import HOSTILE_TITLE, PNG, SPHINX_TITLES, write_hostile_site
from tests.support.server import TestServer


def unzip(archive: Path, into: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        zf.extractall(into)
    return into


def parse_site(root: Path) -> dict[str, Any]:
    return {
        p.relative_to(root).as_posix(): lxml.html.parse(str(p)).getroot()
        for p in root.rglob("*.html")
    }


def check_links(root: Path) -> int:
    """Every relative href/src of every page names a file in the site, and every fragment
    names an id in that file. Returns how many links were followed."""
    pages = parse_site(root)
    ids = {name: set(doc.xpath("//@id")) for name, doc in pages.items()}
    followed = 0
    for name, doc in pages.items():
        for attr in doc.xpath("//a/@href | //link/@href | //script/@src | //img/@src"):
            parts = urlsplit(attr)
            if parts.scheme in ("http", "https", "mailto"):
                continue
            assert not parts.scheme and not parts.netloc, f"{name}: unexpected URL {attr}"
            target = (Path(name).parent / unquote(parts.path)).as_posix() if parts.path else name
            assert (root / target).is_file(), f"{name}: broken link {attr}"
            if parts.fragment:
                assert parts.fragment in ids[target], f"{name}: no id for {attr}"
            followed += 1
    return followed


def check_search_index(root: Path) -> list[Any]:
    """The index script sets one global; every page and heading it names exists."""
    script = (root / "assets/search-index.js").read_text()
    assert script.isascii() and script.startswith("window.SEARCH_INDEX = ")
    pages = json.loads(script.removeprefix("window.SEARCH_INDEX = ").rstrip().removesuffix(";"))
    ids = {name: set(doc.xpath("//@id")) for name, doc in parse_site(root).items()}
    for title, href, anchor, headings, summary, terms in pages["pages"]:
        assert isinstance(title, str) and isinstance(summary, str) and isinstance(terms, str)
        for heading in headings:
            text, suffix = (heading, None) if isinstance(heading, str) else heading
            if suffix is None:  # the id is derived from the text, as site.js does
                suffix = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
            assert f"{anchor}--{suffix}" in ids[href], (href, heading)
    return list(pages["pages"])


def check_page_head(doc: Any) -> None:
    assert doc.get("lang") == "en"
    assert doc.xpath("//meta/@charset") == ["utf-8"]
    policy = doc.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')
    assert policy == [CSP] and "script-src 'self'" in CSP and "unsafe-inline" not in CSP


def check_no_foreign_code(doc: Any) -> None:
    """Our one script file, nothing inline, no handlers, no javascript: URLs, no styles."""
    assert [s.get("src") for s in doc.iter("script")] == ["assets/site.js"]
    assert all(not (s.text or "").strip() for s in doc.iter("script"))
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for attr, value in element.attrib.items():
            assert not attr.lower().startswith("on"), (element.tag, attr)
            assert attr.lower() != "style", element.tag
            assert "javascript:" not in value.lower(), (element.tag, attr, value)
    assert not doc.xpath("//iframe | //object | //embed | //svg | //form")


async def crawl_sphinx(site_server: Any, crawl: CrawlFn, tmp_path: Path) -> tuple[Book, Path]:
    server = site_server("sphinx_classic")
    start = server.url("/index.html")
    _, store = await crawl(start)
    [artifact] = export_all(store, start, ["html"], tmp_path / "site.zip")
    assert artifact.content_type == "application/zip" and artifact.size_bytes > 0
    return Book(store, start), unzip(artifact.path, tmp_path / "site")


async def test_every_page_parses_links_resolve_and_navigation_is_shared(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    book, root = await crawl_sphinx(site_server, crawl, tmp_path)
    pages = parse_site(root)
    files = ["index.html", "intro.html", "tutorial.html", "library-quillstore.html", "faq.html"]
    assert sorted(pages) == sorted(files)
    assert {"assets/style.css", "assets/site.js", "assets/search-index.js"} <= {
        p.relative_to(root).as_posix() for p in root.rglob("*")
    }
    assert check_links(root) > 5 * (len(files) + 3)
    for position, name in enumerate(files):
        doc = pages[name]
        check_page_head(doc)
        check_no_foreign_code(doc)
        sidebar = doc.xpath('//nav[@class="sidebar"]//a')
        assert [a.text_content() for a in sidebar] == SPHINX_TITLES
        assert [a.get("href") for a in sidebar] == files
        assert [a.get("href") for a in sidebar if a.get("aria-current") == "page"] == [name]
        assert doc.xpath("//h1")[0].text_content() == SPHINX_TITLES[position]
        prev = doc.xpath('//nav[@class="pager"]/a[@rel="prev"]/@href')
        nxt = doc.xpath('//nav[@class="pager"]/a[@rel="next"]/@href')
        assert prev == files[position - 1 : position] if position else prev == []
        assert nxt == files[position + 1 : position + 2]
    tutorial = pages["tutorial.html"]
    assert "Values are serialised with pickle" in tutorial.text_content()
    assert tutorial.xpath('//pre[@class="highlight"]//span[@class="kn"]')  # highlighted code
    assert tutorial.xpath('//a[@href="library-quillstore.html"]')  # rewritten to the page
    assert [c.title for c in book.chapters] == SPHINX_TITLES
    index = check_search_index(root)
    assert [entry[1] for entry in index] == files
    faq = index[4]
    assert "Glossary" in faq[3] and "compaction" in faq[5].split()


async def test_search_works_from_disk_and_served_in_chromium(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    _, root = await crawl_sphinx(site_server, crawl, tmp_path)
    served = TestServer(root).start()
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                for base in (root.as_uri() + "/", served.url("/")):
                    page = await browser.new_page()
                    await check_search(page, base)
                    await page.close()
            finally:
                await browser.close()
    finally:
        served.stop()


async def check_search(page: Page, base: str) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else 0)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(base + "index.html")
    assert await page.evaluate("typeof window.SEARCH_INDEX") == "undefined"  # loaded on use
    box = page.locator("#search-input")
    await box.fill("pickle")
    first = page.locator("#search-results a").first
    await first.wait_for(timeout=5000)
    assert await page.evaluate("window.SEARCH_INDEX.pages.length") == 5
    hrefs = await page.locator("#search-results a").evaluate_all("l => l.map(a => a.href)")
    assert any(h.endswith("/tutorial.html") for h in hrefs), hrefs
    await box.fill("glossary")
    await page.locator("#search-results a >> text=Frequently asked questions").wait_for()
    hrefs = await page.locator("#search-results a").evaluate_all("l => l.map(a => a.href)")
    assert hrefs[0].endswith("/faq.html#faq--glossary"), hrefs
    # An API entry (a <dt id>), found by its qualified name: the link lands on it.
    await box.fill("store.compact")
    await page.locator("#search-results a >> text=compact()").wait_for()
    hrefs = await page.locator("#search-results a").evaluate_all("l => l.map(a => a.href)")
    assert hrefs[0].endswith(
        "/library-quillstore.html#library-quillstore--quillstore.Store.compact"
    ), hrefs
    await box.fill("zzqx nothing")
    await page.locator("#search-results .empty").wait_for()
    await box.fill("tutorial")
    await page.locator("#search-results a").first.wait_for()
    await box.press("Enter")
    await page.wait_for_url("**/tutorial.html")
    assert await page.locator("h1").text_content() == "Tutorial"
    assert problems == [], problems


@pytest.mark.checklist(23)
@pytest.mark.checklist(34)
async def test_hostile_page_shows_as_text_and_runs_nothing(crawl: CrawlFn, tmp_path: Path) -> None:
    server = TestServer(write_hostile_site(tmp_path / "hostile")).start()
    try:
        start = server.url("/index.html")
        _, store = await crawl(start)
        context = export_context(
            Settings(data_dir=tmp_path),
            tmp_path / "images",
            options={"metadata": {"language": '"><script>alert(9)</script>'}},
            policy=NetworkPolicy(allow_private=True),
        )
        # The image loader runs its own event loop, as export jobs do in a worker thread.
        [artifact] = await asyncio.to_thread(
            export_all, store, start, ["html"], tmp_path / "site.zip", context
        )
    finally:
        server.stop()
    root = unzip(artifact.path, tmp_path / "site")
    check_links(root)
    assert check_search_index(root)[0][0] == HOSTILE_TITLE
    doc = parse_site(root)["index.html"]
    check_page_head(doc)
    check_no_foreign_code(doc)
    assert doc.xpath("//h1")[0].text_content() == HOSTILE_TITLE
    assert doc.xpath("//title")[0].text_content() == HOSTILE_TITLE
    assert doc.xpath('//nav[@class="sidebar"]//a')[0].text_content() == HOSTILE_TITLE
    text = doc.xpath("//article")[0].text_content()
    assert "Before the script." in text and "click me" in text and "onerror= in it" in text
    images = doc.xpath("//img/@src")
    assert len(images) == 1 and (root / images[0]).read_bytes() == PNG
    # An image that failed (404) or was refused (a metadata address) is its alt text, not
    # a remote <img> the reader's browser would request; the CSP allows only own files.
    assert "[broken]" in text and "[refused picture]" in text
    assert "169.254" not in (root / "index.html").read_text()
    [csp] = doc.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')
    assert "img-src 'self';" in csp and "http" not in csp and "data:" not in csp
    # The scripted SVG is not shipped: opened on its own from a served site it would run.
    assert [p.suffix for p in (root / "images").iterdir()] == [".png"]
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.goto((root / "index.html").as_uri())
            for link in await page.locator("article a, article img").all():
                if await link.is_visible():  # a broken image has no box to hover
                    await link.hover()
            await page.wait_for_timeout(100)
            assert await page.evaluate("window.pwned") is None
            assert await page.title() == HOSTILE_TITLE
            assert await page.locator("h1").text_content() == HOSTILE_TITLE
            assert (
                await page.evaluate("document.querySelector('img[src^=\"images/\"]').naturalWidth")
                == 1
            )
            assert dialogs == []
        finally:
            await browser.close()


async def test_big_sites_get_a_windowed_sidebar_and_a_contents_page(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    server = site_server("sphinx_classic")
    start = server.url("/index.html")
    _, store = await crawl(start)
    path = export_html_site(
        Book(store, start), tmp_path / "site.zip", sidebar_limit=2, language="de-CH"
    )
    root = unzip(path, tmp_path / "site")
    pages = parse_site(root)
    assert {doc.get("lang") for doc in pages.values()} == {"de-CH"}
    assert "contents.html" in pages
    contents = pages["contents.html"].xpath('//ol[@class="contents"]//a')
    assert [a.text_content() for a in contents] == SPHINX_TITLES
    check_links(root)
    check_search_index(root)
    tutorial = pages["tutorial.html"].xpath('//nav[@class="sidebar"]//a')
    assert [a.text_content() for a in tutorial] == [
        "All pages",
        SPHINX_TITLES[0],
        *SPHINX_TITLES[1:3],
    ]


def test_sidebar_positions() -> None:
    assert sidebar_positions(3, 1, 5) == [0, 1, 2]
    assert sidebar_positions(10, 0, 4) == [0, 1, 2, 3, None]
    assert sidebar_positions(10, 5, 4) == [0, None, 3, 4, 5, 6, None]
    assert sidebar_positions(10, 9, 4) == [0, None, 6, 7, 8, 9]
    assert sidebar_positions(10, 3, 4) == [0, 1, 2, 3, 4, None]

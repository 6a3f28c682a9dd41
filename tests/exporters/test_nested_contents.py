"""Contents nested as the site nests its pages, in every format, read back by real readers.

Two sites crawled on 127.0.0.1: the corpus' Sphinx site (alabaster, built by Sphinx: the
index's toctree holds "API reference", whose own toctree holds three module pages) and the
MkDocs Material fixture (a "Reference" section, a label of the site's navigation with no
page of its own, holding "Command line"). Every export of each is read back: the Markdown
book's contents, the PDF's bookmarks (pypdf), the EPUB's nav.xhtml and toc.ncx (and
epubcheck), the HTML site's sidebar. A flat site stays flat."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree, html
from pypdf import PdfReader

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.extract.order import ContentsItem, PageRef, contents
from scrape_api_docs.jobs.pipeline import export_all, export_context
from scrape_api_docs.settings import Settings
from tests.conftest import CrawlFn
from tests.exporters.test_epub import NS, epubcheck
from tests.support.server import TestServer

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sites"

SPHINX = [
    (0, "Widgetry"),
    (0, "Installation"),
    (0, "Quickstart"),
    (0, "Configuration"),
    (0, "Caching rendered trees"),
    (0, "Changelog"),
    (0, "API reference"),
    (1, "widgetry.core"),
    (1, "widgetry.config"),
    (1, "widgetry.store"),
]
MKDOCS = [
    (0, "Ferry"),
    (0, "Getting started"),
    (0, "Configuration"),
    (0, "Reference"),  # a section of the navigation, no page
    (1, "Command line"),
]


def tree(items: list[tuple[int, str]]) -> list[Any]:
    """``[(depth, title)]`` as nested lists: ``[title, [children...]]`` per entry."""
    roots: list[Any] = []
    stack: list[tuple[int, list[Any]]] = [(-1, roots)]
    for depth, title in items:
        while stack[-1][0] >= depth:
            stack.pop()
        node: list[Any] = [title, []]
        stack[-1][1].append(node)
        stack.append((depth, node[1]))
    return roots


def pdf_tree(outline: list[Any]) -> list[Any]:
    """pypdf's outline (an item, then a list of its children) as ``[title, [children]]``,
    chapters and parts only (a chapter's own headings are left out: ``names``)."""
    out: list[Any] = []
    for item in outline:
        if isinstance(item, list):
            out[-1][1] = pdf_tree(item)
        else:
            out.append([item.title, []])
    return out


def keep(nodes: list[Any], titles: set[str]) -> list[Any]:
    return [[t, keep(kids, titles)] for t, kids in nodes if t in titles]


def list_tree(ol: Any, item: str, label: str) -> list[Any]:
    """An ``<ol>`` of ``<li>``s (each a link or span, and maybe a nested ``<ol>``)."""
    out = []
    for li in ol.findall(item):
        head = li.find(label) if li.find(label) is not None else li.find(label.replace("a", "span"))
        nested = li.find(ol.tag)
        title = " ".join("".join(head.itertext()).split())
        out.append([title, list_tree(nested, item, label) if nested is not None else []])
    return out


def ncx_tree(point: Any) -> list[Any]:
    return [
        [p.findtext("ncx:navLabel/ncx:text", namespaces=NS), ncx_tree(p)]
        for p in point.findall("ncx:navPoint", NS)
    ]


async def export_site(
    crawl: CrawlFn, root: Path, tmp: Path, formats: list[str], browser_path: str | None = None
) -> Path:
    server = TestServer(root).start()
    try:
        start = server.url("/index.html")
        _, store = await crawl(start)
        settings = Settings(data_dir=tmp, browser_path=browser_path)
        context = export_context(settings, tmp / "images", {}, NetworkPolicy(allow_private=True))
        await asyncio.to_thread(export_all, store, start, formats, tmp / "out", context)
    finally:
        server.stop()
    return tmp / "out"


def markdown_contents(book: str) -> list[tuple[int, str]]:
    section = book.split("## Contents\n\n", 1)[1].split("\n\n", 1)[0]
    out = []
    for line in section.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        text = line.strip().removeprefix("- ")
        out.append((depth, text.split("](")[0].lstrip("[")))
    return out


NESTED_SITES = pytest.mark.parametrize(
    ("root", "expected"),
    [(CORPUS / "sphinx-alabaster", SPHINX), (FIXTURES / "mkdocs_material", MKDOCS)],
    ids=["sphinx-toctree", "mkdocs-sections"],
)
"""A site nested by its toctree, and one by its sections (a part without a page)."""


def assert_pdf_nests(pdf: Path, expected: list[tuple[int, str]]) -> None:
    """The PDF's bookmarks, kept to the chapters' titles, nest as ``expected``."""
    titles = {title for _, title in expected}
    assert keep(pdf_tree(PdfReader(pdf).outline), titles) == tree(expected)


@NESTED_SITES
async def test_contents_nest_in_every_format(
    root: Path, expected: list[tuple[int, str]], crawl: CrawlFn, tmp_path: Path
) -> None:
    formats = ["markdown", "epub", "html"]
    if find_browser() is not None:
        formats.append("pdf")
    out = await export_site(crawl, root, tmp_path, formats)
    want = tree(expected)

    assert markdown_contents((out / "output.md").read_text()) == expected

    with zipfile.ZipFile(out / "output.epub") as zf:
        nav = etree.fromstring(zf.read("EPUB/nav.xhtml"))
        ncx = etree.fromstring(zf.read("EPUB/toc.ncx"))
    [ol] = nav.xpath("//x:nav[@id='toc']/x:ol", namespaces=NS)
    assert list_tree(ol, f"{{{NS['x']}}}li", f"{{{NS['x']}}}a") == want
    assert ncx_tree(ncx.find("ncx:navMap", NS)) == want
    depth = ncx.find("ncx:head/ncx:meta[@name='dtb:depth']", NS).get("content")
    assert depth == "2"
    await epubcheck(out / "output.epub")

    with zipfile.ZipFile(out / "site.zip") as zf:
        page = html.fromstring(zf.read("index.html"))
    [sidebar] = page.xpath("//nav[@class='sidebar']/ol")
    assert list_tree(sidebar, "li", "a") == want

    if "pdf" in formats:
        assert_pdf_nests(out / "output.pdf", expected)


@NESTED_SITES
async def test_weasyprint_bookmarks_nest_like_the_contents(
    root: Path, expected: list[tuple[int, str]], crawl: CrawlFn, tmp_path: Path
) -> None:
    """The fallback printer (no Chromium: a browser path that is not there) nests its
    bookmarks as the main path does: a part ("Reference", no page) holds its chapters."""
    missing = str(tmp_path / "no-chromium")
    pdf = await export_site(crawl, root, tmp_path, ["pdf"], browser_path=missing)
    assert_pdf_nests(pdf, expected)  # one format: the output is the file


VITEPRESS = [
    (0, "Widgetry"),  # the start page opens the book at the top level, wherever it sits
    (0, "Guide"),  # the sidebar's group: a heading, no page
    (1, "Installation"),
    (1, "Quickstart"),
    (1, "Configuration"),
    (1, "Caching rendered trees"),
    (1, "Changelog"),
]


async def test_a_sidebar_of_blocks_nests_the_contents(crawl: CrawlFn, tmp_path: Path) -> None:
    """VitePress' sidebar (``div``s and a heading, no list) as VitePress builds it: found
    as the navigation landmark that lists the page, nested by its shape."""
    book = await export_site(crawl, CORPUS / "vitepress", tmp_path, ["markdown"])
    assert markdown_contents(book.read_text()) == VITEPRESS


def test_a_flat_site_navigation_stays_flat_and_labels_wait_for_their_pages() -> None:
    """Values in, contents out: a site navigation listing every page flat (each page's
    own copy of it) gives a flat contents; a page no navigation places goes under the
    folder page above it; the start page is the top level."""
    site = "https://d.test/"
    nav = ((0, "https://d.test/a.html", ""), (0, "https://d.test/b/", ""))
    pages = [
        PageRef(site, (), outline=(*nav, (0, ".", ""))),
        PageRef(site + "a.html", (), outline=((0, ".", ""), nav[1])),
        PageRef(site + "b/", (), outline=(nav[0], (0, ".", ""))),
        PageRef(site + "b/c.html", ()),
    ]
    order = [p.key for p in pages]
    assert contents(pages, order, site) == [
        ContentsItem(0, site),
        ContentsItem(0, site + "a.html"),
        ContentsItem(0, site + "b/"),
        ContentsItem(1, site + "b/c.html"),
    ]

"""The EPUB from real crawls of fixture sites on 127.0.0.1: epubcheck must report no error
and no warning, and an independent reader (zipfile + lxml) checks the package: mimetype,
spine, navigation, metadata, embedded images, links, and that hostile pages stay text."""

from __future__ import annotations

import asyncio
import posixpath
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree

from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.exporters.book import Book
from scrape_api_docs.extract.document import Document
from scrape_api_docs.jobs.pipeline import export_all, export_context
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import SqlitePageStore
from tests.conftest import CrawlFn
from tests.exporters.common import HOSTILE_TITLE, PNG, SPHINX_TITLES, write_hostile_site
from tests.support.server import TestServer

EPUBCHECK = Path("/usr/share/java/epubcheck.jar")
JVM_FAST_START = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")  # halves epubcheck's time
NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
}
METADATA = {
    "title": "The Quillstore Handbook",
    "author": "Ada Example",
    "publisher": "Example & Sons",
    "language": "en-GB",
}


RAW_MARKDOWN = """Intro\x0c text.

<center>Centered</center> <tt>tt</tt> <acronym title="x">ACR</acronym> <strike>old</strike>

<table align="center" summary="s" width="50%"><tr><td align="left" width="3" colspan="x"
headers="h">cell</td><th scope="sideways">h</th></tr></table>

<li>stray item</li>

<dd>stray dd</dd><figcaption>stray caption</figcaption><details><p>no summary</p></details>

<p><time>yesterday</time> <data>d</data> <bdo>no dir</bdo> <span lang="not a lang">x</span>
<img src="https://example.com/remote.png" alt="remote" width="100%"></p>

<ol start="x"><li>one</li></ol><hr size="3">

<p id="9lives">digits</p><p id="9lives">again</p>

<a href="#9lives">to digits</a> <a href="#nope">nowhere</a> <a href="other.html">relative</a>

## Heading

## Heading
"""


@dataclass
class Epub:
    files: dict[str, bytes]
    opf: Any
    spine: list[str]
    """Archive names of the spine's documents, in order."""
    nav: Any
    ncx: Any

    def xml(self, name: str) -> Any:
        return etree.fromstring(self.files[name])  # raises unless well-formed

    def text(self, name: str) -> str:
        return "".join(self.xml(name).itertext())

    def meta(self, element: str) -> list[str]:
        return [str(v) for v in self.opf.xpath(f"//dc:{element}/text()", namespaces=NS)]


def read_epub(path: Path) -> Epub:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert not first.extra
        files = {info.filename: zf.read(info) for info in zf.infolist()}
    assert files["mimetype"] == b"application/epub+zip"
    container = etree.fromstring(files["META-INF/container.xml"])
    [opf_path] = container.xpath("//c:rootfile/@full-path", namespaces=NS)
    opf = etree.fromstring(files[opf_path])
    base = posixpath.dirname(opf_path)
    items = {i.get("id"): i for i in opf.xpath("//opf:manifest/opf:item", namespaces=NS)}
    for item in items.values():  # the manifest lists files that exist, and only those
        assert posixpath.join(base, item.get("href")) in files, item.get("href")
    listed = {posixpath.join(base, i.get("href")) for i in items.values()}
    assert set(files) - listed == {"mimetype", "META-INF/container.xml", opf_path}
    spine = [
        posixpath.join(base, items[ref].get("href"))
        for ref in opf.xpath("//opf:spine/opf:itemref/@idref", namespaces=NS)
    ]
    [nav_item] = [i for i in items.values() if "nav" in (i.get("properties") or "").split()]
    [ncx_item] = [i for i in items.values() if i.get("media-type") == "application/x-dtbncx+xml"]
    assert opf.xpath("//opf:spine/@toc", namespaces=NS) == [ncx_item.get("id")]
    nav = etree.fromstring(files[posixpath.join(base, nav_item.get("href"))])
    ncx = etree.fromstring(files[posixpath.join(base, ncx_item.get("href"))])
    return Epub(files, opf, spine, nav, ncx)


def check_documents(epub: Epub) -> None:
    """Every XHTML file parses as XML; ids are unique; every in-book href or src names a
    file in the book (and an id in it); nothing is loaded from outside the book; no script,
    no event handler, no javascript: URL anywhere."""
    docs = {n: epub.xml(n) for n in epub.files if n.endswith(".xhtml")}
    ids = {n: doc.xpath("//@id") for n, doc in docs.items()}
    for name, doc in docs.items():
        assert len(ids[name]) == len(set(ids[name])), name
        assert all(re.fullmatch(r"[A-Za-z_][\w.-]*", i) for i in ids[name]), ids[name]
        assert not doc.xpath("//x:script | //x:iframe | //x:object | //x:embed", namespaces=NS)
        for element in doc.iter():
            for attr, value in element.attrib.items():
                assert not etree.QName(attr).localname.lower().startswith("on"), (name, attr)
                assert "javascript:" not in value.lower(), (name, attr, value)
        for link in doc.xpath("//x:a/@href | //x:img/@src | //x:link/@href", namespaces=NS):
            parts = urlsplit(link)
            if parts.scheme:
                assert parts.scheme in ("http", "https", "mailto"), link
                assert link.getparent().tag == f"{{{NS['x']}}}a", f"{name}: loads {link}"
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), parts.path))
            target = target if parts.path else name
            assert target in epub.files, f"{name}: broken link {link}"
            if parts.fragment:
                assert parts.fragment in ids[target], f"{name}: no id for {link}"


async def epubcheck(*books: Path) -> None:
    """epubcheck on every book at once (each Java start costs seconds): exit 0, no
    fatal, error or warning."""
    assert EPUBCHECK.is_file(), f"epubcheck missing at {EPUBCHECK}: `make sysdeps` installs it"
    runs = [
        await asyncio.create_subprocess_exec(
            "java",
            *JVM_FAST_START,
            "-jar",
            str(EPUBCHECK),
            str(book),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for book in books
    ]
    for run in runs:
        report = (await run.communicate())[0].decode(errors="replace")
        assert run.returncode == 0, report
        assert re.search(r"Messages: 0 fatals / 0 errors / 0 warnings", report), report
        assert not re.search(r"^(FATAL|ERROR|WARNING)", report, re.M), report


async def build(crawl: CrawlFn, start: str, out: Path, options: dict[str, object]) -> Book:
    _, store = await crawl(start)
    context = export_context(
        Settings(data_dir=out.parent),
        out.parent / "images",
        options,
        NetworkPolicy(allow_private=True),
    )
    # The image loader runs its own event loop, as export jobs do in a worker thread.
    [artifact] = await asyncio.to_thread(export_all, store, start, ["epub"], out, context)
    assert artifact.format == "epub" and artifact.content_type == "application/epub+zip"
    assert artifact.path == out and artifact.size_bytes == out.stat().st_size
    return Book(store, start)


def export_raw_markup(tmp_path: Path) -> None:
    """A stored page whose Markdown carries HTML the HTML5 schema rejects (obsolete tags and
    attributes, stray list items, ids that are not XML names, dead fragments), and a book
    with no pages at all."""
    store = SqlitePageStore(tmp_path / "raw.sqlite")
    url = "https://docs.example.org/raw.html"
    store.add(Document(url, url, "Raw\x0c markup", RAW_MARKDOWN))
    export_all(store, url, ["epub"], tmp_path / "raw.epub")
    empty = SqlitePageStore(tmp_path / "empty.sqlite")
    export_all(empty, "https://docs.example.org/", ["epub"], tmp_path / "empty.epub")


async def test_fixture_sites_make_valid_epubs(
    site_server: Any, crawl: CrawlFn, tmp_path: Path
) -> None:
    sphinx_start = site_server("sphinx_classic").url("/index.html")
    plain_start = site_server("plain").url("/index.html")
    book = await build(crawl, sphinx_start, tmp_path / "sphinx.epub", {"metadata": METADATA})
    plain = await build(crawl, plain_start, tmp_path / "plain.epub", {})
    await epubcheck(tmp_path / "sphinx.epub", tmp_path / "plain.epub")

    epub = read_epub(tmp_path / "sphinx.epub")
    check_documents(epub)
    assert [c.title for c in book.chapters] == SPHINX_TITLES
    assert epub.spine == [f"EPUB/text/{c.anchor}.xhtml" for c in book.chapters]
    for name, title in zip(epub.spine, SPHINX_TITLES, strict=True):
        doc = epub.xml(name)
        assert doc.xpath("string(//x:h1)", namespaces=NS) == title
        assert doc.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
    toc = epub.nav.xpath('//x:nav[@epub:type="toc"]//x:a', namespaces=NS)
    assert [a.text for a in toc] == SPHINX_TITLES
    assert [posixpath.join("EPUB", a.get("href")) for a in toc] == epub.spine
    labels = epub.ncx.xpath("//ncx:navPoint/ncx:navLabel/ncx:text/text()", namespaces=NS)
    assert labels == SPHINX_TITLES
    assert epub.ncx.xpath("//ncx:meta[@name='dtb:uid']/@content", namespaces=NS) == epub.meta(
        "identifier"
    )

    assert epub.meta("title") == [METADATA["title"]]
    assert epub.meta("creator") == [METADATA["author"]]
    assert epub.meta("publisher") == [METADATA["publisher"]]
    assert epub.meta("language") == ["en-GB"]
    assert epub.meta("source") == [sphinx_start]
    [identifier] = epub.meta("identifier")
    assert uuid.UUID(identifier.removeprefix("urn:uuid:")).version == 5
    modified = epub.opf.xpath("//opf:meta[@property='dcterms:modified']/text()", namespaces=NS)
    assert len(modified) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", modified[0])

    tutorial = epub.xml("EPUB/text/tutorial.xhtml")
    assert "Values are serialised with pickle" in epub.text("EPUB/text/tutorial.xhtml")
    assert tutorial.xpath('//x:pre[@class="highlight"]//x:span[@class="kn"]', namespaces=NS)
    # quillstore.open() is an API entry: the link lands on it in the reference's file.
    target = "library-quillstore--quillstore.open"
    assert tutorial.xpath(f'//x:a[@href="library-quillstore.xhtml#{target}"]', namespaces=NS)
    reference = epub.xml("EPUB/text/library-quillstore.xhtml")
    assert len(reference.xpath(f'//*[@id="{target}"]')) == 1
    css = epub.files["EPUB/style.css"].decode()
    assert "white-space: pre-wrap" in css and ".highlight .kn" in css

    # The identifier is derived from the start URL: a rebuild is the same book.
    await build(crawl, sphinx_start, tmp_path / "again" / "sphinx.epub", {})
    again = read_epub(tmp_path / "again" / "sphinx.epub")
    assert again.meta("identifier") == [identifier] and again.meta("language") == ["en"]
    assert again.meta("title") == [SPHINX_TITLES[0]] and again.meta("creator") == []

    # The plain site's PNG screenshot and SVG diagram are in the book, not fetched remotely.
    epub = read_epub(tmp_path / "plain.epub")
    check_documents(epub)
    assert len(epub.spine) == len(plain.chapters)
    types = epub.opf.xpath("//opf:item[starts-with(@href, 'images/')]/@media-type", namespaces=NS)
    assert sorted(types) == ["image/png", "image/svg+xml"]
    srcs = [s for n in epub.spine for s in epub.xml(n).xpath("//x:img/@src", namespaces=NS)]
    assert len(srcs) == 2 and all(s.startswith("../images/") for s in srcs)


@pytest.mark.checklist(23)
@pytest.mark.checklist(34)
async def test_images_are_embedded_and_hostile_pages_stay_text(
    crawl: CrawlFn, tmp_path: Path
) -> None:
    server = TestServer(write_hostile_site(tmp_path / "hostile")).start()
    try:
        start = server.url("/index.html")
        book = await build(crawl, start, tmp_path / "out" / "book.epub", {})
    finally:
        server.stop()
    export_raw_markup(tmp_path)
    await epubcheck(tmp_path / "out" / "book.epub", tmp_path / "raw.epub", tmp_path / "empty.epub")
    epub = read_epub(tmp_path / "out" / "book.epub")
    check_documents(epub)
    assert epub.spine == [f"EPUB/text/{c.anchor}.xhtml" for c in book.chapters]
    assert len(epub.spine) == 2

    index = epub.xml(epub.spine[0])
    assert index.xpath("string(//x:title)", namespaces=NS) == HOSTILE_TITLE
    assert index.xpath("string(//x:h1)", namespaces=NS) == HOSTILE_TITLE
    assert epub.nav.xpath("string(//x:nav//x:a)", namespaces=NS) == HOSTILE_TITLE
    assert epub.meta("title") == [HOSTILE_TITLE]
    text = epub.text(epub.spine[0])
    for seen in ("Before the script.", "click me", "onerror= in it", "page two", "[broken]"):
        assert seen in text, seen
    assert "[scripted diagram]" in text  # an SVG with a script is not embedded
    assert "[refused picture]" in text  # the policy refused it: no remote reference left
    assert not any(b"169.254" in data for data in epub.files.values())
    assert all(b"pwned" not in data and b"alert(9)" not in data for data in epub.files.values())

    [src] = index.xpath("//x:img/@src", namespaces=NS)
    assert epub.files[posixpath.normpath(posixpath.join("EPUB/text", src))] == PNG
    hrefs = {
        a.text: a.get("href") for a in index.xpath("//x:a", namespaces=NS) if a.text is not None
    }
    assert hrefs["page two"] == "2nd.xhtml"  # the page, since its fragment is not known
    assert hrefs["a lost fragment"] == "index.xhtml"  # the page itself: no such id
    assert hrefs["a file that is not a page"] == server.url("/notes.txt")  # absolute
    assert hrefs["a stray percent"] == "https://example.org/r5rs.html#%25_sec_6.2"  # a URI
    assert "click me" in text and hrefs.get("click me") is None  # no longer a link
    page2 = epub.xml(epub.spine[1])
    # A link to a heading's id lands on that heading (an XML name in the file).
    assert page2.xpath("//x:a[text()='this section']/@href", namespaces=NS) == [
        "2nd.xhtml#x-2nd--1-usage"
    ]
    assert page2.xpath("//x:h2/@id", namespaces=NS) == ["x-2nd--1-usage"]

    raw = read_epub(tmp_path / "raw.epub")
    check_documents(raw)
    doc = raw.xml(raw.spine[0])
    assert (
        raw.meta("title") == ["Raw markup"]
        and raw.xml(raw.spine[0]).xpath("string(//x:title)", namespaces=NS) == "Raw markup"
    )
    body = "".join(doc.xpath("//x:body//text()", namespaces=NS))
    for seen in ("Centered", "stray item", "[remote]", "to digits", "nowhere", "relative"):
        assert seen in body, seen
    assert not doc.xpath("//x:img", namespaces=NS)  # not embedded: images=None
    assert doc.xpath("//x:a[text()='to digits']/@href", namespaces=NS) == ["#raw--9lives"]
    assert doc.xpath("//x:a[text()='nowhere' or text()='relative']/@href", namespaces=NS) == []
    assert "\x0c" not in raw.files[raw.spine[0]].decode()

    empty = read_epub(tmp_path / "empty.epub")
    check_documents(empty)
    assert len(empty.spine) == 1 and empty.nav.xpath("count(//x:li)", namespaces=NS) == 1

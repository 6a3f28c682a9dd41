"""EPUB 3 (with an NCX for EPUB 2 readers): one XHTML chapter per page, in reading order.

Chapters come from the shared HTML renderer (sanitised by nh3), are re-parsed and
serialised as XHTML, and go into the zip one at a time. The navigation document, the NCX
and the package document are written last, from the chapters actually written. Nothing
in the book points outside it except hyperlinks: an image that could not be embedded is
replaced by its alt text, and in-book links only point at files and ids that exist, so
epubcheck reports neither errors nor warnings.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import lxml.html
from lxml import etree

from scrape_api_docs.exporters.book import (
    Book,
    ContentsEntry,
    ContentsNode,
    chapter_of,
    contents_tree,
)
from scrape_api_docs.exporters.html_render import (
    LANGUAGE_TAG,
    highlight_css,
    language_or_default,
    render_chapter,
)
from scrape_api_docs.exporters.resources import ImageLoader, LocalImage
from scrape_api_docs.urls import canonical

XHTML = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"
OPF = "http://www.idpf.org/2007/opf"
DC = "http://purl.org/dc/elements/1.1/"
NCX = "http://www.daisy.org/z3986/2005/ncx/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# EPUB 3.2 core image types (WebP is not one of them: it would need a fallback).
_RASTER_IMAGES = {"image/png", "image/jpeg", "image/gif"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9._-]")
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

# HTML that nh3 lets through but the HTML5 schema epubcheck applies does not accept.
_RENAME = {"acronym": "abbr", "center": "div", "strike": "s", "tt": "code", "big": "span"}
_RENAME |= {"time": "span", "data": "span", "hgroup": "div", "rtc": "span"}
_PARENTS = {  # element -> the parents it may have; elsewhere it becomes a div or span
    "li": ({"ul", "ol"}, "div"),
    "dt": ({"dl"}, "div"),
    "dd": ({"dl"}, "div"),
    "figcaption": ({"figure"}, "div"),
    "summary": ({"details"}, "div"),
    "rt": ({"ruby"}, "span"),
    "rp": ({"ruby"}, "span"),
}
_DROP_ATTRIBUTES = {"align", "char", "charoff", "summary", "size", "hreflang", "cite"}
_DROP_ATTRIBUTES |= {"datetime", "headers"}
_ATTRIBUTE_VALUES = {
    name: re.compile(pattern)
    for name, pattern in {
        "width": r"\d+",
        "height": r"\d+",
        "colspan": r"[1-9]\d*",
        "rowspan": r"\d+",
        "span": r"[1-9]\d*",
        "start": r"-?\d+",
        "scope": r"row|col|rowgroup|colgroup",
        "dir": r"ltr|rtl|auto",
        "lang": LANGUAGE_TAG.pattern,
    }.items()
}

_STYLE = """body { font-family: serif; line-height: 1.45; }
h1, h2, h3, h4, h5, h6 { font-family: sans-serif; line-height: 1.2; }
pre { white-space: pre-wrap; word-wrap: break-word; font-size: 0.85em; }
code, kbd, samp { font-family: monospace; }
img { max-width: 100%; }
table { border-collapse: collapse; }
th, td { border: 1px solid #999; padding: 0.2em 0.4em; }
p.source { font-size: 0.8em; }
"""


@dataclass(frozen=True)
class _Written:
    anchor: str
    title: str


def export_epub(
    book: Book,
    path: Path,
    *,
    metadata: Mapping[str, object] | None = None,
    images: ImageLoader | None = None,
) -> Path:
    """Write ``book`` to ``path``; images are embedded when ``images`` can fetch them."""
    meta = {k: str(v) for k, v in (metadata or {}).items() if v}
    language = language_or_default(meta.get("language"))
    title = _text(meta.get("title") or book.title)
    written: list[_Written] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", _container())
        zf.writestr("EPUB/style.css", _STYLE + highlight_css() + "\n")
        shelf = _ImageShelf(zf, images)
        targets = _Targets(book.anchors_set, frozenset(map(_xml_id, book.section_set)))
        for chapter in book:
            rendered = render_chapter(book, chapter, _chapter_href)
            local = shelf.embed(rendered.image_urls)
            if local:  # again, pointing at the embedded copies (the rest is alt text)
                rendered = render_chapter(book, chapter, _chapter_href, local)
            chapter_title = _text(chapter.ref.title) or chapter.ref.anchor
            body = _body(rendered.body_html, targets, frozenset(local.values()))
            doc = _chapter(chapter_title, rendered.source_url, body, language)
            zf.writestr(f"EPUB/text/{rendered.anchor}.xhtml", doc)
            written.append(_Written(rendered.anchor, chapter_title))
        if not written:  # a spine needs one item and a nav one entry
            doc = _chapter(title, book.start_url, [_x("p", "This book has no pages.")], language)
            zf.writestr("EPUB/text/empty.xhtml", doc)
            written.append(_Written("empty", title))
        identifier = uuid.uuid5(uuid.NAMESPACE_URL, canonical(book.start_url)).urn
        toc = _written_contents(book, written)
        zf.writestr("EPUB/nav.xhtml", _nav(title, toc, language))
        zf.writestr("EPUB/toc.ncx", _ncx(title, identifier, toc))
        package = _package(
            title, identifier, language, meta, book.start_url, written, shelf.media_types
        )
        zf.writestr("EPUB/content.opf", package)
    return path


class _ImageShelf:
    """Images written into the book once each, under ``images/``."""

    def __init__(self, zf: zipfile.ZipFile, loader: ImageLoader | None) -> None:
        self.zf = zf
        self.loader = loader
        self.names: dict[str, str | None] = {}  # URL -> archive name (None: not embedded)
        self.media_types: dict[str, str] = {}  # archive name -> media type

    def embed(self, urls: Sequence[str]) -> dict[str, str]:
        """URL -> archive name of the images among ``urls`` that are in the book."""
        new = [url for url in urls if url not in self.names]
        fetched = self.loader.fetch(new) if self.loader is not None and new else {}
        for url in new:
            image = fetched.get(url)
            data = _embeddable(image) if image is not None else None
            if image is None or data is None:
                self.names[url] = None
                continue
            name = f"images/{image.name}"
            self.names[url] = name
            if name not in self.media_types:
                self.zf.writestr(f"EPUB/{name}", data)
                self.media_types[name] = image.media_type
        return {url: found for url in urls if (found := self.names.get(url))}


def _embeddable(image: LocalImage) -> bytes | None:
    """The bytes to store for an image of an EPUB core type, else None."""
    if image.media_type in _RASTER_IMAGES:
        return image.path.read_bytes()
    if image.media_type == "image/svg+xml":  # self-contained: the loader checked it
        return image.path.read_bytes()
    return None  # WebP is not a core type in EPUB 3.2: it would need a fallback


# --- chapter bodies: sanitised HTML5 -> XHTML ---------------------------------------------
def _chapter_href(anchor: str) -> str:
    """A chapter's file, with the section's fragment for a section anchor."""
    page = f"{chapter_of(anchor)}.xhtml"
    return page if "--" not in anchor else f"{page}#{_xml_id(anchor)}"


@dataclass(frozen=True)
class _Targets:
    """What a link between chapter files may point at."""

    chapters: frozenset[str]
    sections: frozenset[str]
    """Section anchors as XML ids: each is in its chapter's file (see ``book``)."""


def _body(body_html: str, targets: _Targets, images: frozenset[str]) -> list[etree._Element | str]:
    """The chapter's content as XHTML elements (and leading text), fixed up for EPUB."""
    wrapper = lxml.html.fragment_fromstring(_CONTROL.sub("", body_html), create_parent="div")
    ids: set[str] = set()
    for el in list(wrapper.iter()):
        if not isinstance(el.tag, str):  # comments, processing instructions
            _remove_keeping_tail(el)
            continue
        _fix_element(el)
        if (raw := el.get("id")) is not None:
            value = _xml_id(raw)
            if value in ids or not raw:
                del el.attrib["id"]
            else:
                el.set("id", value)
                ids.add(value)
    for el in list(wrapper.iter("a", "img")):
        if el.tag == "img":
            _fix_image(el, images)
        elif (href := el.get("href")) is not None:
            fixed = _href(href, ids, targets)
            if fixed is None:
                del el.attrib["href"]
            else:
                el.set("href", fixed)
    for el in wrapper.iter():
        el.tag = f"{{{XHTML}}}{_tag(el)}"
    out: list[etree._Element | str] = [wrapper.text] if wrapper.text else []
    return out + list(wrapper)


def _tag(el: etree._Element) -> str:
    return el.tag if isinstance(el.tag, str) else ""


def _fix_element(el: lxml.html.HtmlElement) -> None:
    """Elements and attributes the HTML5 schema rejects become ones it accepts."""
    tag = el.tag = _RENAME.get(_tag(el), _tag(el))
    parent = el.getparent()
    if tag in _PARENTS:
        allowed, instead = _PARENTS[tag]
        if parent is None or _tag(parent) not in allowed:
            el.tag = instead
    elif tag == "details" and (len(el) == 0 or _tag(el[0]) != "summary" or (el.text or "").strip()):
        el.tag = "div"
    elif tag == "bdo" and el.get("dir") not in ("ltr", "rtl"):
        el.tag = "span"
    for name, value in list(el.attrib.items()):
        pattern = _ATTRIBUTE_VALUES.get(name)
        if (
            name in _DROP_ATTRIBUTES
            or (name in ("width", "height") and tag != "img")
            or (pattern is not None and not pattern.fullmatch(value.strip()))
        ):
            del el.attrib[name]


def _fix_image(img: lxml.html.HtmlElement, images: frozenset[str]) -> None:
    """Point an image at its embedded copy (``render_chapter`` made every other image its
    alt text; one that is not embedded all the same goes, leaving its alt text)."""
    src = img.get("src") or ""
    if src not in images:
        alt = (img.get("alt") or "").strip()
        _remove_keeping_tail(img, f"[{alt}]" if alt else "")
        return
    img.set("src", f"../{src}")
    img.set("alt", img.get("alt") or "")


def _href(href: str, ids: set[str], targets: _Targets) -> str | None:
    """A link that works inside the book, an absolute external link, or None."""
    if href.startswith("#"):
        target = _xml_id(href[1:])
        return f"#{target}" if target in ids else None
    if href.startswith(("http://", "https://", "mailto:")):
        return _uri(href)
    name, _, fragment = href.partition("#")
    if name.endswith(".xhtml") and name[: -len(".xhtml")] in targets.chapters:
        return f"{name}#{fragment}" if fragment in targets.sections else name
    return None


def _uri(url: str) -> str:
    """``url`` as a valid URI: characters outside URIs escaped, and a ``%`` that starts
    no escape too (R5RS's ``#%_sec_6.2`` is a link on a real page)."""
    return quote(_LONE_PERCENT.sub("%25", url), safe=_URL_SAFE)


def _xml_id(value: str) -> str:
    value = _NOT_ID.sub("-", value)
    return value if re.match(r"[A-Za-z_]", value) else f"x-{value}"


def _remove_keeping_tail(el: etree._Element, text: str = "") -> None:
    parent = el.getparent()
    if parent is None:
        return
    extra = text + (el.tail or "")
    previous = el.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + extra
    else:
        parent.text = (parent.text or "") + extra
    parent.remove(el)


# --- documents ----------------------------------------------------------------------------
def _x(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(f"{{{XHTML}}}{tag}", {k.rstrip("_"): v for k, v in attrs.items()})
    el.text = text
    return el


def _xhtml(title: str, language: str, css: str | None) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML, "epub": EPUB_NS})
    root.set("lang", language)
    root.set(XML_LANG, language)
    head = etree.SubElement(root, f"{{{XHTML}}}head")
    head.append(_x("title", title))
    if css:
        head.append(_x("link", rel="stylesheet", type="text/css", href=css))
    body = etree.SubElement(root, f"{{{XHTML}}}body")
    return root, body


def _serialise(root: etree._Element, doctype: str | None = "<!DOCTYPE html>") -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", doctype=doctype)


def _chapter(title: str, source: str, content: list[etree._Element | str], language: str) -> bytes:
    root, body = _xhtml(title, language, "../style.css")
    body.append(_x("h1", title))
    source_line = _x("p", "Source: ", class_="source")
    source_line.append(_x("a", source, href=_uri(source)))
    body.append(source_line)
    for part in content:
        if isinstance(part, str):
            body[-1].tail = (body[-1].tail or "") + part
        else:
            body.append(part)
    return _serialise(root)


def _written_contents(book: Book, written: list[_Written]) -> list[ContentsNode]:
    """The book's contents (nested as the site nests its pages) over the chapters written,
    with their titles as written; a part whose chapters were not written goes."""
    titles = {w.anchor: w.title for w in written}
    entries = [
        replace(e, title=titles[e.anchor]) if e.chapter else e
        for e in book.contents
        if e.anchor in titles
    ]
    if not entries:  # the placeholder chapter of an empty book
        entries = [ContentsEntry(0, w.title, w.anchor) for w in written]
    return _drop_empty_parts(contents_tree(entries))


def _drop_empty_parts(nodes: list[ContentsNode]) -> list[ContentsNode]:
    out = []
    for node in nodes:
        node.children = _drop_empty_parts(node.children)
        if node.entry.chapter or node.children:
            out.append(node)
    return out


def _nav(title: str, toc: list[ContentsNode], language: str) -> bytes:
    root, body = _xhtml(title, language, "style.css")
    nav = etree.SubElement(body, f"{{{XHTML}}}nav", {f"{{{EPUB_NS}}}type": "toc", "id": "toc"})
    nav.append(_x("h1", title))

    def add(parent: etree._Element, nodes: list[ContentsNode]) -> None:
        items = etree.SubElement(parent, f"{{{XHTML}}}ol")
        for node in nodes:
            item = etree.SubElement(items, f"{{{XHTML}}}li")
            entry = node.entry
            if entry.chapter:
                item.append(_x("a", entry.title, href=f"text/{entry.anchor}.xhtml"))
            else:  # a part that is no page: a heading over its chapters
                item.append(_x("span", entry.title))
            if node.children:
                add(item, node.children)

    add(nav, toc)
    return _serialise(root)


def _ncx(title: str, identifier: str, toc: list[ContentsNode]) -> bytes:
    root = etree.Element(f"{{{NCX}}}ncx", nsmap={None: NCX}, version="2005-1")
    head = etree.SubElement(root, f"{{{NCX}}}head")
    for name, content in (("uid", identifier), ("depth", str(_depth(toc)))):
        etree.SubElement(head, f"{{{NCX}}}meta", name=f"dtb:{name}", content=content)
    for name in ("totalPageCount", "maxPageNumber"):
        etree.SubElement(head, f"{{{NCX}}}meta", name=f"dtb:{name}", content="0")
    doc_title = etree.SubElement(root, f"{{{NCX}}}docTitle")
    etree.SubElement(doc_title, f"{{{NCX}}}text").text = title
    nav_map = etree.SubElement(root, f"{{{NCX}}}navMap")
    play: dict[str, int] = {}  # a part opens at its first chapter: the same place in play order
    count = 0

    def add(parent: etree._Element, nodes: list[ContentsNode]) -> None:
        nonlocal count
        for node in nodes:
            count += 1
            src = f"text/{node.entry.anchor}.xhtml"
            order = play.setdefault(src, len(play) + 1)
            point = etree.SubElement(
                parent, f"{{{NCX}}}navPoint", id=f"np{count}", playOrder=str(order)
            )
            label = etree.SubElement(point, f"{{{NCX}}}navLabel")
            etree.SubElement(label, f"{{{NCX}}}text").text = node.entry.title
            etree.SubElement(point, f"{{{NCX}}}content", src=src)
            add(point, node.children)

    add(nav_map, toc)
    return _serialise(root, doctype=None)


def _depth(nodes: list[ContentsNode]) -> int:
    return 1 + max((_depth(n.children) for n in nodes if n.children), default=0)


def _package(
    title: str,
    identifier: str,
    language: str,
    meta: Mapping[str, str],
    source: str,
    chapters: list[_Written],
    images: Mapping[str, str],
) -> bytes:
    root = etree.Element(f"{{{OPF}}}package", nsmap={None: OPF}, version="3.0")
    root.set("unique-identifier", "book-id")
    root.set(XML_LANG, language)
    metadata = etree.SubElement(root, f"{{{OPF}}}metadata", nsmap={"dc": DC})
    etree.SubElement(metadata, f"{{{DC}}}identifier", id="book-id").text = identifier
    etree.SubElement(metadata, f"{{{DC}}}title").text = title
    etree.SubElement(metadata, f"{{{DC}}}language").text = language
    for field, element in (("author", "creator"), ("publisher", "publisher")):
        if value := _text(meta.get(field, "")):
            etree.SubElement(metadata, f"{{{DC}}}{element}").text = value
    etree.SubElement(metadata, f"{{{DC}}}source").text = source
    modified = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    etree.SubElement(metadata, f"{{{OPF}}}meta", property="dcterms:modified").text = modified
    manifest = etree.SubElement(root, f"{{{OPF}}}manifest")

    def item(id_: str, href: str, media_type: str, **extra: str) -> None:
        attrs = {"id": id_, "href": href, "media-type": media_type, **extra}
        etree.SubElement(manifest, f"{{{OPF}}}item", attrs)

    item("nav", "nav.xhtml", "application/xhtml+xml", properties="nav")
    item("ncx", "toc.ncx", "application/x-dtbncx+xml")
    item("css", "style.css", "text/css")
    for n, chapter in enumerate(chapters, start=1):
        item(f"c{n}", f"text/{chapter.anchor}.xhtml", "application/xhtml+xml")
    for n, (name, media_type) in enumerate(images.items(), start=1):
        item(f"img{n}", name, media_type)
    spine = etree.SubElement(root, f"{{{OPF}}}spine", toc="ncx")
    for n in range(1, len(chapters) + 1):
        etree.SubElement(spine, f"{{{OPF}}}itemref", idref=f"c{n}")
    return _serialise(root, doctype=None)


def _container() -> bytes:
    ns = "urn:oasis:names:tc:opendocument:xmlns:container"
    root = etree.Element(f"{{{ns}}}container", nsmap={None: ns}, version="1.0")
    files = etree.SubElement(root, f"{{{ns}}}rootfiles")
    etree.SubElement(
        files,
        f"{{{ns}}}rootfile",
        {"full-path": "EPUB/content.opf", "media-type": "application/oebps-package+xml"},
    )
    return _serialise(root, doctype=None)


def _text(value: str) -> str:
    """Text safe for XML: control characters dropped, whitespace collapsed."""
    return " ".join(_CONTROL.sub("", value).split())

"""PDF: the book printed by headless Chromium in batches of chapters, merged into one file.

One HTML document for a whole site is too much for Chromium: the Python docs (526 pages,
23 MB of HTML, thousands of A4 pages) took 9 GB of memory that way. So chapters are printed
in batches of about ``BATCH_BYTES`` of HTML, each in a fresh page (the renderer's memory
stays bounded; reusing one page grew it by 600 MB), the next batch rendered in a thread
while Chromium prints this one. Once Chromium is closed the parts are merged with pypdf
(merging while printing was ~20% faster, but the two peaks added up past 1.5 GB), and:

- links between chapters are resolved. A batch cannot link into another one, so every link
  to a chapter is written as ``https://pdf.invalid/chapter/<anchor>``; after merging, it and
  Chromium's own links (by destination name, which pypdf moves to a name tree where the
  links no longer find them) all become links to an explicit page position.
- the outline (bookmarks) is built here, not by Chromium: its ``outline`` option needs a
  tagged PDF, which made printing 3.5x slower and parts 3x bigger (pypdf parses every
  object it merges). Each chapter ends with a hidden list of links to its title and
  headings, so Chromium writes a named destination (page, position) for each; the outline
  is chapters at the top level, their ``h2``/``h3`` below.
- pages are numbered: ``n / total`` is stamped in the bottom margin of every page but the
  cover (a footer template would restart at 1 in every batch), and each entry of the
  contents gets the number of the page its link now goes to, right-aligned beside it.

Chromium fetches nothing itself: it runs behind a proxy port that refuses every
connection, with JavaScript off, and every request is aborted except the images, which
are answered from the files the ImageLoader fetched through the network policy.

Without a usable Chromium (none found, the configured path not executable, or it fails to
start) the book is printed by WeasyPrint in a child process (``pdf_weasy``); a warning says
why. A broken configured path falls back rather than fails: the health check reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import html as htmllib
import re
import tempfile
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from scrape_api_docs.crawler.browser import BrowserUnavailable, ClosedPort, find_browser, launch
from scrape_api_docs.errors import ExportFailedError
from scrape_api_docs.exporters.book import Book, ContentsNode, contents_tree
from scrape_api_docs.exporters.html_render import (
    LinkMapper,
    RenderedChapter,
    escape,
    highlight_css,
    language_or_default,
    render_chapter,
)
from scrape_api_docs.exporters.pdf_merge import CHAPTER_LINK, Merger
from scrape_api_docs.exporters.resources import ImageLoader, LocalImage

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Route

    from scrape_api_docs.exporters.registry import ExportContext

log = structlog.get_logger("export")

ORIGIN = "https://pdf.invalid"
"""Where the printer's images and cross-chapter links point (``.invalid`` never resolves)."""
IMAGE_PREFIX = f"{ORIGIN}/image/"
BATCH_BYTES = 1_000_000
SPLIT_BYTES = 1_000_000
"""A chapter with more HTML than this is printed in pieces of about this size (cut between
its top-level elements): one 9 MB page printed whole took Chromium 3.7 GB (PSS)."""
# Printing uses one page at a time: one renderer process and the GPU thread in the browser
# process are enough, and each process Chromium does not start saves its own copy of the
# shared libraries in the summed RSS.
PRINT_ARGS = ("--renderer-process-limit=1", "--in-process-gpu")
"""HTML per Chromium document (about 100 A4 pages)."""
OUTLINE_DEPTH = 3
"""Heading levels in the bookmarks: chapter titles (h1), h2 and h3."""
PRINT_TIMEOUT = 600.0
"""Seconds Chromium may take over one batch."""

CSS = """
@page { size: A4; margin: 16mm 15mm 18mm 15mm; }
html { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; font-size: 10pt;
  line-height: 1.4; color: #111; }
body { margin: 0; }
a { color: #1a4f8b; text-decoration: none; }
h1, h2, h3, h4, h5, h6 { line-height: 1.2; break-after: avoid; }
h1 { font-size: 20pt; margin: 0 0 4pt; }
h2 { font-size: 15pt; } h3 { font-size: 12.5pt; } h4, h5, h6 { font-size: 11pt; }
.chapter { break-before: page; }
.chapter > .source { font-size: 8pt; color: #666; margin: 0 0 12pt; overflow-wrap: anywhere; }
.cover { height: 240mm; display: flex; flex-direction: column; justify-content: center; }
.cover .title { font-size: 28pt; font-weight: bold; margin: 0 0 18pt; }
.cover p { font-size: 11pt; margin: 4pt 0; overflow-wrap: anywhere; }
.toc { break-before: page; }
.toc .toc-title { font-size: 20pt; font-weight: bold; margin: 0 0 10pt; }
.toc ol { padding: 0 3em 0 2em; margin: 0; }
.toc li { margin: 2pt 0; }
.toc ol ol { padding-right: 0; padding-left: 1.5em; }
.toc .part { font-weight: bold; }
p, li { orphans: 2; widows: 2; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 8.5pt; line-height: 1.3;
  background: #f6f8fa; border: 1px solid #e1e4e8; padding: 6pt 8pt; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.9em;
  overflow-wrap: anywhere; }
pre code { font-size: inherit; }
table { table-layout: fixed; width: 100%; border-collapse: collapse; overflow-wrap: anywhere;
  margin: 6pt 0; font-size: 9pt; }
th, td { border: 1px solid #ccc; padding: 3pt 4pt; vertical-align: top; text-align: left; }
img { max-width: 100%; height: auto; }
blockquote { margin: 6pt 0; padding-left: 10pt; border-left: 3px solid #ddd; }
/* An admonition is a blockquote opening with its title: the title never ends a page. */
blockquote > :first-child { break-after: avoid; }
"""

_BODY_H1 = re.compile(r"<(/?)h1\b")
_HEADING = re.compile(r"<h([1-6])\b([^>]*)>(.*?)</h\1>", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_TAG = re.compile(r"<[^>]*>")
_ELEMENT_TAG = re.compile(r"""<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""")
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
_LOCAL_HREF = re.compile(r'href="#([^"]+)"')


def export_pdf(book: Book, path: Path, ctx: ExportContext) -> Path:
    """Write ``book`` to ``path`` as a PDF; ExportFailedError when it cannot be printed."""
    meta = {k: str(v) for k, v in ctx.metadata.items() if v}
    browser = find_browser(ctx.browser_path)
    if browser is not None:
        try:
            _export_chromium(book, path, browser, ctx.images, meta)
            return path
        except BrowserUnavailable as exc:
            reason = str(exc)
    else:
        reason = (
            f"browser path {ctx.browser_path} is not executable"
            if ctx.browser_path
            else "no Chromium found"
        )
    log.warning("pdf_fallback_weasyprint", reason=reason)
    from scrape_api_docs.exporters.pdf_weasy import export_weasyprint  # it imports this module

    export_weasyprint(book, path, ctx.images, meta)
    return path


# --- HTML -------------------------------------------------------------------------------


def image_url(url: str) -> str:
    """The synthetic URL the printer loads the image at ``url`` from."""
    return IMAGE_PREFIX + hashlib.sha256(url.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ChapterPart:
    html: str
    image_urls: tuple[str, ...]
    outline: list[tuple[int, str, str]]
    """(level from 0, title, element id) of the chapter title and its headings."""


def page_html(title: str, language: str, body: str, css: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}{highlight_css()}{css}</style></head>"
        f"<body>{body}</body></html>"
    )


def front_matter(book: Book, meta: Mapping[str, str], link_for: LinkMapper) -> str:
    """Cover (title, source, author, date) and the table of contents."""
    date = meta.get("date") or dt.datetime.now(dt.UTC).date().isoformat()
    source = escape(book.start_url)
    lines = [f'<p class="source">Source: <a href="{source}">{source}</a></p>']
    if meta.get("author"):
        lines.append(f'<p class="author">{escape(meta["author"])}</p>')
    lines.append(f'<p class="date">{escape(date)}</p>')
    items = contents_html(contents_tree(book.contents), link_for)
    # No headings: WeasyPrint makes bookmarks of them, and there chapters are the top level.
    return (
        f'<section class="cover"><p class="title">{escape(book.title)}</p>{"".join(lines)}'
        f'</section><nav class="toc"><p class="toc-title">Contents</p><ol>{items}</ol></nav>'
    )


def contents_html(nodes: list[ContentsNode], link_for: LinkMapper) -> str:
    """The contents' list items, nested (``<ol>`` in an item) as the site nests its pages;
    a part that is no page is a ``<span>``."""
    out = []
    for node in nodes:
        entry = node.entry
        text = escape(entry.title)
        head = (
            f'<a href="{escape(link_for(entry.anchor))}">{text}</a>'
            if entry.chapter
            else f'<span class="part">{text}</span>'
        )
        inner = f"<ol>{contents_html(node.children, link_for)}</ol>" if node.children else ""
        out.append(f"<li>{head}{inner}</li>")
    return "".join(out)


def chapter_part(chapter: RenderedChapter, sections: Iterable[str] = ()) -> ChapterPart:
    """A chapter whose title is its only ``h1``, ending with a hidden list of links to its
    title, headings and ``sections`` (its section anchors): Chromium writes a named
    destination for every link target, and those are where the bookmarks and the links
    between chapters point."""
    anchor = escape(chapter.anchor)
    body = _BODY_H1.sub(r"<\1h2", chapter.body_html)
    outline = [(0, chapter.title, chapter.anchor)]
    for match in _HEADING.finditer(body):
        level, found = int(match.group(1)) - 1, _ID.search(match.group(2))
        if found and level < OUTLINE_DEPTH:
            title = htmllib.unescape(_TAG.sub("", match.group(3))).strip()
            outline.append((level, title or "(untitled)", htmllib.unescape(found.group(1))))
    names = dict.fromkeys([*(name for _, _, name in outline), *sections])
    targets = "".join(f'<a href="#{escape(name)}"></a>' for name in names)
    source = escape(chapter.source_url)
    html = (
        f'<section class="chapter"><h1 id="{anchor}">{escape(chapter.title)}</h1>'
        f'<p class="source"><a href="{source}">{source}</a></p>{body}'
        f'<div class="targets" hidden>{targets}</div></section>'
    )
    return ChapterPart(html, chapter.image_urls, outline)


def split_body(body: str, limit: int) -> list[str]:
    """``body`` cut between its top-level elements into pieces of at least ``limit``
    characters (the last one shorter; an element longer than ``limit`` stays whole).
    ``body`` is sanitised HTML: no comments, ``<`` escaped in text and code."""
    pieces: list[str] = []
    start = depth = 0
    for match in _ELEMENT_TAG.finditer(body):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            depth = max(0, depth - 1)
        elif name not in _VOID and not rest.endswith("/"):
            depth += 1
        if depth == 0 and match.end() - start >= limit:
            pieces.append(body[start : match.end()])
            start = match.end()
    if start < len(body):
        pieces.append(body[start:])
    return pieces or [body]


def split_chapter(
    chapter: RenderedChapter, sections: Iterable[str], limit: int
) -> list[ChapterPart]:
    """A chapter with more than ``limit`` characters of HTML as several parts, each printed
    on its own: the first with the title, each with the bookmarks and link targets of the
    headings and ids it holds. Links within the chapter go through ``CHAPTER_LINK`` (like
    links between chapters), so they are resolved after merging, whichever part holds
    their target."""
    sections = list(sections)
    whole = chapter_part(chapter, sections)
    if len(whole.html) <= limit:
        return [whole]
    body = _BODY_H1.sub(r"<\1h2", chapter.body_html)
    linked = [htmllib.unescape(name) for name in _LOCAL_HREF.findall(body)]
    body = _LOCAL_HREF.sub(lambda m: f'href="{CHAPTER_LINK}{m.group(1)}"', body)
    names = list(dict.fromkeys([*(name for _, _, name in whole.outline), *sections, *linked]))
    anchor, source = escape(chapter.anchor), escape(chapter.source_url)
    parts = []
    for number, piece in enumerate(split_body(body, limit)):
        ids = {htmllib.unescape(found) for found in _ID.findall(piece)}
        if number == 0:
            ids.add(chapter.anchor)
            head = (
                f'<section class="chapter"><h1 id="{anchor}">{escape(chapter.title)}</h1>'
                f'<p class="source"><a href="{source}">{source}</a></p>'
            )
        else:
            head = '<section class="chapter-continued">'
        targets = "".join(f'<a href="#{escape(name)}"></a>' for name in names if name in ids)
        html = f'{head}{piece}<div class="targets" hidden>{targets}</div></section>'
        images = tuple(url for url in chapter.image_urls if image_url(url) in piece)
        outline = [entry for entry in whole.outline if entry[2] in ids]
        parts.append(ChapterPart(html, images, outline))
    return parts


def chapter_parts(
    book: Book, link_for: LinkMapper, split_at: int | None = None
) -> Iterator[ChapterPart]:
    """Each chapter in reading order, read and rendered one at a time; with ``split_at``,
    one longer than that in several parts (``split_chapter``)."""
    for chapter in book:
        rendered = render_chapter(book, chapter, link_for)
        if rendered.image_urls:  # again, with the images at the URLs the printer serves
            names = {url: image_url(url) for url in rendered.image_urls}
            rendered = render_chapter(book, chapter, link_for, names)
        sections = book.marks(chapter.ref.anchor).values()
        whole = [chapter_part(rendered, sections)] if split_at is None else None
        pieces = whole or split_chapter(rendered, sections, split_at or 0)
        # Bookmarks nest as the contents do: the chapter at its depth, the parts that open
        # before it (pointing at it) above it.
        anchor, depth = chapter.ref.anchor, book.depth.get(chapter.ref.anchor, 0)
        parts = [(p.depth, p.title, anchor) for p in book.parts.get(anchor, [])]
        for n, piece in enumerate(pieces):
            shifted = [(level + depth, title, name) for level, title, name in piece.outline]
            yield replace(piece, outline=[*parts, *shifted] if n == 0 else shifted)


def fetch_images(loader: ImageLoader | None, urls: list[str]) -> dict[str, LocalImage]:
    """Synthetic URL -> local file of the images among ``urls`` the policy let through."""
    if loader is None or not urls:
        return {}
    return {image_url(url): image for url, image in loader.fetch(urls).items()}


# --- Chromium ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    html: str
    images: dict[str, LocalImage]
    outline: list[tuple[int, str, str]]


def _batches(
    book: Book,
    meta: Mapping[str, str],
    images: ImageLoader | None,
    limit: int,
    split_at: int | None = None,
) -> Generator[_Batch, None, None]:
    def link_for(anchor: str) -> str:
        return CHAPTER_LINK + anchor

    def batch() -> _Batch:
        html = page_html(book.title, language_or_default(meta.get("language")), "".join(parts))
        return _Batch(html, fetch_images(images, urls), outline)

    parts = [front_matter(book, meta, link_for)]
    size = len(parts[0])
    urls: list[str] = []
    outline: list[tuple[int, str, str]] = []
    for chapter in chapter_parts(book, link_for, split_at):
        parts.append(chapter.html)
        urls.extend(chapter.image_urls)
        outline.extend(chapter.outline)
        size += len(chapter.html)
        if size >= limit:
            yield batch()
            parts, urls, outline, size = [], [], [], 0
    if parts:
        yield batch()


def _export_chromium(
    book: Book,
    path: Path,
    browser_path: str,
    images: ImageLoader | None,
    meta: Mapping[str, str],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pdf-parts-", dir=path.parent) as tmp:
        batches = _batches(book, meta, images, BATCH_BYTES, SPLIT_BYTES)
        try:
            parts = asyncio.run(_print_parts(batches, Path(tmp), browser_path))
        finally:
            batches.close()
        # Merged once Chromium is gone: ~700 MB of pypdf objects for the Python docs, and
        # Chromium's ~1 GB beside them would pass 1.5 GB.
        merger = Merger()
        for part, outline in parts:
            merger.add(part, outline)
        merger.finish(path, book, meta)


async def _print_parts(
    batches: Iterator[_Batch], folder: Path, browser_path: str
) -> list[tuple[Path, list[tuple[int, str, str]]]]:
    """Print each batch to a file: Chromium prints batch n while a thread renders n+1."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    closed = ClosedPort()
    parts: list[tuple[Path, list[tuple[int, str, str]]]] = []
    rendering: asyncio.Future[_Batch | None] = asyncio.ensure_future(
        asyncio.to_thread(next, batches, None)
    )
    try:
        async with async_playwright() as playwright:
            browser = await launch(
                playwright, browser_path, proxy_server=closed.proxy_server, extra_args=PRINT_ARGS
            )
            try:
                served: dict[str, LocalImage] = {}
                context = await _offline_context(browser, served)
                while (batch := await rendering) is not None:
                    rendering = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
                    served.clear()
                    served.update(batch.images)
                    part = folder / f"part-{len(parts):05d}.pdf"
                    await asyncio.wait_for(_print(context, batch.html, part), PRINT_TIMEOUT)
                    parts.append((part, batch.outline))
            finally:
                with contextlib.suppress(PlaywrightError):
                    await browser.close()
    except PlaywrightError as exc:
        raise ExportFailedError(f"Chromium could not print the PDF: {_first(exc)}") from exc
    except TimeoutError as exc:
        raise ExportFailedError(
            f"Chromium took over {PRINT_TIMEOUT:.0f} s to print part {len(parts) + 1}"
        ) from exc
    finally:
        closed.close()
        # A thread cannot be stopped: let the batch being rendered finish before the
        # generator is closed.
        with contextlib.suppress(Exception):
            await rendering
    return parts


async def _offline_context(browser: Browser, served: Mapping[str, LocalImage]) -> BrowserContext:
    """A context with no JavaScript whose every request is aborted, except images in
    ``served`` (answered from their files)."""
    from playwright.async_api import Error as PlaywrightError

    async def answer(route: Route) -> None:
        image = served.get(route.request.url)
        with contextlib.suppress(PlaywrightError):  # the page may be gone already
            if image is not None:
                await route.fulfill(path=image.path, content_type=image.media_type)
            else:
                await route.abort("blockedbyclient")

    context = await browser.new_context(java_script_enabled=False, service_workers="block")
    await context.route("**/*", answer)
    return context


async def _print(context: BrowserContext, html: str, part: Path) -> None:
    page = await context.new_page()
    try:
        await page.set_content(html, wait_until="load", timeout=PRINT_TIMEOUT * 1000)
        await page.pdf(
            path=part,
            format="A4",
            margin={"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
            print_background=True,
        )
    finally:
        await page.close()


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- merging ----------------------------------------------------------------------------

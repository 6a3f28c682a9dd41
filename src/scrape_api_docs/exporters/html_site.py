"""The HTML site: the crawl as a static website with navigation and search, in one zip.

Layout of the zip (no top folder)::

    index.html              the first chapter (the start page)
    <anchor>.html           every other chapter, flat, so every link is a plain file name
    contents.html           every page in order (only when sidebars are windowed, see below)
    assets/style.css        readable defaults and the Pygments colours
    assets/icon.svg         a blank icon, so no browser asks the server for /favicon.ico
    assets/site.js          our only code: the search box, the sidebar scrolled to the page
    assets/search-index.js  ``window.SEARCH_INDEX = {...}``: a script, not JSON, because
                            ``fetch()`` is refused for ``file://`` pages; loaded on first use
    images/<hash>.<ext>     the images the image loader could fetch; any other image is its
                            alt text (the site never loads anything from elsewhere)

Scraped content reaches a page only through ``render_chapter`` (nh3); titles are escaped.
Every page carries a Content-Security-Policy that allows scripts, styles and images only
from the site's own files (no inline code anywhere), so a sanitiser miss still cannot run
script, and opening the site makes no request elsewhere.

Pages are written into the zip one at a time; what stays in memory is the chapter list
and a small search entry a page (title, headings, summary, its most frequent terms).
A sidebar lists every chapter up to ``sidebar_limit`` chapters; bigger sites get a window
around the current page plus ``contents.html``, so the zip does not grow with n².
"""

from __future__ import annotations

import html
import json
import re
import time
import zipfile
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from scrape_api_docs import __version__
from scrape_api_docs.exporters.book import (
    Book,
    Chapter,
    ChapterRef,
    ContentsNode,
    chapter_of,
    contents_tree,
)
from scrape_api_docs.exporters.html_render import (
    RenderedChapter,
    escape,
    heading_slug,
    highlight_css,
    language_or_default,
    render_chapter,
)
from scrape_api_docs.exporters.resources import ImageLoader
from scrape_api_docs.exporters.text import plain_text, summary

SIDEBAR_LIMIT = 500
INDEX_SCRIPT = "assets/search-index.js"
CONTENTS = "contents.html"
ICON = "assets/icon.svg"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
_TERMS_PER_PAGE = 120
_HEADINGS_PER_PAGE = 150
_ENTRIES_PER_PAGE = 500
_HEADING = re.compile(r"<h([2-6])\b[^>]*?\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.S)
_TAG = re.compile(r"<[^>]+>")
_TERM = re.compile(r"\w+")
_STOP_WORDS = (
    "the and for are but not you your with this that from have has was were will can may "
    "all any its into than then them they these those there when which what who how also "
    "use used using one two more most such only other each been being does did our out"
)
_STOP = frozenset(_STOP_WORDS.split())


def page_files(book: Book) -> dict[str, str]:
    """Chapter anchor -> its file: the first chapter is ``index.html``, the rest
    ``<anchor>.html`` (anchors are already unique slugs; reserved names get a suffix)."""
    files: dict[str, str] = {}
    used = {"index", CONTENTS.removesuffix(".html")}
    for position, ref in enumerate(book.chapters):
        if position == 0:
            files[ref.anchor] = "index.html"
            continue
        name, n = ref.anchor, 2
        while name in used:
            name, n = f"{ref.anchor}-{n}", n + 1
        used.add(name)
        files[ref.anchor] = f"{name}.html"
    return files


def export_html_site(
    book: Book,
    path: Path,
    *,
    images: ImageLoader | None = None,
    language: str = "en",
    sidebar_limit: int = SIDEBAR_LIMIT,
) -> Path:
    files = page_files(book)
    language = language_or_default(language)
    site = _Site(book, files, language, sidebar_limit)
    entries: list[list[object]] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        written: set[str] = set()
        for chapter in book:
            rendered = _render(book, chapter, files, images, archive, written)
            name = files[chapter.ref.anchor]
            write_text(archive, name, site.chapter_page(chapter.ref, rendered))
            entries.append(search_entry(book, chapter, name, rendered))
        if len(book.chapters) > sidebar_limit:
            write_text(archive, CONTENTS, site.contents_page())
        write_text(archive, "assets/style.css", stylesheet())
        write_text(archive, "assets/site.js", _asset("site.js"))
        write_text(archive, ICON, '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>\n')
        write_text(archive, INDEX_SCRIPT, index_script(book.title, entries))
    return path


def write_text(archive: zipfile.ZipFile, name: str, text: str) -> None:
    """A file in the zip, readable by all once unzipped (``writestr`` alone gives 0600,
    which a web server running as another user cannot read)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, text.encode())


def _render(
    book: Book,
    chapter: Chapter,
    files: Mapping[str, str],
    images: ImageLoader | None,
    archive: zipfile.ZipFile,
    written: set[str],
) -> RenderedChapter:
    """The chapter's HTML; with a loader, its images copied into ``images/`` and the page
    rendered again pointing at the copies (only pages that show images pay twice). An
    image not copied is its alt text."""

    def link_for(anchor: str) -> str:
        page = files.get(chapter_of(anchor), "index.html")
        return page if anchor in files else f"{page}#{anchor}"

    rendered = render_chapter(book, chapter, link_for)
    if images is None or not rendered.image_urls:
        return rendered
    local = images.fetch(rendered.image_urls)
    if not local:
        return rendered
    for image in local.values():
        name = f"images/{image.name}"
        if name not in written:
            packed = image.media_type == "image/svg+xml"
            kind = zipfile.ZIP_DEFLATED if packed else zipfile.ZIP_STORED
            archive.write(image.path, name, compress_type=kind)
            written.add(name)
    sources = {url: f"images/{image.name}" for url, image in local.items()}
    return render_chapter(book, chapter, link_for, sources)


class _Site:
    """The shared frame of every page: head, top bar with search, sidebar, pager."""

    def __init__(self, book: Book, files: dict[str, str], language: str, limit: int) -> None:
        self.book = book
        self.files = files
        self.language = language
        self.limit = limit
        self.position = {ref.anchor: i for i, ref in enumerate(book.chapters)}

    def chapter_page(self, ref: ChapterRef, rendered: RenderedChapter) -> str:
        position = self.position[ref.anchor]
        source = rendered.source_url
        link = (
            f'<a href="{escape(source)}">{escape(source)}</a>'
            if source.startswith(("http://", "https://"))
            else escape(source)
        )
        main = (
            f"<article>\n<h1>{escape(ref.title)}</h1>\n"
            f'<p class="source">Source: {link}</p>\n{rendered.body_html}\n</article>\n'
            f"{self._pager(position)}"
        )
        return self._frame(ref.title, self._sidebar(position), main)

    def contents_page(self) -> str:
        items = self._nested(contents_tree(self.book.contents), None)
        main = f'<article>\n<h1>All pages</h1>\n<ol class="contents">\n{items}</ol>\n</article>'
        return self._frame("All pages", "", main)

    def _frame(self, title: str, sidebar: str, main: str) -> str:
        head_title = title if title == self.book.title else f"{title} — {self.book.title}"
        return _PAGE.format(
            lang=escape(self.language),
            csp=CSP,
            version=escape(__version__),
            head_title=escape(head_title),
            site_title=escape(self.book.title),
            index=INDEX_SCRIPT,
            icon=ICON,
            sidebar=sidebar,
            main=main,
        )

    def _sidebar(self, current: int) -> str:
        if len(self.book.chapters) <= self.limit:  # every chapter, nested as the site is
            items = self._nested(contents_tree(self.book.contents), current)
        else:  # a window of the reading order around the page
            positions = sidebar_positions(len(self.book.chapters), current, self.limit)
            items = "".join(
                self._item(p, current) if p is not None else '<li class="gap">…</li>\n'
                for p in positions
            )
        everything = (
            f'<p class="all-pages"><a href="{CONTENTS}">All pages</a></p>\n'
            if len(self.book.chapters) > self.limit
            else ""
        )
        return f'<nav class="sidebar" aria-label="Pages">\n{everything}<ol>\n{items}</ol>\n</nav>'

    def _nested(self, nodes: list[ContentsNode], current: int | None) -> str:
        """Contents entries as list items, each with its own below it in an ``<ol>``; a part
        of the site's navigation that is no page is a ``<span>``."""
        out = []
        for node in nodes:
            entry = node.entry
            inner = f"<ol>\n{self._nested(node.children, current)}</ol>\n" if node.children else ""
            if entry.chapter:
                position = self.position[entry.anchor]
                out.append(self._item(position, current).replace("</li>\n", f"{inner}</li>\n"))
            else:
                out.append(f'<li><span class="part">{escape(entry.title)}</span>\n{inner}</li>\n')
        return "".join(out)

    def _item(self, position: int, current: int | None) -> str:
        ref = self.book.chapters[position]
        mark = ' aria-current="page"' if position == current else ""
        href = self.files[ref.anchor]
        return f'<li><a href="{href}"{mark}>{escape(ref.title)}</a></li>\n'

    def _pager(self, position: int) -> str:
        links = []
        for step, rel, label in ((-1, "prev", "Previous"), (1, "next", "Next")):
            other = position + step
            if 0 <= other < len(self.book.chapters):
                ref = self.book.chapters[other]
                links.append(
                    f'<a class="{rel}" rel="{rel}" href="{self.files[ref.anchor]}">'
                    f"<span>{label}</span>{escape(ref.title)}</a>"
                )
        return f'<nav class="pager" aria-label="Previous and next page">{"".join(links)}</nav>'


def sidebar_positions(count: int, current: int, limit: int) -> list[int | None]:
    """Chapter positions a sidebar lists (None marks a gap): all of them up to ``limit``,
    else ``limit`` around the current one, with the first chapter kept on top."""
    if count <= limit:
        return list(range(count))
    low = max(0, min(current - limit // 2, count - limit))
    high = low + limit
    head: list[int | None] = [0, None] if low > 1 else [0] if low == 1 else []
    return [*head, *range(low, high), *([None] if high < count else [])]


def search_entry(
    book: Book, chapter: Chapter, href: str, rendered: RenderedChapter
) -> list[object]:
    """``[title, href, anchor, headings, summary, "terms ..."]``: the page's title, its
    headings and the API entries the page marks (``book``: those some link goes to) whole,
    plus its most frequent words (a bounded size a page, whatever its length).

    A heading whose id is ``<anchor>--<heading_slug(text)>`` is stored as its text alone
    (site.js derives the id the same way); others, and entries, as ``[text, id after
    "<anchor>--"]``. Ids are most of an API page's entry, so this halves the index of an
    API reference.
    """
    prefix = f"{rendered.anchor}--"
    headings: list[object] = []
    for _, hid, inner in _HEADING.findall(rendered.body_html)[:_HEADINGS_PER_PAGE]:
        if not hid.startswith(prefix):
            continue  # render_chapter prefixes every id; anything else is not ours to link
        text = " ".join(html.unescape(_TAG.sub("", inner)).split())
        suffix = hid[len(prefix) :]
        derivable = text.isascii() and suffix == heading_slug(text)
        headings.append(text if derivable else [text, suffix])
    marked = book.marks(rendered.anchor)
    for term in chapter.document.terms[:_ENTRIES_PER_PAGE]:
        section = marked.get(term.anchor)
        if section is not None:
            headings.append([term.text, section[len(prefix) :]])
    markdown = chapter.document.markdown
    terms = " ".join(_terms(markdown))
    return [chapter.ref.title, href, rendered.anchor, headings, summary(markdown), terms]


def _terms(markdown: str) -> list[str]:
    counts = Counter(
        word
        for word in _TERM.findall(plain_text(markdown).lower())
        if 3 <= len(word) <= 40 and word not in _STOP and not word.isdigit()
    )
    return [word for word, _ in counts.most_common(_TERMS_PER_PAGE)]


def index_script(title: str, entries: list[list[object]]) -> str:
    """The search index as a script that sets a global (ASCII-only JSON: no charset doubt)."""
    data = json.dumps({"title": title, "pages": entries}, separators=(",", ":"))
    return f"window.SEARCH_INDEX = {data};\n"


# The site's own (blank) icon spares every server a request for /favicon.ico (and a 404
# in its log); a data: icon would need ``img-src data:``.
_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="scrape-api-docs {version}">
<title>{head_title}</title>
<link rel="icon" href="{icon}">
<link rel="stylesheet" href="assets/style.css">
<script src="assets/site.js" defer></script>
</head>
<body>
<header class="topbar">
<a class="site-title" href="index.html">{site_title}</a>
<div id="search" class="search" role="search" data-index="{index}" hidden>
<input id="search-input" type="search" placeholder="Search (press /)" autocomplete="off"
 spellcheck="false" aria-label="Search the documentation" aria-controls="search-results">
<ol id="search-results" hidden></ol>
</div>
</header>
<div class="layout">
{sidebar}
<main id="content">
{main}
</main>
</div>
</body>
</html>
"""


def stylesheet() -> str:
    return _asset("style.css") + highlight_css(".highlight")


def _asset(name: str) -> str:
    """The site's own CSS and JavaScript, shipped as files beside this module."""
    return (resources.files(__package__) / "site_assets" / name).read_text(encoding="utf-8")

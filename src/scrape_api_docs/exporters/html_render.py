"""Chapters as safe HTML: the one renderer the PDF, EPUB and HTML-site exporters share.

A chapter's stored Markdown is re-levelled (the chapter title is the ``h1``, the page's
own headings go below it), converted by pulldown-cmark (``pyromark``: CommonMark with
tables; about 20 times faster than markdown-it-py on Python's docs, which have ~100k
links), headings get ids, code blocks are highlighted by Pygments, links to crawled pages
are rewritten to wherever that chapter lives in the output, and the result is passed
through ``nh3`` (scraped content is untrusted: no scripts, no event handlers, no
``javascript:`` URLs, only the tags and attributes a document needs).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import nh3
import pyromark
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.styles.default import DefaultStyle
from pygments.token import Error, _TokenType
from pygments.util import ClassNotFound

from scrape_api_docs.exporters.book import Book, Chapter, chapter_parts
from scrape_api_docs.exporters.text import plain_text

LinkMapper = Callable[[str], str]
"""Chapter or section anchor (``a`` or ``a--s``, see ``book``) -> the href that reaches it
in this output ("#a", "a.xhtml", "a.xhtml#a--s", ...)."""

_SAFE_SCHEMES = {"http", "https", "mailto"}
_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"id", "class", "lang", "title"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
}
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
"""A BCP 47 language tag, in the form EPUB and HTML ``lang`` accept."""
_CODE_FORMATTER = HtmlFormatter(nowrap=True)
_MARKDOWN_OPTIONS = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)
_MARKED_HEADING = re.compile(r'(?:<p><a id="([^"]*)"></a></p>\s*)?<h([1-6])>(.*?)</h\2>', re.S)
"""A heading, and the section mark (``book.section_mark``) just before it if any."""
_CODE_BLOCK = re.compile(r'<pre><code(?: class="language-([^"]*)")?>(.*?)</code></pre>', re.S)
_TAG = re.compile(r"<[^>]*>")
_ID = re.compile(r'\bid="([^"]*)"')
_UNSHOWN_IMAGE = re.compile(r'<img\b(?![^>]*\ssrc=")[^>]*>')
"""An image the sanitiser left without a ``src`` (nh3 writes every attribute quoted)."""
_ALT = re.compile(r'\salt="([^"]*)"')


class _CodeStyle(DefaultStyle):
    """Pygments' default theme without its red box around Error tokens: a lexer marks as
    an error whatever it does not expect (the ``$`` of a shell session labelled Python),
    and a docs page's code is what it is, not a mistake to point at."""

    styles: ClassVar[dict[_TokenType, str]] = {**DefaultStyle.styles, Error: ""}


def highlight_css(selector: str = ".highlight") -> str:
    """The stylesheet for highlighted code, the one every export uses."""
    return str(HtmlFormatter(style=_CodeStyle).get_style_defs(selector))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class RenderedChapter:
    anchor: str
    title: str
    """Plain text, Markdown removed (escape it when writing HTML)."""
    source_url: str
    body_html: str
    """Sanitised HTML of the page, headings from ``h2`` down, ids prefixed by the anchor."""
    image_urls: tuple[str, ...]
    """Absolute URLs of the images the body shows, in order (for exporters that embed)."""


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def chapter_markdown(book: Book, chapter: Chapter) -> tuple[str, str]:
    """(title, body Markdown): the page's top heading becomes the title when the page opens
    with it; the rest is shifted so the page's top level lands on ``##``."""
    heading, body = chapter_parts(book, chapter, 1)
    return plain_text(heading.lstrip("#").strip()) or chapter.ref.title, body


def render_chapter(
    book: Book,
    chapter: Chapter,
    link_for: LinkMapper,
    image_src: Mapping[str, str] | None = None,
) -> RenderedChapter:
    """One chapter as sanitised HTML. ``image_src`` maps an image URL to the src to write
    (an embedded copy); an image not in it becomes its alt text in brackets, so no export
    makes whoever opens it fetch anything from elsewhere (``image_urls`` lists them all,
    for the exporter to fetch and render again)."""
    title, body = chapter_markdown(book, chapter)
    anchor = chapter.ref.anchor
    images: list[str] = []
    chapter_anchors = book.anchors_set

    sections = book.section_set

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr == "href" and tag == "a":
            if value.startswith("#"):
                target = value[1:]
                if target in chapter_anchors or target in sections:
                    return link_for(target)
                return f"#{anchor}--{target}" if target else None
            return value
        if attr == "src" and tag == "img":
            images.append(value)
            return (image_src or {}).get(value)
        if attr == "id":
            return f"{anchor}--{value}" if not value.startswith(f"{anchor}--") else value
        return value

    raw = _highlight_code(_heading_ids(pyromark.html(body, options=_MARKDOWN_OPTIONS), anchor))
    clean = sanitise(raw, attribute_filter)
    source = chapter.document.final_url or chapter.ref.url
    return RenderedChapter(anchor, title, source, clean, tuple(dict.fromkeys(images)))


AttributeFilter = Callable[[str, str, str], str | None]


def sanitise(raw: str, attribute_filter: AttributeFilter) -> str:
    """``raw`` HTML made safe: only a document's tags and attributes, no scripts or event
    handlers, only http(s) and mailto links; an image ``attribute_filter`` left without a
    ``src`` becomes its alt text in brackets."""
    clean = nh3.clean(
        raw,
        tags=_TAGS,
        clean_content_tags={"script", "style", "template", "noscript"},
        attributes=_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=_SAFE_SCHEMES,
        link_rel=None,
    )
    if "<img" in clean:
        clean = _UNSHOWN_IMAGE.sub(_alt_text, clean)
    return clean


def markdown_preview(markdown: str, id_prefix: str) -> str:
    """A Markdown book (or part of one) as safe HTML to show inside another page (the
    dashboard's preview): the exports' renderer and sanitiser, code highlighted, every id
    and in-page link prefixed with ``id_prefix`` (the book's ids cannot clash with the host
    page's), and no image loaded from anywhere (alt text instead)."""

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr == "id":
            return id_prefix + value
        if attr == "href" and tag == "a" and value.startswith("#"):
            return "#" + id_prefix + value[1:] if len(value) > 1 else None
        if attr == "src" and tag == "img":
            return None
        return value

    raw = _highlight_code(pyromark.html(markdown, options=_MARKDOWN_OPTIONS))
    return sanitise(raw, attribute_filter)


def _alt_text(match: re.Match[str]) -> str:
    alt = _ALT.search(match.group(0))
    text = " ".join(html.unescape(alt.group(1)).split()) if alt else ""
    return escape(f"[{text}]") if text else ""


def _heading_ids(rendered: str, anchor: str) -> str:
    """Give every heading an id, unique in the chapter and prefixed by its anchor (one PDF
    or HTML page holds many chapters): the section anchor of the mark just before it (the
    mark goes: links to the page's id land on the heading itself), else a slug of its
    text."""
    used = set(_ID.findall(rendered))  # the section marks: no other heading takes theirs

    def add_id(match: re.Match[str]) -> str:
        mark, level, inner = match.groups()
        slug = mark
        if slug is None:
            text = html.unescape(_TAG.sub("", inner))
            base = slug = _slug(anchor, text)
            n = 2
            while slug in used:
                slug, n = f"{base}-{n}", n + 1
            used.add(slug)
        return f'<h{level} id="{slug}">{inner}</h{level}>'

    return _MARKED_HEADING.sub(add_id, rendered)


def _slug(anchor: str, text: str) -> str:
    return f"{anchor}--{heading_slug(text)}"


def heading_slug(text: str) -> str:
    """A heading's id within its chapter (before the ``<anchor>--`` prefix)."""
    return _SLUG_JUNK.sub("-", text.lower()).strip("-") or "section"


def language_or_default(value: object, default: str = "en") -> str:
    """``value`` if it is a language tag, else ``default``."""
    text = str(value or "")
    return text if LANGUAGE_TAG.match(text) else default


def _highlight_code(rendered: str) -> str:
    def one(match: re.Match[str]) -> str:
        language = (match.group(1) or "").strip().split(" ")[0].lower()
        code = html.unescape(match.group(2))
        lexer = _lexer(language) if language else None
        body = highlight(code, lexer, _CODE_FORMATTER) if lexer else escape(code)
        css = f' class="language-{escape(language)}"' if language else ""
        return f'<pre class="highlight"><code{css}>{body}</code></pre>'

    return _CODE_BLOCK.sub(one, rendered)


@lru_cache(maxsize=256)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None

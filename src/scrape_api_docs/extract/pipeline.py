"""One page's HTML to a Document: extraction, then Markdown. Pure and thread-safe.

This module is what extraction worker processes import: it stays light (no HTTP client,
no web framework), so each worker costs little memory.
"""

from __future__ import annotations

import ctypes
from datetime import UTC, datetime
from typing import Any

from scrape_api_docs.encodings import decode_html
from scrape_api_docs.extract.content import extract
from scrape_api_docs.extract.document import Document
from scrape_api_docs.extract.markdown import take_marks, to_markdown


def build_document(
    page_html: str,
    *,
    url: str,
    final_url: str,
    depth: int = 0,
    fetched_at: str = "",
    from_cache: bool = False,
) -> Document:
    extracted = extract(page_html, final_url, want_content_links=depth == 0)
    markdown, at = take_marks(
        to_markdown(extracted.content_html, extracted.base_url), len(extracted.marked)
    )
    places = {a: p for a, p in zip(extracted.marked, at, strict=True) if p is not None}
    return Document(
        url=url,
        final_url=final_url,
        title=extracted.title,
        markdown=markdown,
        page_title=extracted.page_title,
        headings=extracted.headings,
        terms=extracted.terms,
        places=places,
        links=extracted.links,
        content_links=extracted.content_links,
        toc_links=extracted.toc_links,
        toc_outline=extracted.toc_outline,
        code_languages=extracted.code_languages,
        depth=depth,
        fetched_at=fetched_at,
        from_cache=from_cache,
    )


def page_to_document(
    body: bytes,
    content_type: str | None,
    url: str,
    final_url: str,
    depth: int,
    from_cache: bool,
) -> Document:
    """Decode, extract, convert: the CPU work of one page, module-level for process pools."""
    text, _ = decode_html(body, content_type)
    doc = build_document(
        text,
        url=url,
        final_url=final_url,
        depth=depth,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        from_cache=from_cache,
    )
    if len(body) > LARGE_PAGE:
        _trim_heap()
    return doc


LARGE_PAGE = 200_000
_libc: list[Any] = []


def _trim_heap() -> None:
    """Give the parse tree of a large page back to the OS (glibc keeps freed memory in
    its heap; a worker would otherwise sit at the high-water mark of its biggest page)."""
    if not _libc:
        try:
            _libc.append(ctypes.CDLL("libc.so.6"))
        except OSError:
            _libc.append(None)
    if _libc[0] is not None:
        _libc[0].malloc_trim(0)

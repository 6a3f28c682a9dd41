"""One page's HTML to a Document: extraction, then Markdown. Pure and thread-safe."""

from __future__ import annotations

from scrape_api_docs.extract.content import extract
from scrape_api_docs.extract.document import Document
from scrape_api_docs.extract.markdown import to_markdown


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
    return Document(
        url=url,
        final_url=final_url,
        title=extracted.title,
        markdown=to_markdown(extracted.content_html, extracted.base_url),
        headings=extracted.headings,
        links=extracted.links,
        content_links=extracted.content_links,
        toc_links=extracted.toc_links,
        code_languages=extracted.code_languages,
        depth=depth,
        fetched_at=fetched_at,
        from_cache=from_cache,
    )

"""JSON and JSON Lines for LLM and RAG pipelines: a versioned, documented schema.

Schema ``scrape-api-docs/pages`` version 1::

    {"schema": "scrape-api-docs/pages", "version": 1,
     "site": {"title", "start_url", "generated_at", "generator", "page_count"},
     "pages": [{"position", "url", "final_url", "title", "anchor", "headings": [{"level",
       "text", "anchor"}], "terms": [{"text", "anchor"}], "markdown", "text",
       "code_blocks": [{"language", "code"}], "links", "word_count", "token_estimate",
       "fetched_at", "content_hash"}]}

``anchor`` of a heading or term: the id it had on the page, so ``final_url#anchor`` links
straight to it (``terms``: API entries and other defined terms, ``<dt id>``). Fields are
only ever added within a version.

JSON Lines: one ``{"type": "site", ...}`` line, then one ``{"type": "page", ...}`` line a
page. Both are written page by page: a site never sits in memory whole.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrape_api_docs import __version__
from scrape_api_docs.exporters.book import Book, Chapter
from scrape_api_docs.exporters.text import (
    code_blocks,
    content_hash,
    plain_text,
    token_estimate,
    words,
)

SCHEMA = "scrape-api-docs/pages"
VERSION = 1


def site_record(book: Book) -> dict[str, Any]:
    return {
        "title": book.title,
        "start_url": book.start_url,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "generator": f"scrape-api-docs {__version__}",
        "page_count": len(book.chapters),
    }


def page_record(position: int, chapter: Chapter) -> dict[str, Any]:
    doc = chapter.document
    text = plain_text(doc.markdown)
    return {
        "position": position,
        "url": doc.url,
        "final_url": doc.final_url,
        "title": chapter.ref.title,
        "anchor": chapter.ref.anchor,
        "headings": [{"level": h.level, "text": h.text, "anchor": h.anchor} for h in doc.headings],
        "terms": [{"text": t.text, "anchor": t.anchor} for t in doc.terms],
        "markdown": doc.markdown,
        "text": text,
        "code_blocks": [
            {"language": b.language, "code": b.code} for b in code_blocks(doc.markdown)
        ],
        "links": doc.links,
        "word_count": words(text),
        "token_estimate": token_estimate(doc.markdown),
        "fetched_at": doc.fetched_at,
        "content_hash": content_hash(doc.markdown),
    }


def export_json(book: Book, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        header = json.dumps(
            {"schema": SCHEMA, "version": VERSION, "site": site_record(book)}, ensure_ascii=False
        )
        out.write(header[:-1] + ', "pages": [\n')
        for position, chapter in enumerate(book, start=1):
            if position > 1:
                out.write(",\n")
            out.write(json.dumps(page_record(position, chapter), ensure_ascii=False))
        out.write("\n]}\n")
    return path


def export_jsonl(book: Book, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        site = {"type": "site", "schema": SCHEMA, "version": VERSION, **site_record(book)}
        out.write(json.dumps(site, ensure_ascii=False) + "\n")
        for position, chapter in enumerate(book, start=1):
            record = {"type": "page", **page_record(position, chapter)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path

"""The Markdown book: title, table of contents, then every page as a chapter in reading order."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from scrape_api_docs.exporters.book import Book, Chapter, top_heading_level


def write_markdown_book(book: Book, out: TextIO, *, include_toc: bool = True) -> None:
    out.write(f"# {_escape(book.title)}\n\n")
    out.write(f"Source: <{book.start_url}>\n\n")
    if include_toc:
        out.write("## Contents\n\n")
        for ref in book.chapters:
            out.write(f"- [{_escape(ref.title)}](#{ref.anchor})\n")
        out.write("\n")
    for chapter in book:
        out.write(render_chapter(book, chapter))


def render_chapter(book: Book, chapter: Chapter) -> str:
    """One page as a chapter: anchor, heading, source URL, body with headings re-levelled.

    When the page opens with its top-level heading (a Sphinx page's h1, a DocBook
    section's h2) that heading becomes the chapter's level 2; otherwise the page title is
    the chapter heading and the page's own headings go below it.
    """
    doc = chapter.document
    markdown = doc.markdown.strip()
    top = top_heading_level(markdown)
    opens_with_top = bool(top) and markdown.startswith("#" * (top or 0) + " ")
    shift = ((2 if opens_with_top else 3) - top) if top else 0
    body = book.render_body(markdown, shift)
    lines = body.split("\n", 1)
    if opens_with_top:
        heading, body = lines[0], (lines[1] if len(lines) > 1 else "").strip()
    else:
        heading = f"## {_escape(chapter.ref.title)}"
    source = doc.final_url or chapter.ref.url
    return f'<a id="{chapter.ref.anchor}"></a>\n\n{heading}\n\nSource: <{source}>\n\n{body}\n\n'


def export_markdown(book: Book, path: Path, *, include_toc: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as out:
        write_markdown_book(book, out, include_toc=include_toc)
    return path


def _escape(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")

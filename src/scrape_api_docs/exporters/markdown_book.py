"""The Markdown book: title, table of contents, then every page as a chapter in reading order."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from scrape_api_docs.exporters.book import Book, Chapter, shift_headings, top_heading_level


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
    markdown = chapter.document.markdown.strip()
    top = top_heading_level(markdown)
    if top:
        opens_with_top = markdown.startswith("#" * top + " ")
        markdown = shift_headings(markdown, (2 if opens_with_top else 3) - top)
    body = book.rewrite_links(markdown)
    lines = body.split("\n")
    if lines and lines[0].startswith("## "):
        heading, body = lines[0], "\n".join(lines[1:]).strip()
    else:
        heading = f"## {_escape(chapter.ref.title)}"
    source = chapter.document.final_url or chapter.ref.url
    return f'<a id="{chapter.ref.anchor}"></a>\n\n{heading}\n\nSource: <{source}>\n\n{body}\n\n'


def export_markdown(book: Book, path: Path, *, include_toc: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as out:
        write_markdown_book(book, out, include_toc=include_toc)
    return path


def _escape(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]").replace("\n", " ")

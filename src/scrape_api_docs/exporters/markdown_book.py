"""The Markdown book: title, table of contents, then every page as a chapter in reading order."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from scrape_api_docs.exporters.book import Book, Chapter, chapter_parts
from scrape_api_docs.extract.markdown import escape_markdown


def write_markdown_book(book: Book, out: TextIO, *, include_toc: bool = True) -> None:
    out.write(f"# {escape_markdown(book.title)}\n\n")
    out.write(f"Source: <{book.start_url}>\n\n")
    if include_toc:
        out.write("## Contents\n\n")
        out.write(markdown_contents(book))
        out.write("\n")
    for chapter in book:
        out.write(render_chapter(book, chapter))


def markdown_contents(book: Book) -> str:
    """The contents as a nested list, as the site nests its pages; a part of the site's
    navigation that is no page is a line of plain text above its chapters."""
    lines = []
    for entry in book.contents:
        title = escape_markdown(entry.title)
        text = f"[{title}](#{entry.anchor})" if entry.chapter else title
        lines.append(f"{'  ' * entry.depth}- {text}\n")
    return "".join(lines)


def render_chapter(book: Book, chapter: Chapter) -> str:
    """One page as a chapter: anchor, level-2 heading, source URL, re-levelled body."""
    heading, body = chapter_parts(book, chapter, 2)
    source = chapter.document.final_url or chapter.ref.url
    return f'<a id="{chapter.ref.anchor}"></a>\n\n{heading}\n\nSource: <{source}>\n\n{body}\n\n'


def export_markdown(book: Book, path: Path, *, include_toc: bool = True) -> Path:
    with path.open("w", encoding="utf-8") as out:
        write_markdown_book(book, out, include_toc=include_toc)
    return path

"""llms.txt (llmstxt.org): a title, a one-paragraph summary, then sections of links with
one-line descriptions. ``llms-full.txt`` beside it holds every page's Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from scrape_api_docs.exporters.book import Book, ChapterRef
from scrape_api_docs.exporters.text import summary
from scrape_api_docs.extract.markdown import escape_markdown
from scrape_api_docs.urls import scope_folder


def _section(ref: ChapterRef, folder: str) -> str:
    """Pages group by their first folder under the start folder ("Docs" for the top)."""
    path = urlsplit(ref.url).path
    rest = path[len(folder) :] if path.startswith(folder) else path.lstrip("/")
    first, sep, _ = rest.partition("/")
    return first.replace("-", " ").replace("_", " ").title() if sep and first else "Docs"


def export_llms_txt(book: Book, path: Path) -> Path:
    folder = scope_folder(book.start_url)
    sections: dict[str, list[str]] = {}
    intro = ""
    for position, chapter in enumerate(book):
        description = summary(chapter.document.markdown)
        if position == 0:
            intro = description
        url = chapter.document.final_url or chapter.ref.url
        line = f"- [{escape_markdown(chapter.ref.title)}]({url})"
        if description:
            line += f": {escape_markdown(description)}"
        sections.setdefault(_section(chapter.ref, folder), []).append(line)
    with path.open("w", encoding="utf-8") as out:
        out.write(f"# {escape_markdown(book.title)}\n\n")
        out.write(f"> {escape_markdown(intro or 'Documentation from ' + book.start_url)}\n\n")
        out.write(f"Crawled from <{book.start_url}>; the full text is in llms-full.txt.\n")
        for name, lines in sections.items():
            out.write(f"\n## {name}\n\n" + "\n".join(lines) + "\n")
    full = path.with_name("llms-full.txt")
    with full.open("w", encoding="utf-8") as out:
        for chunk in _full_text(book):
            out.write(chunk)
    return path


def _full_text(book: Book) -> Iterator[str]:
    yield f"# {escape_markdown(book.title)}\n\n"
    for chapter in book:
        url = chapter.document.final_url or chapter.ref.url
        yield f"## {escape_markdown(chapter.ref.title)}\n\nSource: <{url}>\n\n"
        yield chapter.document.markdown.strip() + "\n\n"

"""Exporters by name: what ``--format``, ``export_formats`` and ``convert`` choose from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrape_api_docs.errors import InvalidOptionsError

if TYPE_CHECKING:
    from scrape_api_docs.exporters.book import Book
    from scrape_api_docs.exporters.resources import ImageLoader

Options = Mapping[str, Any]


@dataclass(frozen=True)
class ExportContext:
    """What an exporter may use besides the book: the request's options (``include_toc``,
    ``metadata``), an image loader bound to the network policy (None: images are not
    embedded), and the Chromium to print with."""

    options: Options = field(default_factory=dict)
    images: ImageLoader | None = None
    browser_path: str | None = None

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.options.get("metadata")
        return meta if isinstance(meta, Mapping) else {}


@dataclass(frozen=True)
class Exporter:
    name: str
    filename: str
    """The file name it writes in a job's folder (``-o`` overrides it on the CLI)."""
    content_type: str
    build: Callable[[Book, Path, ExportContext], Path]
    extra_files: tuple[tuple[str, str, str], ...] = ()
    """(label, file name, content type) of files written beside the main one."""

    @property
    def extension(self) -> str:
        return Path(self.filename).suffix


# Each format's builder imports its exporter when it runs: every command and the API read
# this table (names, files, media types), and most runs use one or two formats, so the
# others' libraries (pypdf, lxml's EPUB writer, ...) are not loaded for nothing.
def _markdown(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.markdown_book import export_markdown

    return export_markdown(book, path, include_toc=bool(ctx.options.get("include_toc", True)))


def _json(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.json_export import export_json

    return export_json(book, path)


def _jsonl(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.json_export import export_jsonl

    return export_jsonl(book, path)


def _llms_txt(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.llms_txt import export_llms_txt

    return export_llms_txt(book, path)


def _html(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.html_site import export_html_site

    language = str(ctx.metadata.get("language") or "en")
    return export_html_site(book, path, images=ctx.images, language=language)


def _epub(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.epub import export_epub

    return export_epub(book, path, metadata=ctx.metadata, images=ctx.images)


def _markdown_pages(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.markdown_pages import export_markdown_pages

    return export_markdown_pages(book, path)


def _pdf(book: Book, path: Path, ctx: ExportContext) -> Path:
    from scrape_api_docs.exporters.pdf import export_pdf

    return export_pdf(book, path, ctx)


EXPORTERS: dict[str, Exporter] = {
    "markdown": Exporter("markdown", "output.md", "text/markdown; charset=utf-8", _markdown),
    "json": Exporter("json", "output.json", "application/json", _json),
    "jsonl": Exporter("jsonl", "output.jsonl", "application/jsonl; charset=utf-8", _jsonl),
    "llms_txt": Exporter(
        "llms_txt",
        "llms.txt",
        "text/plain; charset=utf-8",
        _llms_txt,
        extra_files=(("llms_full", "llms-full.txt", "text/plain; charset=utf-8"),),
    ),
    "html": Exporter("html", "site.zip", "application/zip", _html),
    "epub": Exporter("epub", "output.epub", "application/epub+zip", _epub),
    "markdown_pages": Exporter(
        "markdown_pages", "markdown-pages.zip", "application/zip", _markdown_pages
    ),
    "pdf": Exporter("pdf", "output.pdf", "application/pdf", _pdf),
}


def get_exporter(name: str) -> Exporter:
    try:
        return EXPORTERS[name]
    except KeyError:
        valid = ", ".join(sorted(EXPORTERS))
        raise InvalidOptionsError(
            f"unknown export format {name!r}; valid formats: {valid}",
            details={"format": name, "valid": sorted(EXPORTERS)},
        ) from None

"""The PDF fallback where no Chromium can run: WeasyPrint, in a child process.

WeasyPrint lays out the whole book as one document in Python: slow on big sites and
memory-hungry, so it runs in a child process with an address-space limit and a time
limit, and a book it cannot print within them fails cleanly with ExportFailedError
instead of taking the worker down. It fetches nothing: its ``url_fetcher`` answers the
images the ImageLoader already fetched (through the network policy), by their synthetic
URLs, and refuses every other URL (no network, no ``file://``).

WeasyPrint does natively what the Chromium path stamps after merging: page numbers in the
bottom margin (CSS margin boxes), bookmarks, and the table of contents gets page numbers
(``target-counter``). Its bookmarks come from CSS (``bookmark-level``): headings have none
by default here, and each chapter's outline (the same as the Chromium path's: parts,
chapter at its depth in the contents, its h2 and h3 below it) gives its own headings their
levels, and the parts that open before it an empty marker each, so the bookmarks nest as
the site nests its pages.

Run as ``python -m scrape_api_docs.exporters.pdf_weasy job.json`` by
``print_with_weasyprint``; the job file names the HTML, the output and the images.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrape_api_docs.errors import ExportFailedError
from scrape_api_docs.exporters.html_render import escape
from scrape_api_docs.lifetime import end_with_parent

if TYPE_CHECKING:
    from scrape_api_docs.exporters.book import Book
    from scrape_api_docs.exporters.resources import ImageLoader, LocalImage

TIME_LIMIT = 600.0
"""Seconds the child may run."""
MEMORY_LIMIT = 3 * 1024**3
"""Bytes of address space the child may map (RLIMIT_AS: virtual, so above its RSS)."""

WEASY_CSS = """
@page { @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt;
  color: #666; } }
@page :first { @bottom-center { content: none; } }
.toc a::after { content: leader(".") target-counter(attr(href url), page); color: #666; }
h1, h2, h3, h4, h5, h6 { bookmark-level: none; }
"""


def export_weasyprint(
    book: Book, path: Path, images: ImageLoader | None, meta: Mapping[str, str]
) -> None:
    """The book as one HTML document (links are plain ``#anchor``s), printed in a child."""
    from scrape_api_docs.exporters.pdf import chapter_parts, fetch_images, front_matter, page_html

    def link_for(anchor: str) -> str:
        return f"#{anchor}"

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pdf-weasy-", dir=path.parent) as tmp:
        html_path = Path(tmp) / "book.html"
        urls: list[str] = []
        before, after = page_html(book.title, meta.get("language", "en"), "\0", WEASY_CSS).split(
            "\0"
        )
        if meta.get("author"):  # WeasyPrint's /Author
            author = f'<meta name="author" content="{escape(meta["author"])}">'
            before = before.replace("<title>", author + "<title>", 1)
        with html_path.open("w", encoding="utf-8") as out:
            out.write(before)
            out.write(front_matter(book, meta, link_for))
            for chapter in chapter_parts(book, link_for):
                out.write(bookmarks(chapter.outline))
                out.write(chapter.html)
                urls.extend(chapter.image_urls)
            out.write(after)
        print_with_weasyprint(html_path, path, fetch_images(images, urls))


def bookmarks(outline: list[tuple[int, str, str]]) -> str:
    """What gives one chapter its bookmarks: a marker per part that opens before it (the
    entries that point at the chapter's anchor before the chapter's own entry: the
    outline opens with them), then a
    style giving each heading of the outline its level (CSS levels count from 1)."""
    out: list[str] = []
    rules: list[str] = []
    opening = 0  # the entries at the chapter's anchor: its parts, then its own
    while opening < len(outline) and outline[opening][2] == outline[0][2]:
        opening += 1
    for n, (level, title, name) in enumerate(outline):
        if n < opening - 1:
            style = f"bookmark-level: {level + 1}; bookmark-label: {_css_string(title)}"
            out.append(f'<div class="bookmark" style="{escape(style)}"></div>')
        else:
            rules.append(f"#{_css_ident(name)} {{ bookmark-level: {level + 1}; }}")
    if rules:
        out.append(f"<style>{''.join(rules)}</style>")
    return "".join(out)


def _css_string(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\{ord(c):x} " for c in text)
    return f'"{escaped}"'


def _css_ident(name: str) -> str:
    """``name`` as a CSS identifier (an id selector): every character that is not a
    letter, digit, ``-`` or ``_`` (or non-ASCII) escaped, and a leading digit or ``-``."""
    out = []
    for i, c in enumerate(name):
        plain = c.isalnum() or c in "-_" if c.isascii() else c.isprintable()
        if not plain or (i == 0 and (c.isdigit() or c == "-")):
            out.append(f"\\{ord(c):x} ")
        else:
            out.append(c)
    return "".join(out)


def print_with_weasyprint(
    html_path: Path,
    out_path: Path,
    images: Mapping[str, LocalImage],
    *,
    time_limit: float = TIME_LIMIT,
    memory_limit: int = MEMORY_LIMIT,
) -> None:
    """Print ``html_path`` to ``out_path`` in a child process; ``images`` maps the URLs
    the HTML uses to local files, the only things it may load."""
    job = {
        "html": str(html_path),
        "out": str(out_path),
        "images": {url: [str(image.path), image.media_type] for url, image in images.items()},
        "memory_limit": memory_limit,
    }
    job_path = html_path.with_suffix(".job.json")
    job_path.write_text(json.dumps(job), encoding="utf-8")
    try:
        done = subprocess.run(  # noqa: S603 (our interpreter, our module, our file)
            [sys.executable, "-m", __name__, str(job_path)],
            capture_output=True,
            text=True,
            timeout=time_limit,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportFailedError(
            f"WeasyPrint did not finish the PDF within {time_limit:.0f} s; the site is too "
            "big for the fallback printer: install Chromium for big sites"
        ) from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        if "MemoryError" in why:
            why = f"out of memory (limit {memory_limit // 1024**2} MB)"
        raise ExportFailedError(f"WeasyPrint could not print the PDF: {why}")


def _fetcher(images: Mapping[str, list[str]]) -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]

    class LocalImagesOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            entry = images.get(url)
            if entry is None:
                raise ValueError(f"not fetched by the PDF printer: {url[:200]}")
            path, media_type = entry
            body = Path(path).read_bytes()
            return URLFetcherResponse(url, body, {"Content-Type": media_type})

    return LocalImagesOnly()


def main(job_path: str) -> None:
    end_with_parent()  # an export worker that ends takes its printer with it
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    limit = int(job["memory_limit"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from weasyprint import HTML  # type: ignore[import-untyped]

    document = HTML(
        filename=job["html"], base_url="https://pdf.invalid/", url_fetcher=_fetcher(job["images"])
    )
    partial = Path(job["out"] + ".part")
    document.write_pdf(partial)
    partial.replace(job["out"])


if __name__ == "__main__":
    main(sys.argv[1])

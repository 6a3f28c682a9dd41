"""Markdown pages: a zip with one Markdown file per page, laid out like the site's URLs.

``https://x/docs/library/os.html`` crawled from ``https://x/docs/`` becomes
``library/os.md``; folder index pages become ``index.md``. Links between crawled pages
become relative links between the files (``#fragment`` kept); every other link stays
absolute. ``SUMMARY.md`` lists the pages in reading order (``index.md`` is the start
page's own file). Paths come from untrusted URLs, so :func:`page_path` makes each one safe
to unzip anywhere: no ``..``, nothing absolute, short segments, no file/folder clashes.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from scrape_api_docs.exporters.book import (
    Book,
    Chapter,
    chapter_of,
    chapter_parts,
)
from scrape_api_docs.extract.markdown import escape_markdown
from scrape_api_docs.urls import scope_folder

SUMMARY = "SUMMARY.md"
_PAGE_SUFFIX = re.compile(r"\.(x?html?|php|aspx?|jsp|md|markdown|txt)$", re.I)
_UNSAFE = re.compile(r"[^\w.\-]+")
_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(10)}
_MAX_SEGMENT_BYTES = 64
_MAX_STEM_BYTES = _MAX_SEGMENT_BYTES - len("-99.md")  # room for the suffix and a tie-breaker
_MAX_PATH_BYTES = 200
_MAX_FOLDERS = 8


def page_path(url: str, folder: str) -> str:
    """A safe relative ``.md`` path for a page URL, mirroring its path below ``folder``.

    Segments are percent-decoded (repeatedly: ``%252e`` too) and then reduced to letters,
    digits, ``_``, ``-`` and inner dots, so ``..``, ``/`` and ``\\`` cannot survive. Folder
    names never end in ``.md`` (so a file never clashes with a folder), and long names
    are cut with a hash of the whole so they stay distinct.
    """
    parts = urlsplit(url)
    raw = parts.path[len(folder) :] if parts.path.startswith(folder) else parts.path
    *segments, last = raw.split("/")  # last is "" for a folder URL
    names = [name for name in (_safe_name(s) for s in segments) if name]
    folders = [n[:-3] + "_md" if n.lower().endswith(".md") else n for n in names]
    folders = folders[:_MAX_FOLDERS]
    stem = _safe_name(_PAGE_SUFFIX.sub("", _decode(last))) or "index"
    if parts.query:
        stem = f"{stem}-{_safe_name(parts.query)}"
    stem = _clip(stem, hash_of=url, limit=_MAX_STEM_BYTES)
    path = "/".join([*folders, stem + ".md"])
    if len(path.encode()) > _MAX_PATH_BYTES:  # pathological: shallower, kept apart by a hash
        stem = _clip(f"{stem}-{_digest(url)}", hash_of=url, limit=_MAX_STEM_BYTES)
        while folders and len("/".join([*folders, stem + ".md"]).encode()) > _MAX_PATH_BYTES:
            folders.pop()
        path = "/".join([*folders, stem + ".md"])
    return path


def assign_paths(urls: Iterable[str], folder: str) -> list[str]:
    """:func:`page_path` for each URL, made unique (also on case-insensitive disks) by
    ``-2``, ``-3``... and never ``SUMMARY.md``."""
    used = {SUMMARY.casefold()}
    out = []
    for url in urls:
        path = page_path(url, folder)
        base, n = path[: -len(".md")], 2
        while path.casefold() in used:
            path, n = f"{base}-{n}.md", n + 1
        used.add(path.casefold())
        out.append(path)
    return out


def export_markdown_pages(book: Book, path: Path) -> Path:
    folder = scope_folder(book.start_url)
    paths = dict(
        zip(
            (ref.anchor for ref in book.chapters),
            assign_paths((ref.url for ref in book.chapters), folder),
            strict=True,
        )
    )
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def write(name: str, text: str) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # readable by all once unzipped
            archive.writestr(info, text.encode())

        write(SUMMARY, _summary(book, paths))
        for chapter in book:
            write(paths[chapter.ref.anchor], page_markdown(book, chapter, paths))
    return path


def page_markdown(book: Book, chapter: Chapter, paths: dict[str, str]) -> str:
    """The page as a file: its title as ``#``, a ``Source:`` line, then the body with the
    page's headings below the title and links to crawled pages made relative."""
    here = paths[chapter.ref.anchor]

    def href(anchor: str, url: str) -> str | None:
        page = chapter_of(anchor)
        if page not in paths:
            return None
        return relative_link(here, paths[page], url.partition("#")[2])

    # Each page is a file of its own: a link keeps the fragment it had, and headings get
    # their ids from the Markdown renderer (as GitHub, MkDocs... make them from the text).
    heading, body = chapter_parts(book, chapter, 1, href, marks=False)
    source = chapter.document.final_url or chapter.ref.url
    return f"{heading}\n\nSource: <{source}>\n\n{body}\n"


def relative_link(here: str, there: str, fragment: str = "") -> str:
    """The href from file ``here`` to file ``there`` (both zip paths), ``#fragment`` kept."""
    if here == there and fragment:
        return f"#{fragment}"
    rel = posixpath.relpath(there, posixpath.dirname(here) or ".")
    return quote(rel) + (f"#{fragment}" if fragment else "")


def _summary(book: Book, paths: dict[str, str]) -> str:
    lines = [f"# {escape_markdown(book.title)}", "", f"Source: <{book.start_url}>", ""]
    lines += [
        f"- [{escape_markdown(ref.title)}]({quote(paths[ref.anchor])})" for ref in book.chapters
    ]
    return "\n".join(lines) + "\n"


def _decode(segment: str) -> str:
    for _ in range(4):  # %25252e... a few layers deep is already hostile; stop there
        decoded = unquote(segment)
        if decoded == segment:
            break
        segment = decoded
    return segment


def _safe_name(segment: str) -> str:
    name = unicodedata.normalize("NFC", _decode(segment))
    name = _UNSAFE.sub("-", name).strip("-. ")  # leading dots: no "..", no hidden files
    name = re.sub(r"-{2,}", "-", name)
    if name.split(".", 1)[0].lower() in _RESERVED:  # Windows device names
        name = "_" + name
    return _clip(name, hash_of=segment)


def _clip(name: str, *, hash_of: str, limit: int = _MAX_SEGMENT_BYTES) -> str:
    if len(name.encode()) <= limit:
        return name
    head = name.encode()[: limit - 9].decode(errors="ignore").rstrip("-. ")
    return f"{head}-{_digest(hash_of)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]

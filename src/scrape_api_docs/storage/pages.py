"""The page store: each crawled Document is written as soon as it is made.

Exporters read it back one page at a time in reading order, so a 10,000-page site
never sits in memory. A store is one SQLite file per crawl (stdlib ``sqlite3``: the
crawler and exporters stay free of the service's database layer), which also lets an
interrupted crawl find the pages it already has.

A job's store is opened by job id, never by path: ``PageStores`` (built by
``build_page_stores``) opens, tells apart and deletes them; ``open_page_store`` is the
one way to open a job's store from ``Settings`` alone (an export process does).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from scrape_api_docs.extract.document import Document, Heading, Term
from scrape_api_docs.extract.order import PageRef, link_anchors
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.artifacts import plain_name
from scrape_api_docs.storage.postgres import is_postgres, libpq_url
from scrape_api_docs.urls import canonical

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    final_url TEXT NOT NULL,
    title TEXT NOT NULL,
    markdown TEXT NOT NULL,
    meta TEXT NOT NULL
)
"""
_META_FIELDS = (
    "page_title",
    "headings",
    "terms",
    "places",
    "links",
    "content_links",
    "toc_links",
    "toc_outline",
    "code_languages",
    "depth",
    "fetched_at",
    "from_cache",
)


class PageStore(Protocol):
    def add(self, doc: Document) -> None: ...

    def refs(self) -> list[PageRef]: ...

    def resume_records(self) -> Iterator[tuple[str, str, int, list[str]]]: ...

    def get(self, key: str) -> Document | None: ...

    def iter_documents(self, keys: list[str]) -> Iterator[Document]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


PAGES_FILE = "pages.sqlite"


class PageStores(Protocol):
    """Every job's page store, by job id."""

    def open(self, job_id: str) -> PageStore:
        """The job's store, created empty when it has none; the caller closes it."""
        ...

    def exists(self, job_id: str) -> bool:
        """Whether the job has a store (pages kept to resume or convert from)."""
        ...

    def delete(self, job_id: str) -> None:
        """Remove the job's store (nothing happens when there is none)."""
        ...


class LocalPageStores:
    """One SQLite file per job: ``<root>/<job_id>/pages.sqlite``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, job_id: str) -> Path:
        return self.root / plain_name(job_id) / PAGES_FILE

    def open(self, job_id: str) -> SqlitePageStore:
        return SqlitePageStore(self._path(job_id))

    def exists(self, job_id: str) -> bool:
        return self._path(job_id).exists()

    def delete(self, job_id: str) -> None:
        path = self._path(job_id)
        for name in (PAGES_FILE, f"{PAGES_FILE}-wal", f"{PAGES_FILE}-shm"):
            path.with_name(name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when nothing else of the job is left


def build_page_stores(settings: Settings) -> PageStores:
    """The page stores ``settings`` pick: on PostgreSQL the database's ``pages`` table
    (``storage.pages_pg``: every worker reads what another crawled), otherwise SQLite
    files under ``<data_dir>/jobs``."""
    if is_postgres(settings.database_url):
        from scrape_api_docs.storage.pages_pg import PostgresPageStores

        return PostgresPageStores(libpq_url(settings.effective_database_url))
    return LocalPageStores(settings.jobs_dir)


def open_page_store(settings: Settings, job_id: str) -> PageStore:
    """The job's page store, from ``Settings`` alone (what an export process has)."""
    return build_page_stores(settings).open(job_id)


class SqlitePageStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, doc: Document) -> None:
        meta = document_meta(doc)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO documents (key, url, final_url, title, markdown, meta) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    canonical(doc.url),
                    doc.url,
                    doc.final_url,
                    doc.title,
                    doc.markdown,
                    json.dumps(meta),
                ),
            )

    def refs(self) -> list[PageRef]:
        """Light records of every page in crawl order: what reading order and the book's
        links need."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, meta, title, url FROM documents ORDER BY seq"
            ).fetchall()
        return [page_ref(*row) for row in rows]

    def get(self, key: str) -> Document | None:
        with self._lock:
            row = self._db.execute(
                "SELECT url, final_url, title, markdown, meta FROM documents WHERE key = ?",
                (key,),
            ).fetchone()
        return stored_document(row) if row else None

    def iter_documents(self, keys: list[str]) -> Iterator[Document]:
        for key in keys:
            doc = self.get(key)
            if doc is not None:
                yield doc

    def resume_records(self) -> Iterator[tuple[str, str, int, list[str]]]:
        """(url, final_url, depth, links) of every stored page, in crawl order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT url, final_url, meta FROM documents ORDER BY seq"
            ).fetchall()
        for url, final_url, meta in rows:
            data = json.loads(meta)
            yield url, final_url, int(data["depth"]), list(data["links"])

    def keys(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM documents")}

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def document_meta(doc: Document) -> dict[str, Any]:
    """What a store keeps of ``doc`` besides its url, final url, title and Markdown (one
    JSON column in every implementation)."""
    meta = {name: getattr(doc, name) for name in _META_FIELDS}
    meta["headings"] = [[h.level, h.text, h.anchor] for h in doc.headings]
    meta["terms"] = [[t.text, t.anchor] for t in doc.terms]
    return meta


def page_ref(key: str, meta: str, title: str, url: str) -> PageRef:
    """The light record of one stored page (from its key, meta JSON, title and url)."""
    data = json.loads(meta)
    toc, content = tuple(data["toc_links"]), tuple(data["content_links"])
    # pages stored before the outline was kept have none (their contents are flat)
    nesting = tuple((int(e[0]), str(e[1]), str(e[2])) for e in data.get("toc_outline", ()))
    anchors, opening = link_anchors(
        [(level, anchor) for level, _, anchor in data["headings"]],
        # pages stored before terms (or places) were kept have none
        [*(anchor for _, anchor in data.get("terms", [])), *data.get("places", {})],
    )
    headings = tuple((level, text, anchor) for level, text, anchor in data["headings"])
    return PageRef(
        key,
        toc,
        content,
        title,
        url,
        anchors,
        opening,
        outline=nesting,
        page_title=data.get("page_title", ""),
        headings=headings,
    )


def stored_document(row: tuple[str, str, str, str, str]) -> Document:
    """A ``Document`` back from a stored (url, final_url, title, markdown, meta) row."""
    url, final_url, title, markdown, meta = row
    data = json.loads(meta)
    data["headings"] = [Heading(level, text, anchor) for level, text, anchor in data["headings"]]
    data["terms"] = [Term(text, anchor) for text, anchor in data.get("terms", [])]
    data["toc_outline"] = [tuple(entry) for entry in data.get("toc_outline", [])]
    return Document(url=url, final_url=final_url, title=title, markdown=markdown, **data)

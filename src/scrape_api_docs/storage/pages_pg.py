"""The page store on PostgreSQL: every job's documents in the service's database (table
``pages``, made by migration 0005), so whichever worker resumes a job, or converts it,
reads what another worker crawled.

The store is synchronous like the SQLite one (the crawler's writes and the export
processes' reads are plain calls): one psycopg connection per open store, in autocommit,
one statement (or one short transaction) per call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from scrape_api_docs.extract.document import Document
from scrape_api_docs.extract.order import PageRef
from scrape_api_docs.storage.artifacts import plain_name
from scrape_api_docs.storage.pages import document_meta, page_ref, stored_document
from scrape_api_docs.urls import canonical


class PostgresPageStores:
    """Every job's pages, by job id, in the ``pages`` table of the database at
    ``conninfo`` (a libpq URL). A job "has a store" once it has a page."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def open(self, job_id: str) -> PostgresPageStore:
        return PostgresPageStore(self.conninfo, plain_name(job_id))

    def exists(self, job_id: str) -> bool:
        with _connect(self.conninfo) as connection:
            row = connection.execute(
                "SELECT 1 FROM pages WHERE job_id = %s LIMIT 1", (plain_name(job_id),)
            ).fetchone()
        return row is not None

    def delete(self, job_id: str) -> None:
        with _connect(self.conninfo) as connection:
            connection.execute("DELETE FROM pages WHERE job_id = %s", (plain_name(job_id),))


def _connect(conninfo: str) -> Any:
    import psycopg

    return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)


class PostgresPageStore:
    """One job's pages (see ``PageStore``)."""

    def __init__(self, conninfo: str, job_id: str) -> None:
        self.job_id = job_id
        self._conninfo = conninfo
        self._db = _connect(conninfo)
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        """The store's connection; a new one when the last was lost (the server restarted):
        the call that met the loss failed, the next one goes through once it is back."""
        if self._db.closed:
            self._db = _connect(self._conninfo)
        return self._db

    def add(self, doc: Document) -> None:
        key = canonical(doc.url)
        row = (self.job_id, key, doc.url, doc.final_url, doc.title, doc.markdown)
        with self._lock:
            db = self._connection()
            with db.transaction():
                # Stored again: delete and insert, so it moves to the end of the crawl
                # order (as SQLite's INSERT OR REPLACE does).
                db.execute("DELETE FROM pages WHERE job_id = %s AND key = %s", (self.job_id, key))
                db.execute(
                    "INSERT INTO pages (job_id, key, url, final_url, title, markdown, meta) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (*row, json.dumps(document_meta(doc))),
                )

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._connection().execute(sql, params).fetchall())

    def refs(self) -> list[PageRef]:
        rows = self._rows(
            "SELECT key, meta, title, url FROM pages WHERE job_id = %s ORDER BY seq",
            (self.job_id,),
        )
        return [page_ref(*row) for row in rows]

    def get(self, key: str) -> Document | None:
        rows = self._rows(
            "SELECT url, final_url, title, markdown, meta FROM pages "
            "WHERE job_id = %s AND key = %s",
            (self.job_id, key),
        )
        return stored_document(rows[0]) if rows else None

    def iter_documents(self, keys: list[str]) -> Iterator[Document]:
        for key in keys:
            doc = self.get(key)
            if doc is not None:
                yield doc

    def resume_records(self) -> Iterator[tuple[str, str, int, list[str]]]:
        rows = self._rows(
            "SELECT url, final_url, meta FROM pages WHERE job_id = %s ORDER BY seq",
            (self.job_id,),
        )
        for url, final_url, meta in rows:
            data = json.loads(meta)
            yield url, final_url, int(data["depth"]), list(data["links"])

    def keys(self) -> set[str]:
        rows = self._rows("SELECT key FROM pages WHERE job_id = %s", (self.job_id,))
        return {row[0] for row in rows}

    def __len__(self) -> int:
        rows = self._rows("SELECT COUNT(*) FROM pages WHERE job_id = %s", (self.job_id,))
        return int(rows[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

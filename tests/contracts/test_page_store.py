"""The page store's contract, run against every implementation ("embedded": a SQLite
file per job; "postgres": the ``pages`` table of the service's PostgreSQL database). Stores are opened by job id through ``PageStores``; what one job stored
is there when the job's store is opened again, and only there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scrape_api_docs.extract.document import Document, Heading, Term
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.pages import PageStores, build_page_stores, open_page_store
from scrape_api_docs.urls import canonical

BASE = "http://docs.example/"


@pytest.fixture(params=["embedded", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PageStores]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    yield build_page_stores(Settings(data_dir=tmp_path / "data", database_url=url))


def doc(name: str, depth: int = 0, links: list[str] | None = None) -> Document:
    url = f"{BASE}{name}.html"
    return Document(
        url=url,
        final_url=url + "?final",
        title=f"Page {name}",
        markdown=f"# Page {name}\n\nText of {name}.",
        headings=[Heading(1, f"Page {name}", name), Heading(2, "Usage", f"{name}-usage")],
        terms=[Term(f"{name}()", f"{name}-fn")],
        places={f"{name}-place": 3},
        links=links or [],
        content_links=links or [],
        toc_links=[f"{BASE}toc.html"],
        code_languages=["python"],
        depth=depth,
        fetched_at="2026-01-01T00:00:00Z",
    )


def test_add_get_iterate_and_reopen_by_job_id(stores: PageStores) -> None:
    assert not stores.exists("job_a")
    store = stores.open("job_a")
    try:
        assert len(store) == 0 and store.refs() == []
        store.add(doc("one", 0, [f"{BASE}two.html"]))
        store.add(doc("two", 1))
        store.add(doc("one", 0, [f"{BASE}two.html", f"{BASE}three.html"]))  # replaced
        assert len(store) == 2
    finally:
        store.close()
    assert stores.exists("job_a") and not stores.exists("job_b")

    store = stores.open("job_a")
    try:
        assert len(store) == 2
        got = store.get(canonical(f"{BASE}one.html"))
        assert got is not None
        assert got.title == "Page one" and got.final_url == f"{BASE}one.html?final"
        assert got.headings == [Heading(1, "Page one", "one"), Heading(2, "Usage", "one-usage")]
        assert got.terms == [Term("one()", "one-fn")] and got.places == {"one-place": 3}
        assert got.links == [f"{BASE}two.html", f"{BASE}three.html"]
        assert got.code_languages == ["python"] and got.depth == 0
        assert store.get(canonical(f"{BASE}missing.html")) is None

        refs = store.refs()
        assert sorted(ref.key for ref in refs) == sorted(
            canonical(f"{BASE}{n}.html") for n in ("one", "two")
        )
        ref_two = next(ref for ref in refs if ref.key == canonical(f"{BASE}two.html"))
        assert ref_two.title == "Page two" and ref_two.toc_links == (f"{BASE}toc.html",)
        assert "two-usage" in ref_two.anchors and "two-fn" in ref_two.anchors

        keys = [canonical(f"{BASE}two.html"), canonical(f"{BASE}gone.html")]
        assert [d.title for d in store.iter_documents(keys)] == ["Page two"]

        records = {
            url: (final, depth, links) for url, final, depth, links in store.resume_records()
        }
        assert records[f"{BASE}two.html"] == (f"{BASE}two.html?final", 1, [])
        assert records[f"{BASE}one.html"][2] == [f"{BASE}two.html", f"{BASE}three.html"]
    finally:
        store.close()


def test_jobs_are_apart_and_delete(stores: PageStores) -> None:
    for job_id, name in (("job_a", "a"), ("job_b", "b")):
        store = stores.open(job_id)
        store.add(doc(name))
        store.close()
    stores.delete("job_a")
    stores.delete("job_a")  # nothing left: nothing happens
    assert not stores.exists("job_a") and stores.exists("job_b")
    store = stores.open("job_a")
    try:
        assert len(store) == 0
    finally:
        store.close()
    store = stores.open("job_b")
    try:
        assert [r.title for r in store.refs()] == ["Page b"]
    finally:
        store.close()


def test_a_job_id_is_never_a_path(stores: PageStores) -> None:
    for bad in ("..", "../x", "a/b", "", "job\n", "/etc"):
        with pytest.raises(ValueError):
            stores.open(bad)


@pytest.mark.parametrize("database", ["embedded", "postgres"])
def test_open_page_store_from_settings(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What an export process does: open the job's store from ``Settings`` alone."""
    url = request.getfixturevalue("postgres_url") if database == "postgres" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    store = build_page_stores(settings).open("job_a")
    store.add(doc("one"))
    store.close()
    again = open_page_store(settings, "job_a")
    try:
        assert len(again) == 1
    finally:
        again.close()
    if database == "postgres":  # in the database: no file a worker elsewhere could miss
        assert not (tmp_path / "data").exists()

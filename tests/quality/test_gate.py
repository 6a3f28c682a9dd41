"""The quality gate: every corpus site, extracted and assembled as a book, scores well.

Each site of tests/fixtures/corpus (built by real generators) goes through what a crawl
does with its pages, without the network: every committed page (the client-rendered
apps: their rendered snapshot) through ``page_to_document`` into a real page store, then
the JSON export, which reads the store through the site's learned template like every
format. Each truth page is scored (tests/quality/score.py); the gate: F1 >= 0.97, at most
2% of the navigation words leaked, every title right. ``make bench-quality`` measures
the same through a real crawl. One test per site: xdist spreads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scrape_api_docs.extract.pipeline import page_to_document
from scrape_api_docs.jobs.pipeline import export_all
from scrape_api_docs.storage.pages import SqlitePageStore
from tests.conftest import FIXTURE_SITES
from tests.quality.score import Score, Truth, score_page

CORPUS = FIXTURE_SITES.parent / "corpus"
SITES = sorted(p.name for p in CORPUS.iterdir() if (p / "truth.json").exists())

MIN_F1 = 0.97
MAX_LEAK = 0.02


def _url(base: str, rel: str) -> str:
    """The URL a crawl knows the page by (``x/index.html`` is served as ``x/``)."""
    if rel == "index.html" or rel.endswith("/index.html"):
        rel = rel[: -len("index.html")]
    return base + rel


def site_book(site: Path, tmp: Path) -> dict[str, dict[str, object]]:
    """{site-relative path: page of the JSON export} for every page of ``site``."""
    truth = json.loads((site / "truth.json").read_text())
    base = f"http://{site.name}.corpus.test/"
    store = SqlitePageStore(tmp / "pages.sqlite")
    urls = {}
    try:
        paths = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
        # The start page first, as a crawl stores it.
        for rel in sorted(paths, key=lambda rel: rel != truth["start"]):
            if rel.startswith("_rendered/"):
                continue
            source = site / truth["pages"].get(rel, {}).get("html", rel)
            url = _url(base, rel)
            urls[url] = rel
            depth = 0 if rel == truth["start"] else 1
            store.add(page_to_document(source.read_bytes(), "text/html", url, url, depth, False))
        export_all(store, base + truth["start"], ["json"], tmp / "out.json")
    finally:
        store.close()
    pages = json.loads((tmp / "out.json").read_text())["pages"]
    return {urls[page["url"]]: page for page in pages}


@pytest.mark.parametrize("name", SITES)
def test_every_corpus_site_passes_the_quality_gate(name: str, tmp_path: Path) -> None:
    site = CORPUS / name
    truth = json.loads((site / "truth.json").read_text())
    ours = site_book(site, tmp_path)
    total = Score()
    for rel, entry in truth["pages"].items():
        html = (site / entry.get("html", rel)).read_text(errors="replace")
        got = ours.get(rel, {})
        total.add(
            score_page(
                html,
                Truth.from_json(entry),
                str(got.get("markdown", "")),
                str(got.get("title", "")),
            )
        )
    assert total.f1 >= MIN_F1, f"{name}: F1 {total.f1:.3f}"
    assert total.nav_leak <= MAX_LEAK, f"{name}: navigation leak {total.nav_leak:.3f}"
    assert not total.wrong_titles, f"{name}: wrong titles (ours, truth): {total.wrong_titles}"

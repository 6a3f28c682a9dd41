"""Extraction quality on the fixture corpus: every site crawled by our pipeline and scored.

Serves each site of tests/fixtures/corpus (built by real generators; see its build.py) on
127.0.0.1, crawls it as ``scrape-docs scrape --format json`` does (rate limit and cache off,
JavaScript rendering for the client-rendered sites), scores every page against the site's
truth.json with tests/quality/score.py, and prints per site and overall: pages scored,
precision, recall, F1, navigation leak, code blocks and tables kept, titles right.
It prints figures only: the exit status is 0 unless the benchmark itself cannot run.
Run it with ``make bench-quality``; ``python bench/quality.py sphinx-banner -v`` shows one
site with its wrong titles and worst pages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.quality.score; bench/ is sys.path[0] as a script

from tests.quality.score import Score, Truth, score_page  # noqa: E402

from static_server import free_port  # noqa: E402
from static_server import start as start_server  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "corpus"


@dataclass
class SiteResult:
    name: str
    score: Score
    expected: int
    """Pages in the truth."""
    crawled: int
    """Pages our crawl returned (scored or not)."""
    per_page: list[tuple[str, Score]]


def crawl(start_url: str, render: bool, tmp: Path) -> list[dict[str, object]]:
    """The CLI's scrape pipeline with the JSON export; returns the export's pages."""
    from scrape_api_docs.crawler.options import CrawlConfig, ScrapeOptions
    from scrape_api_docs.jobs.pipeline import crawl_site, export_all, extraction_pool
    from scrape_api_docs.settings import Settings
    from scrape_api_docs.storage.pages import SqlitePageStore

    settings = Settings(allow_private_networks=True)
    options = ScrapeOptions(max_pages=200, cache_enabled=False, render_javascript=render)
    config = CrawlConfig.from_options(
        start_url,
        options,
        user_agent=settings.user_agent,
        rate_limit=None,
        respect_robots=True,
        max_body_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
    )
    store = SqlitePageStore(tmp / "pages.sqlite")
    pool = extraction_pool(settings)
    try:
        asyncio.run(crawl_site(config, settings=settings, store=store, executor=pool))
        export_all(store, start_url, ["json"], tmp / "out.json")
    finally:
        pool.shutdown(cancel_futures=True)
        store.close()
    pages: list[dict[str, object]] = json.loads((tmp / "out.json").read_text())["pages"]
    return pages


def page_path(url: str, base: str) -> str:
    """The site-relative file a crawled URL was served from (``x/`` is ``x/index.html``)."""
    path = urlsplit(url).path
    rel = path[len(urlsplit(base).path) :] if path.startswith(urlsplit(base).path) else path
    return rel + "index.html" if rel == "" or rel.endswith("/") else rel


def run_site(site: Path, dump: Path | None = None) -> SiteResult:
    truth = json.loads((site / "truth.json").read_text())
    port = free_port()
    server = start_server(site, port)
    base = f"http://127.0.0.1:{port}/"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            pages = crawl(base + truth["start"], bool(truth.get("render")), Path(tmp))
    finally:
        server.terminate()
        server.join()
    ours: dict[str, dict[str, object]] = {}
    for page in pages:
        rel = page_path(str(page.get("final_url") or page["url"]), base)
        ours.setdefault(rel, page)
    total = Score()
    per_page = []
    for rel, entry in truth["pages"].items():
        html = (site / entry.get("html", rel)).read_text(errors="replace")
        got = ours.get(rel, {})
        score = score_page(
            html, Truth.from_json(entry), str(got.get("markdown", "")), str(got.get("title", ""))
        )
        per_page.append((rel, score))
        if dump is not None:
            out = dump / site.name / (rel + ".md")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(f"<!-- title: {got.get('title', '')} -->\n{got.get('markdown', '')}")
        total.add(score)
    return SiteResult(site.name, total, len(truth["pages"]), len(pages), per_page)


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def kept(done: int, of: int) -> str:
    return f"{done}/{of}"


def row(name: str, s: Score, pages: str) -> str:
    return (
        f"{name:<20} {pages:>7} {pct(s.precision):>6} {pct(s.recall):>6} {pct(s.f1):>6} "
        f"{pct(s.nav_leak):>6} {kept(s.code_kept, s.code_truth):>7} "
        f"{kept(s.tables_kept, s.tables_truth):>6} {kept(s.titles_right, s.pages):>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sites", nargs="*", help="site folders to run (default: all)")
    parser.add_argument("-v", "--verbose", action="store_true", help="wrong titles, worst pages")
    parser.add_argument("--dump", type=Path, help="write each page's Markdown under this folder")
    args = parser.parse_args()
    sites = sorted(p.parent for p in CORPUS.glob("*/truth.json"))
    if args.sites:
        sites = [s for s in sites if s.name in args.sites]
    header = (
        f"{'site':<20} {'pages':>7} {'prec%':>6} {'rec%':>6} {'F1%':>6} {'leak%':>6} "
        f"{'code':>7} {'tables':>6} {'titles':>6}"
    )
    print(header)
    print("-" * len(header))
    overall = Score()
    for site in sites:
        result = run_site(site, args.dump)
        overall.add(result.score)
        scored = sum(1 for _, s in result.per_page if s.ours)
        print(row(result.name, result.score, f"{scored}/{result.expected}"), flush=True)
        if args.verbose:
            for ours, want in result.score.wrong_titles:
                print(f"    title {ours!r}, should be {want!r}")
            worst = sorted(result.per_page, key=lambda item: item[1].f1)[:3]
            for rel, s in worst:
                print(f"    {rel}: F1 {pct(s.f1)} leak {pct(s.nav_leak)} (ours {s.ours} words)")
    print("-" * len(header))
    print(row("overall", overall, str(overall.pages)))
    print(
        "pages: scored/in truth; prec/rec/F1: main-content words; leak: navigation words that"
        " reached the Markdown; code, tables: kept/in truth; titles: right/pages"
    )


if __name__ == "__main__":
    main()

"""The crawl loop against real HTTP servers on 127.0.0.1: scope, depth, budget, dedup, faults."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
from scrape_api_docs.errors import ScrapingFailedError
from scrape_api_docs.urls import canonical
from tests.conftest import CrawlFn
from tests.support.server import Reply, RequestInfo, TestServer
from tests.support.sites import no_robots, page, serve_pages


def crawled_paths(store: object, server: TestServer) -> set[str]:
    return {ref.key.removeprefix(server.base) for ref in store.refs()}  # type: ignore[attr-defined]


async def test_scope_stays_under_start_folder_and_host(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(
        server,
        {
            "/docs/": ["/docs/a.html", "/blog/post.html", "https://example.org/x", "b.html"],
            "/docs/a.html": ["/docs/sub/c.html", "mailto:me@example.org", "javascript:void(0)"],
            "/docs/b.html": [],
            "/docs/sub/c.html": [],
            "/blog/post.html": [],
        },
    )
    result, store = await crawl(server.url("/docs/"))
    assert crawled_paths(store, server) == {
        "/docs",
        "/docs/a.html",
        "/docs/b.html",
        "/docs/sub/c.html",
    }
    assert result.stats.skipped["outside start folder"] == 1
    assert result.stats.skipped["other host"] == 1
    assert server.hits_for("/blog/post.html") == []


async def test_include_and_exclude_globs_exclude_wins(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(
        server,
        {
            "/": ["/docs/a.html", "/docs/private/b.html", "/api/c.html", "/blog/d.html"],
            "/docs/a.html": [],
            "/docs/private/b.html": [],
            "/api/c.html": [],
            "/blog/d.html": [],
        },
    )
    result, store = await crawl(
        server.url("/"),
        include_patterns=("*/docs/*", "*/api/*", server.url("/")),
        exclude_patterns=("*/private/*",),
    )
    assert crawled_paths(store, server) == {"/", "/docs/a.html", "/api/c.html"}
    assert result.stats.skipped["excluded by pattern"] == 1
    assert result.stats.skipped["not matched by include patterns"] == 1


async def test_depth_counts_link_hops_not_path_segments(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    # A deep path one hop away is depth 1; a shallow path three hops away is depth 3.
    serve_pages(
        server,
        {
            "/": ["/a/b/c/d/deep.html", "/one.html"],
            "/a/b/c/d/deep.html": [],
            "/one.html": ["/two.html"],
            "/two.html": ["/three.html"],
            "/three.html": [],
        },
    )
    result, store = await crawl(server.url("/"), max_depth=2)
    assert crawled_paths(store, server) == {"/", "/a/b/c/d/deep.html", "/one.html", "/two.html"}
    assert result.stats.skipped["max depth"] == 1
    depths = {
        doc.url.removeprefix(server.base): doc.depth
        for doc in store.iter_documents([r.key for r in store.refs()])
    }
    assert depths["/a/b/c/d/deep.html"] == 1
    assert depths["/two.html"] == 2


async def test_every_spelling_of_a_page_is_fetched_once(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    links = [
        "/guide/",
        "/guide/index.html",
        "/guide",
        "/guide/#intro",
        "/Guide/../guide/",
        "page.html#a",
        "page.html#b",
        f"http://127.0.0.1:{server.port}/page.html",
        "/page.html?b=2&a=1",
        "/page.html?a=1&b=2",
    ]
    serve_pages(
        server, {"/": links, "/guide/": [], "/guide/index.html": [], "/guide": [], "/page.html": []}
    )
    result, store = await crawl(server.url("/"))
    assert len(server.hits_for("/page.html")) == 2  # the bare page and one query form
    guide_hits = (
        len(server.hits_for("/guide/"))
        + len(server.hits_for("/guide/index.html"))
        + len(server.hits_for("/guide"))
    )
    assert guide_hits == 1
    assert result.stats.processed == len(store) == 4


@pytest.mark.checklist(20)
async def test_page_budget_stops_an_endless_calendar(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)

    def calendar(req: RequestInfo) -> Reply:
        month = int(parse_qs(req.query).get("month", ["0"])[0])
        return Reply(
            body=page(
                f"month {month}",
                [f"/cal?month={month + 1}", f"/cal?sid={time.time_ns()}&month={month}"],
            )
        )

    server.route("/cal", calendar)
    result, store = await crawl(server.url("/cal"), max_pages=25, max_depth=100)
    assert len(store) == 25
    assert len(server.hits) <= 25 + 2  # pages plus robots.txt and sitemap.xml
    assert result.stats.skipped["page budget"] > 0


async def test_sitemap_pages_are_discovered_within_scope(
    server: TestServer, crawl: CrawlFn
) -> None:
    server.route(
        "/robots.txt",
        Reply(
            body=f"User-agent: *\nAllow: /\nSitemap: {server.url('/maps/index.xml')}\n",
            content_type="text/plain",
        ),
    )
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{server.url('/maps/one.xml.gz')}</loc></sitemap>"
        f"<sitemap><loc>{server.url('/maps/two.xml')}</loc></sitemap></sitemapindex>"
    )
    one = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{server.url('/docs/only-in-sitemap.html')}</loc></url>"
        f"<url><loc>{server.url('/elsewhere/out.html')}</loc></url></urlset>"
    )
    two = f"<urlset><url><loc>{server.url('/docs/nested.html')}</loc></url></urlset>"
    server.route("/maps/index.xml", Reply(body=index, content_type="application/xml"))
    server.route(
        "/maps/one.xml.gz", Reply(body=gzip.compress(one.encode()), content_type="application/gzip")
    )
    server.route("/maps/two.xml", Reply(body=two, content_type="application/xml"))
    serve_pages(
        server,
        {
            "/docs/": [],
            "/docs/only-in-sitemap.html": [],
            "/docs/nested.html": [],
            "/elsewhere/out.html": [],
        },
    )
    _result, store = await crawl(server.url("/docs/"))
    assert crawled_paths(store, server) == {
        "/docs",
        "/docs/only-in-sitemap.html",
        "/docs/nested.html",
    }
    assert server.hits_for("/elsewhere/out.html") == []
    assert len(server.hits_for("/sitemap.xml")) == 1  # the default location is tried too


async def test_robots_disallow_is_skipped_and_reported(server: TestServer, crawl: CrawlFn) -> None:
    server.route(
        "/robots.txt",
        Reply(
            body="User-agent: *\nDisallow: /private\n\n"
            "User-agent: scrape-api-docs\nDisallow: /nobots\n",
            content_type="text/plain",
        ),
    )
    serve_pages(
        server,
        {
            "/": ["/private/a.html", "/nobots.html", "/ok.html"],
            "/private/a.html": [],
            "/nobots.html": [],
            "/ok.html": [],
        },
    )
    result, store = await crawl(server.url("/"))
    # RFC 9309: our own group applies instead of "*": /private is allowed for us, /nobots not.
    assert crawled_paths(store, server) == {"/", "/ok.html", "/private/a.html"}
    assert result.stats.skipped["disallowed by robots.txt"] == 1
    assert server.hits_for("/nobots.html") == []
    assert result.robots == "parsed"


@pytest.mark.parametrize(
    ("robots", "status_text", "crawled"),
    [
        (Reply(404, "", content_type="text/plain"), "allow-all (HTTP 404)", True),
        (Reply(403, "", content_type="text/plain"), "allow-all (HTTP 403)", True),
        (Reply(503, "", content_type="text/plain"), "disallow-all (HTTP 503)", False),
    ],
)
@pytest.mark.checklist(21)
async def test_robots_status_rules(
    server: TestServer, crawl: CrawlFn, robots: Reply, status_text: str, crawled: bool
) -> None:
    server.route("/robots.txt", robots)
    serve_pages(server, {"/": ["/a.html"], "/a.html": []})
    if crawled:
        result, store = await crawl(server.url("/"), max_retries=0)
        assert result.robots == status_text
        assert len(store) == 2
    else:
        with pytest.raises(ScrapingFailedError, match=r"robots\.txt"):
            await crawl(server.url("/"), max_retries=0)
        assert server.hits_for("/") == []


@pytest.mark.checklist(21)
async def test_robots_timeout_means_disallow(server: TestServer, crawl: CrawlFn) -> None:
    server.route("/robots.txt", Reply(body="User-agent: *\nAllow: /\n", delay=1.5))
    serve_pages(server, {"/": []})
    with pytest.raises(ScrapingFailedError, match="cannot reach"):
        await crawl(server.url("/"), timeout=0.5, max_retries=0)
    assert server.hits_for("/") == []


@pytest.mark.checklist(21)
async def test_robots_one_megabyte_file_is_parsed(server: TestServer, crawl: CrawlFn) -> None:
    filler = "".join(f"Disallow: /junk/{i}/\n" for i in range(60_000))
    body = "User-agent: *\n" + filler + "Disallow: /secret.html\n"
    assert len(body) > 1_000_000
    server.route("/robots.txt", Reply(body=body, content_type="text/plain"))
    serve_pages(server, {"/": ["/secret.html", "/open.html"], "/secret.html": [], "/open.html": []})
    _result, store = await crawl(server.url("/"))
    assert crawled_paths(store, server) == {"/", "/open.html"}


async def test_no_robots_option_ignores_the_file(server: TestServer, crawl: CrawlFn) -> None:
    server.route(
        "/robots.txt", Reply(body="User-agent: *\nDisallow: /\n", content_type="text/plain")
    )
    serve_pages(server, {"/": []})
    result, store = await crawl(server.url("/"), respect_robots=False)
    assert len(store) == 1 and result.robots == "ignored"
    assert server.hits_for("/robots.txt") == []


async def test_429_retry_after_is_honoured_for_the_host(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    from tests.support.clock import FakeClock

    answers = iter([Reply(429, "slow down", headers={"Retry-After": "7"})])

    def limited(_req: RequestInfo) -> Reply:
        return next(answers, Reply(body=page("ok")))

    server.route("/", limited)
    clock = FakeClock()
    _result, store = await crawl(server.url("/"), clock=clock, rate_limit=10.0)
    assert len(store) == 1
    assert len(server.hits_for("/")) == 2
    assert clock.now() - 1000.0 >= 7.0  # the second request waited out Retry-After


async def test_retry_after_over_the_cap_gives_up(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/busy.html"]})
    server.route("/busy.html", Reply(503, "", headers={"Retry-After": "86400"}))
    result, _store = await crawl(server.url("/"))
    assert len(server.hits_for("/busy.html")) == 1
    assert result.stats.error_reasons["HTTP 503"] == 1


async def test_5xx_is_retried_with_backoff_then_succeeds(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    from tests.support.clock import FakeClock

    answers: Iterator[Reply] = iter([Reply(500, "oops"), Reply(502, "oops")])
    server.route("/", lambda _req: next(answers, Reply(body=page("finally"))))
    clock = FakeClock()
    _result, store = await crawl(server.url("/"), clock=clock, retry_backoff=1.0)
    assert len(store) == 1 and len(server.hits_for("/")) == 3
    # equal jitter: attempt 0 waits 0.5-1.0 s, attempt 1 waits 1.0-2.0 s
    assert 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0


async def test_persistent_5xx_gives_up_after_the_retry_limit(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/broken.html"]})
    server.route("/broken.html", Reply(500, "always"))
    result, _ = await crawl(server.url("/"), max_retries=2)
    assert len(server.hits_for("/broken.html")) == 3
    assert result.stats.errors == 1


async def test_timeouts_are_retried_then_reported(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/slow.html"]})
    server.route("/slow.html", Reply(body=page("slow"), delay=1.0))
    result, store = await crawl(server.url("/"), timeout=0.3, max_retries=1)
    assert len(store) == 1
    assert result.stats.error_reasons["timeout"] == 1
    assert len(server.hits_for("/slow.html")) == 2


@pytest.mark.checklist(18)
async def test_a_trickling_body_is_stopped_by_the_deadline(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)

    def trickle() -> Iterator[bytes]:
        yield b"<html><body><p>"
        for _ in range(100):
            time.sleep(0.1)
            yield b"x"

    serve_pages(server, {"/": ["/trickle.html"]})
    server.route("/trickle.html", lambda _req: Reply(body=trickle()))
    began = time.monotonic()
    result, _ = await crawl(server.url("/"), timeout=1.0, max_retries=0)
    assert result.stats.error_reasons["timeout"] == 1
    assert time.monotonic() - began < 5


@pytest.mark.checklist(18)
async def test_huge_body_is_refused_at_the_cap(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/huge.html"]})
    server.route("/huge.html", Reply(body=b"<p>" + b"a" * (3 * 1024 * 1024)))
    result, store = await crawl(server.url("/"), max_body_bytes=1024 * 1024)
    assert result.stats.error_reasons["body too large"] == 1
    assert len(store) == 1


@pytest.mark.checklist(17)
async def test_gzip_bomb_is_stopped_by_the_decompressed_size(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    bomb = gzip.compress(b"<p>" + b"\0" * (200 * 1024 * 1024), 9)  # ~200 KB inflating to 200 MB
    assert len(bomb) < 1024 * 1024
    serve_pages(server, {"/": ["/bomb.html"]})
    server.route("/bomb.html", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    result, _ = await crawl(server.url("/"), max_body_bytes=2 * 1024 * 1024)
    assert result.stats.error_reasons["body too large"] == 1


@pytest.mark.checklist(19)
async def test_redirect_loop_and_hop_limit(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/loop-a", "/chain/0"]})
    server.route("/loop-a", Reply(302, headers={"Location": "/loop-b"}))
    server.route("/loop-b", Reply(302, headers={"Location": "/loop-a"}))
    for i in range(25):
        server.route(f"/chain/{i}", Reply(301, headers={"Location": f"/chain/{i + 1}"}))
    result, _ = await crawl(server.url("/"))
    assert result.stats.error_reasons["redirect loop"] == 1
    assert result.stats.error_reasons["too many redirects"] == 1
    assert len([h for h in server.hits if h.path.startswith("/chain/")]) == 11


@pytest.mark.checklist(8)
async def test_redirect_to_a_refused_address_stops_at_that_hop(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/go"]})
    server.route(
        "/go", Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    )
    result, _ = await crawl(server.url("/"))
    assert result.stats.error_reasons["redirect refused by network policy"] == 1


async def test_redirect_inside_scope_is_followed_and_deduplicated(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/old.html", "/new.html"], "/new.html": []})
    server.route("/old.html", Reply(301, headers={"Location": "/new.html"}))
    _result, store = await crawl(server.url("/"), concurrency=1)
    assert crawled_paths(store, server) == {"/", "/old.html"} or crawled_paths(store, server) == {
        "/",
        "/new.html",
    }
    assert len(server.hits_for("/new.html")) == 1


async def test_cache_counters_are_the_pages_processed_at_every_event(
    server: TestServer, crawl: CrawlFn, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Hits and misses are counted with each page processed, so every snapshot of the
    counters adds up (a job stores them while other pages are still between fetch and
    extraction). /old.html is fetched, then skipped: it redirects to a page crawled."""
    no_robots(server)
    serve_pages(server, {"/": ["/new.html"], "/new.html": ["/old.html"]})
    server.route("/old.html", Reply(301, headers={"Location": "/new.html"}))
    seen: list[tuple[str, int, int, int]] = []

    def listener(event: CrawlEvent, stats: CrawlStats) -> None:
        seen.append((event.kind, stats.processed, stats.cache_hits, stats.cache_misses))

    for _ in range(2):  # fetched, then all from the cache
        result, _store = await crawl(
            server.url("/"), cache_enabled=True, cache_dir=tmp_path, listener=listener
        )
        assert result.stats.processed == 2
        assert result.stats.skipped["redirected to a page already crawled"] == 1
    assert len(server.hits_for("/old.html")) == 1  # the second time, the cache's redirect
    assert [kind for kind, *_ in seen] == ["info", "page", "page", "skipped"] * 2
    assert all(processed == hits + misses for _, processed, hits, misses in seen), seen
    assert seen[3] == ("skipped", 2, 0, 2) and seen[7] == ("skipped", 2, 2, 0)


async def test_non_html_is_recorded_and_skipped(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/manual.pdf"]})
    server.route("/manual.pdf", Reply(body=b"%PDF-1.4", content_type="application/pdf"))
    result, store = await crawl(server.url("/"))
    assert len(store) == 1
    assert result.stats.skipped["not HTML (application/pdf)"] == 1


async def test_start_page_failure_is_a_clear_error(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    server.route("/", Reply(404, "gone"))
    with pytest.raises(ScrapingFailedError, match="HTTP 404"):
        await crawl(server.url("/"))


async def test_rate_limit_spaces_requests_on_the_injected_clock(
    server: TestServer, crawl: CrawlFn
) -> None:
    no_robots(server)
    from tests.support.clock import FakeClock

    serve_pages(
        server, {"/": [f"/p{i}.html" for i in range(9)], **{f"/p{i}.html": [] for i in range(9)}}
    )
    clock = FakeClock()
    began = time.monotonic()
    result, store = await crawl(server.url("/"), clock=clock, rate_limit=2.0)
    assert len(store) == 10
    requests = result.stats.requests  # robots.txt, sitemap.xml and 10 pages
    assert clock.now() - 1000.0 >= (requests - 1) * 0.5
    assert time.monotonic() - began < 10  # no real waiting


async def test_crawl_delay_slows_the_host_further(server: TestServer, crawl: CrawlFn) -> None:
    from tests.support.clock import FakeClock

    server.route(
        "/robots.txt", Reply(body="User-agent: *\nCrawl-delay: 3\n", content_type="text/plain")
    )
    serve_pages(server, {"/": ["/a.html"], "/a.html": []})
    clock = FakeClock()
    result, _ = await crawl(server.url("/"), clock=clock, rate_limit=10.0)
    # robots.txt itself is fetched before its Crawl-delay is known
    assert clock.now() - 1000.0 >= (result.stats.requests - 2) * 3.0


async def test_cache_within_ttl_makes_no_request(
    server: TestServer, crawl: CrawlFn, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    no_robots(server)
    serve_pages(server, {"/": ["/a.html"], "/a.html": []})
    first, _ = await crawl(server.url("/"), cache_enabled=True, cache_dir=tmp_path)
    assert first.stats.cache_misses == 2 and first.stats.cache_hits == 0
    pages_before = len(server.hits_for("/")) + len(server.hits_for("/a.html"))
    second, store = await crawl(server.url("/"), cache_enabled=True, cache_dir=tmp_path)
    assert second.stats.cache_hits == 2 and second.stats.cache_misses == 0
    assert len(server.hits_for("/")) + len(server.hits_for("/a.html")) == pages_before
    assert len(store) == 2 and all(
        d.from_cache for d in store.iter_documents([r.key for r in store.refs()])
    )


async def test_cache_after_ttl_revalidates_with_etag_and_reuses_on_304(
    server: TestServer,
    crawl: CrawlFn,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    no_robots(server)
    body = page("versioned", body="Original text.")

    def etagged(req: RequestInfo) -> Reply:
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", headers={"ETag": '"v1"'}, content_type=None)
        return Reply(
            body=body, headers={"ETag": '"v1"', "Last-Modified": "Mon, 30 Nov 2026 00:00:00 GMT"}
        )

    server.route("/", etagged)
    now = [1_000_000.0]
    await crawl(
        server.url("/"),
        cache_enabled=True,
        cache_dir=tmp_path,
        cache_ttl=60,
        wall_clock=lambda: now[0],
    )
    now[0] += 61
    result, store = await crawl(
        server.url("/"),
        cache_enabled=True,
        cache_dir=tmp_path,
        cache_ttl=60,
        wall_clock=lambda: now[0],
    )
    hits = server.hits_for("/")
    assert len(hits) == 2
    assert hits[1].headers["if-none-match"] == '"v1"'
    assert hits[1].headers["if-modified-since"] == "Mon, 30 Nov 2026 00:00:00 GMT"
    assert result.stats.cache_hits == 1 and result.stats.revalidated == 1
    doc = store.get(canonical(server.url("/")))
    assert doc is not None and "Original text." in doc.markdown


async def test_cache_disabled_always_fetches(server: TestServer, crawl: CrawlFn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    no_robots(server)
    serve_pages(server, {"/": []})
    await crawl(server.url("/"), cache_enabled=False, cache_dir=tmp_path)
    await crawl(server.url("/"), cache_enabled=False, cache_dir=tmp_path)
    assert len(server.hits_for("/")) == 2


@pytest.mark.checklist(22)
async def test_encodings_are_decoded_correctly(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    serve_pages(server, {"/": ["/cp1252.html", "/lying.html", "/mislabelled.html", "/page.xhtml"]})

    def html(text: str, head: str = "") -> str:
        return f"<html><head>{head}</head><body><main><p>{text}</p></main></body></html>"

    cp1252_meta = "<meta charset='windows-1252'>"
    lying_meta = "<meta charset='iso-8859-1'>"
    server.route(
        "/cp1252.html",
        Reply(
            body=html("Café “quoted” 5 €", cp1252_meta).encode("cp1252"), content_type="text/html"
        ),
    )
    server.route(
        "/lying.html",
        Reply(body=html("Grüße aus Köln", lying_meta).encode(), content_type="text/html"),
    )
    server.route(
        "/mislabelled.html",
        Reply(
            body=html("Señor Müller’s naïve café").encode("cp1252"),
            content_type="text/html; charset=utf-8",
        ),
    )
    xhtml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>X</title></head>'
        "<body><main><h1>XHTML page</h1><p>Ünïcödé</p></main></body></html>"
    )
    server.route("/page.xhtml", Reply(body=xhtml.encode(), content_type="application/xhtml+xml"))
    _result, store = await crawl(server.url("/"))
    texts = {
        d.url.removeprefix(server.base): d.markdown
        for d in store.iter_documents([r.key for r in store.refs()])
    }
    assert "Café “quoted” 5 €" in texts["/cp1252.html"]
    assert "Grüße aus Köln" in texts["/lying.html"]
    assert "Señor Müller’s naïve café" in texts["/mislabelled.html"]
    assert "Ünïcödé" in texts["/page.xhtml"] and "xml version" not in texts["/page.xhtml"]


@pytest.mark.checklist(22)
async def test_hostile_markup_does_not_hang_or_fail(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    nested = "<div>" * 100_000 + "deep text" + "</div>" * 100_000
    serve_pages(server, {"/": ["/nested.html", "/binary.html"]})
    server.route(
        "/nested.html", Reply(body=f"<html><body><main><p>top</p>{nested}</main></body></html>")
    )
    server.route("/binary.html", Reply(body=bytes(range(256)) * 100))
    began = time.monotonic()
    result, store = await crawl(server.url("/"))
    assert time.monotonic() - began < 30
    assert result.stats.errors == 0 and len(store) == 3


@pytest.mark.checklist(11)
async def test_credentials_never_leave_their_origin(server: TestServer, crawl: CrawlFn) -> None:
    other = TestServer().start()
    try:
        no_robots(server)
        no_robots(other)
        serve_pages(server, {"/": ["/hop"]})
        server.route("/hop", Reply(302, headers={"Location": other.url("/landing")}))
        other.route("/landing", Reply(body=page("elsewhere")))
        creds = {
            ("http", "127.0.0.1", server.port): {
                "Authorization": "Bearer s3cret",
                "Cookie": "session=abc",
            }
        }
        result, _ = await crawl(server.url("/"), credentials=creds)
        assert server.hits_for("/")[0].headers["authorization"] == "Bearer s3cret"
        landing = other.hits_for("/landing")
        assert landing, "the redirect was followed"
        assert "authorization" not in landing[0].headers and "cookie" not in landing[0].headers
        assert result.stats.skipped["redirected: other host"] == 1
    finally:
        other.stop()


async def test_server_cookies_are_not_replayed(server: TestServer, crawl: CrawlFn) -> None:
    no_robots(server)
    server.route(
        "/", Reply(body=page("home", ["/next.html"]), headers={"Set-Cookie": "tracker=1; Path=/"})
    )
    server.route("/next.html", Reply(body=page("next")))
    await crawl(server.url("/"))
    assert "cookie" not in server.hits_for("/next.html")[0].headers


async def test_avg_page_time_excludes_the_rate_limiters_wait(
    server: TestServer, crawl: CrawlFn
) -> None:
    """At 2 requests/s the sixth page waits its turn 2.5 s; a page answered in
    milliseconds still takes milliseconds to fetch and process."""
    no_robots(server)
    links = [f"/p{i}.html" for i in range(5)]
    server.route("/index.html", Reply(body=page("/index.html", links)))
    for link in links:
        server.route(link, Reply(body=page(link)))
    result, store = await crawl(server.url("/index.html"), rate_limit=2.0, use_sitemaps=False)
    store.close()
    assert result.stats.processed == 6
    assert result.duration >= 2.0  # the limiter really spaced the requests
    assert result.stats.avg_page_time < 0.4, result.stats.avg_page_time

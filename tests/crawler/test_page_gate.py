"""The per-page quality gate: answers with status 200 that are no content (a bot challenge,
"Access denied", a soft 404, an app shell that stays empty) are never written into a book;
each is an error with its reason in the crawl's statistics and events, after a render where
rendering is allowed. The decision itself is a function over values."""

from __future__ import annotations

import pytest

from scrape_api_docs.crawler.browser import find_browser
from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats
from scrape_api_docs.extract.gate import judge
from scrape_api_docs.urls import canonical
from tests.conftest import CrawlFn
from tests.support.server import Reply, TestServer

needs_chromium = pytest.mark.skipif(
    find_browser() is None, reason="needs Chromium (make test installs Debian's chromium)"
)

# As the big vendors serve them (text and markers trimmed, shapes kept).
CHALLENGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper" role="main">
<div class="main-content"><h1 class="zone-name-title h1">docs.example.org</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<div id="challenge-stage"></div><div id="challenge-body-text" class="core-msg spacer">
docs.example.org needs to review the security of your connection before proceeding.</div>
</div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "docs.example.org"};
var a = document.createElement('script');
a.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=1';
document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"""
DENIED = """<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>
<H1>Access Denied</H1>
You don't have permission to access "http&#58;&#47;&#47;docs&#46;example&#46;org&#47;denied"
on this server.<P>Reference&#32;&#35;18&#46;5b3c1402&#46;1701234567&#46;2a8f
</BODY></HTML>"""
NOT_FOUND = """<!DOCTYPE html><html><head><title>Orbit docs</title></head><body>
<nav><a href="/">Home</a> <a href="/guide.html">Guide</a></nav>
<main><h1>Page not found</h1><p>Sorry, the page you were looking for does not exist.
Try the <a href="/">home page</a>.</p></main></body></html>"""
SHELL = """<!DOCTYPE html><html><head><title>Orbit</title>
<script type="module" src="/assets/index-4f2a.js"></script></head>
<body><div id="root"></div></body></html>"""
GUIDE = """<!DOCTYPE html><html><head><title>Guide · Orbit docs</title></head><body>
<main><h1>Guide</h1><p>Orbit schedules jobs across a cluster of workers.</p>
<p>A job that fails is retried with a back-off, up to the limit its queue sets.</p></main>
</body></html>"""
INDEX = """<!DOCTYPE html><html><head><title>Orbit docs</title></head><body>
<main><h1>Orbit</h1><p>Orbit runs your jobs. Read the <a href="/guide.html">guide</a>,
<a href="/challenge.html">the status page</a>, <a href="/denied.html">the admin notes</a>,
<a href="/gone.html">the old FAQ</a> and <a href="/app.html">the dashboard</a>.</p></main>
</body></html>"""
# The static fallback of a client-routed site: "Page not found" until its script draws the
# route (what GitHub Pages' 404 trick and many SPA hosts serve, with status 200).
ROUTED = """<!DOCTYPE html><html><head><title>Page not found · Orbit docs</title></head><body>
<header><a href="/">Orbit docs</a> <a href="/guide.html">Guide</a></header>
<main id="content"><h1>Page not found</h1><p>We could not find what you were looking for.
Please check the address, or start again from the home page of the Orbit documentation.</p>
</main><footer>Copyright 2026 Orbit contributors. Built with a static site generator.</footer>
<script>
document.getElementById("content").innerHTML = "<h1>Orbit tutorial</h1>" +
  "<p>Orbit schedules jobs across a cluster of workers and retries the ones that fail.</p>";
document.title = "Orbit tutorial";
</script></body></html>"""

EXPECTED = {"bot challenge": 1, "access denied": 1, "soft 404": 1}


def serve(server: TestServer) -> None:
    for path, body in (
        ("/", INDEX),
        ("/guide.html", GUIDE),
        ("/challenge.html", CHALLENGE),
        ("/denied.html", DENIED),
        ("/gone.html", NOT_FOUND),
        ("/app.html", SHELL),
        ("/tutorial.html", ROUTED),
    ):
        server.route(path, Reply(body=body))
    server.route("/assets/index-4f2a.js", Reply(body="", content_type="text/javascript"))


@pytest.mark.parametrize("mode", ["never", pytest.param("auto", marks=needs_chromium)])
async def test_pages_that_are_no_content_are_errors_with_their_reason(
    mode: str, server: TestServer, crawl: CrawlFn
) -> None:
    serve(server)
    events: list[CrawlEvent] = []

    def listen(event: CrawlEvent, stats: CrawlStats) -> None:
        events.append(event)

    start = server.url("/")
    # Rendered, a shell that never draws runs into the render's time limit (the render
    # tests cover that): left out there, and the limit generous for a busy machine.
    rendered = {"exclude_patterns": ["*/app.html"], "timeout": 20.0} if mode == "auto" else {}
    result, store = await crawl(
        start, render_javascript=mode, use_sitemaps=False, listener=listen, **rendered
    )
    shell = {"empty page": 1} if mode == "never" else {}
    assert result.stats.error_reasons == {**EXPECTED, **shell}
    assert result.stats.errors == 3 + len(shell) and result.stats.processed == 2
    for path in ("/challenge.html", "/denied.html", "/gone.html", "/app.html"):
        assert store.get(canonical(server.url(path))) is None, path
    errors = {e.url.rsplit("/", 1)[1]: (e.reason, e.message) for e in events if e.kind == "error"}
    assert {name: reason for name, (reason, _) in errors.items()} == {
        "challenge.html": "bot challenge",
        "denied.html": "access denied",
        "gone.html": "soft 404",
        **({"app.html": "empty page"} if shell else {}),
    }
    assert "just a moment" in errors["challenge.html"][1]
    guide = store.get(canonical(server.url("/guide.html")))
    assert guide is not None and "retried with a back-off" in guide.markdown
    if mode == "auto":  # each was rendered before being given up
        assert result.stats.rendered == 3


@needs_chromium
async def test_a_not_found_fallback_that_renders_its_route_is_written(
    server: TestServer, crawl: CrawlFn
) -> None:
    serve(server)
    start = server.url("/tutorial.html")
    result, store = await crawl(start, render_javascript="auto", use_sitemaps=False, max_pages=1)
    assert result.stats.errors == 0, result.stats.error_reasons
    assert result.stats.rendered == 1
    doc = store.get(canonical(start))
    assert doc is not None
    assert "retries the ones that fail" in doc.markdown
    assert "Page not found" not in doc.markdown


def test_judge_reads_the_answer_not_the_words() -> None:
    """Values in, verdict out: the telling phrase must open a short page (title or first
    heading); a page that merely talks about 404s or captchas is content."""
    assert judge(
        "Attention Required! | Cloudflare", "# Sorry, you have been blocked", scripted=False
    )
    assert judge("403 Forbidden", "# 403 Forbidden\n\nnginx", scripted=False)
    assert judge("Docs", "# 404\n\nThis page could not be found.", scripted=True)
    assert judge("Orbit", "Loading…", scripted=True)
    assert judge("Orbit", "Loading…", scripted=False) is None  # no script: a short page
    api = "# FileNotFoundError\n\nRaised when a file or directory is requested but not found."
    assert judge("FileNotFoundError", api, scripted=True) is None
    assert judge("Install", "# Install\n\nRun `pip install orbit`.", scripted=True) is None
    errors = "# HTTP errors\n\n" + "A 404 Not Found means the page does not exist. " * 30
    assert judge("HTTP errors", errors, scripted=False) is None
    captcha = "# Captcha widget\n\n" + "Verify you are human with the widget below. " * 30
    assert judge("Captcha widget", captcha, scripted=True, markers=True) is None

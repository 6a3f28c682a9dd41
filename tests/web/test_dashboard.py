"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
``scrape-docs serve`` subprocess on 127.0.0.1 crawling a fixture site served on loopback.

One keyless server (and one browser) for the module; the keyed test starts its own server.
Every page is saved as ``build/screenshots/<page>.png`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from scrape_api_docs.crawler.browser import find_browser, launch_args
from scrape_api_docs.keys import create_key
from scrape_api_docs.settings import Settings
from tests.api.test_live_server import LiveServer, finished, job_when, slow_site
from tests.support.server import Reply, TestServer
from tests.support.sites import page as site_page

pytestmark = pytest.mark.skipif(find_browser() is None, reason="needs Chromium")

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site() -> Iterator[TestServer]:
    """``/docs/``: 6 quick pages; ``/slow/``: 20 pages of 2 s each (a job to cancel)."""
    server = TestServer().start()
    server.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    slow_site(server, pages=6, delay=0.05)
    slow = [f"/slow/s{i:02d}.html" for i in range(20)]
    server.route("/slow/", Reply(body=site_page("Slow home", slow, "A slow section.")))
    for path in slow:
        server.route(path, Reply(body=site_page(path, ["/slow/"], "Slow page."), delay=2))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("keyless") / "data")
    try:
        yield server.start()
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def books() -> dict[str, str]:
    """Jobs the module's tests finished, for later tests to reuse: {name: job id}."""
    return {}


def finished_book(server: LiveServer, site: TestServer) -> str:
    with server.client() as client:
        answer = client.post(
            "/api/v1/scrape", json={"url": site.url("/docs/"), "options": {"rate_limit": 10}}
        )
        assert answer.status_code == 202, answer.text
        job_id: str = answer.json()["job_id"]
        assert job_when(client, job_id, finished, 60)["status"] == "completed"
    return job_id


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=find_browser(), headless=True, args=launch_args()
        )
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, errors  # no script error, nothing the page's CSP had to block


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_root_serves_the_dashboard_and_json_to_json_clients(keyless: LiveServer) -> None:
    with keyless.client() as client:
        html = client.get("/", headers={"Accept": "text/html"})
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        csp = html.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert not re.search(r"https?://", html.text), "the page refers to another site"
        for asset in ("/ui/app.js", "/ui/app.css", "/ui/highlight.css"):
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert answer.headers["content-security-policy"] == csp
        named = client.get("/", headers={"Accept": "application/json"}).json()
        assert named["name"] == "scrape-api-docs" and named["docs"] == "/api/docs"


def test_submit_watch_download_and_preview(
    tab: Page, keyless: LiveServer, site: TestServer, books: dict[str, str]
) -> None:
    tab.goto(keyless.base_url + "/")
    expect(tab.get_by_role("heading", name="Submit a crawl")).to_be_visible()
    # Defaults and bounds come from the API's own schema.
    expect(tab.locator("#opt-max_depth-hint")).to_contain_text("Default: 10. From 1 to 100.")
    tab.get_by_label("Start URL").fill(site.url("/docs/"))
    tab.get_by_label("Rate Limit").fill("10")
    tab.get_by_role("button", name="Validate first").click()
    expect(tab.locator(".validation")).to_contain_text("Estimated pages")
    shot(tab, "submit")

    tab.get_by_role("button", name="Start crawl").click()
    expect(tab).to_have_url(re.compile(r"#/jobs/job_"))
    expect(tab.locator("#progress")).to_have_js_property("value", 100, timeout=30_000)
    expect(tab.locator(".badge").first).to_have_text("completed", timeout=30_000)
    expect(tab.locator(".facts")).to_contain_text("Pages done")
    expect(tab.get_by_role("log")).to_contain_text("Crawl finished")

    books["docs"] = tab.url.rsplit("/", 1)[1]
    link = tab.get_by_role("link", name=re.compile(r"Download output\.md \(\d"))
    with tab.expect_download() as download:
        link.click()
    book = Path(download.value.path()).read_text()
    assert "Page number 3 explains one part of the system" in book

    preview = tab.locator(".preview")
    expect(preview).to_contain_text("Page number 3 explains")
    assert preview.locator("script, img, [onerror]").count() == 0
    shot(tab, "job")
    tab.set_viewport_size(PHONE)
    shot(tab, "job-phone")

    tab.set_viewport_size({"width": 1280, "height": 720})
    tab.goto(keyless.base_url + "/#/jobs?status=completed")
    expect(tab.get_by_role("table")).to_contain_text(site.url("/docs/"))
    expect(tab.get_by_label("Status")).to_have_value("completed")
    shot(tab, "jobs")


def test_cancel_a_running_job(tab: Page, keyless: LiveServer, site: TestServer) -> None:
    with keyless.client() as client:
        answer = client.post(
            "/api/v1/scrape", json={"url": site.url("/slow/"), "options": {"rate_limit": 10}}
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        tab.goto(f"{keyless.base_url}/#/jobs/{job_id}")
        expect(tab.locator(".badge").first).to_have_text("running", timeout=15_000)
        tab.get_by_role("button", name="Cancel job").click()
        expect(tab.locator(".badge").first).to_have_text("cancelled", timeout=15_000)
        assert job_when(client, job_id, finished, 10)["status"] == "cancelled"


def test_a_refused_url_is_explained_in_words(tab: Page, keyless: LiveServer) -> None:
    tab.goto(keyless.base_url + "/#/submit")
    tab.get_by_label("Start URL").fill("http://169.254.169.254/latest/meta-data/")
    tab.get_by_role("button", name="Start crawl").click()
    alert = tab.get_by_role("alert")
    expect(alert).to_contain_text("169.254.169.254")
    assert "{" not in alert.inner_text()  # the envelope's message, not raw JSON
    shot(tab, "submit-error")


def test_credentials_and_system(tab: Page, keyless: LiveServer) -> None:
    secret = "s3cret-token-never-shown"
    tab.goto(keyless.base_url + "/#/credentials")
    tab.get_by_label("Domain").fill("docs.internal.example.com")
    tab.get_by_label("Type").select_option("bearer")
    tab.get_by_label("Token").fill(secret)
    tab.get_by_role("button", name="Add credential").click()
    expect(tab.get_by_role("table")).to_contain_text("docs.internal.example.com")
    assert secret not in tab.content()
    shot(tab, "credentials")
    tab.get_by_role("button", name="Delete the credential for docs.internal.example.com").click()
    expect(tab.get_by_text("No credentials stored.")).to_be_visible()

    tab.goto(keyless.base_url + "/#/system")
    expect(tab.get_by_role("heading", name=re.compile("Health"))).to_contain_text("healthy")
    expect(tab.locator("main")).to_contain_text("Performance")
    shot(tab, "system")


def test_with_an_api_key_and_a_lost_connection(
    tab: Page, keyless: LiveServer, site: TestServer, books: dict[str, str]
) -> None:
    """Last in the module: the server gets its first key (every request needs one from now
    on; the jobs made without a key become the key's), then goes away under an open page
    and comes back on the same port."""
    book = books.get("docs") or finished_book(keyless, site)  # (this module split by xdist)
    with ThreadPoolExecutor(1) as thread:  # (Playwright's loop runs in this one)
        made = create_key(Settings(data_dir=keyless.data_dir), "dashboard")
        key = thread.submit(asyncio.run, made).result().key
    tab.goto(keyless.base_url + "/#/jobs")
    # (the server notices the new key within its key check's 5 s)
    expect(tab.get_by_role("alert")).to_contain_text("API key", timeout=15_000)
    tab.get_by_label("API key").fill(key)
    tab.get_by_role("button", name="Use key").click()
    expect(tab.get_by_role("table")).to_contain_text(book)

    tab.goto(f"{keyless.base_url}/#/jobs/{book}")
    with tab.expect_download() as download:  # fetched with the key's header, saved from memory
        tab.get_by_role("button", name=re.compile(r"Download output\.md")).click()
    assert "Page number 2 explains" in Path(download.value.path()).read_text()

    tab.goto(keyless.base_url + "/#/submit")
    tab.get_by_label("Start URL").fill(site.url("/slow/"))
    tab.get_by_role("button", name="Start crawl").click()
    expect(tab.get_by_text("live", exact=True)).to_be_visible(timeout=15_000)  # WebSocket + key
    tab.get_by_role("button", name="Cancel job").click()
    expect(tab.locator(".badge").first).to_have_text("cancelled", timeout=15_000)

    tab.goto(keyless.base_url + "/#/jobs")
    expect(tab.get_by_role("table")).to_be_visible()
    keyless.signal(signal.SIGTERM)
    keyless.wait_exit(20)
    banner = tab.locator("#connection")
    expect(banner).to_contain_text("Lost the connection", timeout=10_000)
    shot(tab, "connection-lost")
    keyless.start()
    expect(banner).to_contain_text("Connection restored", timeout=30_000)
    expect(tab.get_by_role("table")).to_contain_text(book)

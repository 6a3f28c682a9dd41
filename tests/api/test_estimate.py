"""One estimate of a site's size, before the crawl: validate's ``estimated_pages`` and the
202's ``estimated_duration`` (sitemap count, else a bounded sample of the site), against
real sites on 127.0.0.1 whose start page links to only a few of their pages."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import wait_for_status
from tests.support.server import Reply, TestServer
from tests.support.sites import no_robots, page, serve_pages

FAST = {"requests_per_minute": 100_000, "estimate_seconds": 3.0}  # the default
RATE = 10.0


def sectioned_site(server: TestServer, sections: int = 5, leaves: int = 9) -> int:
    """/docs/ links to ``sections`` section pages only; each section to its ``leaves``
    pages. Every page links back up (as docs navigation does). Returns the page count."""
    pages: dict[str, list[str]] = {"/docs/": [f"/docs/s{s}/" for s in range(sections)]}
    for s in range(sections):
        children = [f"/docs/s{s}/p{p}.html" for p in range(leaves)]
        pages[f"/docs/s{s}/"] = ["/docs/", *children]
        for child in children:
            pages[child] = ["/docs/", f"/docs/s{s}/"]
    serve_pages(server, pages)
    return len(pages)


def binary_site(server: TestServer, depth: int = 5) -> int:
    """A tree: every page links to two children, down to ``depth`` levels (63 pages)."""
    pages: dict[str, list[str]] = {}

    def add(path: str, level: int) -> None:
        base = path.removesuffix(".html")
        kids = [f"{base}-{i}.html" for i in (0, 1)] if level < depth else []
        pages[path] = ["/docs/index.html", *kids]
        for kid in kids:
            add(kid, level + 1)

    add("/docs/index.html", 0)
    serve_pages(server, pages)
    return len(pages)


def add_sitemap(server: TestServer, paths: list[str]) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{server.url(p)}</loc></url>" for p in paths)
        + "</urlset>"
    )
    server.route("/sitemap.xml", Reply(body=body, content_type="application/xml"))


async def validate(client: httpx.AsyncClient, url: str, **options: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/scrape/validate", json={"url": url, "options": {"rate_limit": RATE, **options}}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def within_two(estimate: int, true: int) -> bool:
    return true / 2 <= estimate <= true * 2


async def test_without_a_sitemap_the_sample_finds_a_site_its_start_page_hides(
    api: Any, server: TestServer
) -> None:
    no_robots(server)
    true = sectioned_site(server)
    assert true == 51
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/docs/"))
    assert result["valid"] is True
    # The start page alone links to 5 pages; the site has 51.
    assert within_two(result["estimated_pages"], true), result
    assert result["details"]["estimate_basis"].startswith("sample")
    assert result["details"]["sampled_pages"] <= 20
    assert result["estimated_duration"] == round(result["estimated_pages"] / RATE, 1)


async def test_a_deep_tree_is_extrapolated_within_a_factor_of_two(
    api: Any, server: TestServer
) -> None:
    no_robots(server)
    true = binary_site(server)
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/docs/index.html"))
    assert result["details"]["estimate_basis"] == "sample, extrapolated", result
    assert within_two(result["estimated_pages"], true), result
    fetched = [h for h in server.hits if h.path.endswith(".html")]
    assert len(fetched) <= 20  # a sample, not a crawl


async def test_with_a_sitemap_its_count_is_the_estimate_and_no_page_is_fetched(
    api: Any, server: TestServer
) -> None:
    no_robots(server)
    true = sectioned_site(server)
    add_sitemap(server, ["/docs/", *[f"/docs/s{s}/p{p}.html" for s in range(5) for p in range(9)]])
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/docs/"))
        capped = await validate(client, server.url("/docs/"), max_pages=10)
    assert result["details"]["estimate_basis"] == "sitemap"
    assert within_two(result["estimated_pages"], true), result
    assert capped["estimated_pages"] == 10
    assert [h.path for h in server.hits if h.path.endswith(".html")] == []


@pytest.mark.checklist(35)
async def test_a_sitemap_on_a_refused_address_is_skipped_not_fatal(
    api: Any, server: TestServer
) -> None:
    """robots.txt names a sitemap at a refused address: the crawl skips it, so does
    validate (a warning), instead of refusing the whole site."""
    server.route(
        "/robots.txt",
        Reply(
            body="User-agent: *\nAllow: /\nSitemap: http://169.254.169.254/sitemap.xml\n",
            content_type="text/plain",
        ),
    )
    true = sectioned_site(server, sections=2, leaves=2)
    async with api(**FAST) as (_, client):
        result = await validate(client, server.url("/docs/"))
    assert result["valid"] is True, result
    assert result["estimated_pages"] == true
    assert any("169.254.169.254" in w and "skipped" in w for w in result["warnings"])


async def test_submission_answers_with_an_estimated_duration(api: Any, server: TestServer) -> None:
    no_robots(server)
    true = sectioned_site(server)
    async with api(**FAST) as (_, client):
        response = await client.post(
            "/api/v1/scrape",
            json={"url": server.url("/docs/"), "options": {"rate_limit": RATE, "max_pages": 60}},
        )
        assert response.status_code == 202, response.text
        estimated = response.json()["estimated_duration"]
        assert estimated is not None
        assert within_two(round(estimated * RATE), true), estimated
        job = await wait_for_status(client, response.json()["job_id"])
    assert job["status"] == "completed"
    assert job["statistics"]["pages_processed"] == true


async def test_a_slow_site_falls_back_to_the_start_page_and_says_so(
    api: Any, server: TestServer
) -> None:
    """Pages past the start page answer after 5 s: submission does not wait for them
    (bounded: SCRAPER_ESTIMATE_SECONDS, 3 s) and validate says its estimate is the start page's."""
    no_robots(server)
    links = [f"/docs/p{i}.html" for i in range(4)]
    server.route("/docs/", Reply(body=page("/docs/", links)))
    for link in links:
        server.route(link, Reply(body=page(link), delay=5))
    async with api(**FAST) as (_, client):
        began = time.monotonic()
        response = await client.post(
            "/api/v1/scrape", json={"url": server.url("/docs/"), "options": {"rate_limit": RATE}}
        )
        assert time.monotonic() - began < 15  # bounded, far from the sample's 20 x 5 s
        assert response.status_code == 202, response.text
        assert response.json()["estimated_duration"] == 0.5  # 5 pages at 10/s
        job = (await client.get(f"/api/v1/jobs/{response.json()['job_id']}")).json()
        assert "start page" in job["logs"][0]["message"]
        await client.delete(f"/api/v1/jobs/{job['job_id']}")

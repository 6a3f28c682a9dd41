from __future__ import annotations

import gzip

import pytest

from scrape_api_docs.crawler.robots import robots_url, rules_from_response
from scrape_api_docs.crawler.sitemap import parse_sitemap

UA = "scrape-api-docs/0.1"


def test_rfc9309_status_table() -> None:
    assert rules_from_response(404, None).allowed("http://x/a", UA)
    assert rules_from_response(410, None).allowed("http://x/a", UA)
    assert not rules_from_response(500, None).allowed("http://x/a", UA)
    assert not rules_from_response(503, None).allowed("http://x/a", UA)
    unreachable = rules_from_response(None, None, "timeout")
    assert not unreachable.allowed("http://x/a", UA) and "timeout" in unreachable.status


def test_longest_match_and_our_group() -> None:
    body = (
        b"User-agent: *\nDisallow: /\n\n"
        b"User-agent: scrape-api-docs\nDisallow: /docs/private\nAllow: /docs/private/ok\n"
        b"Crawl-delay: 2.5\nSitemap: http://x/sitemap-docs.xml\n"
    )
    rules = rules_from_response(200, body)
    assert rules.allowed("http://x/docs/a", UA)
    assert not rules.allowed("http://x/docs/private/b", UA)
    assert rules.allowed("http://x/docs/private/ok/c", UA)
    assert not rules.allowed("http://x/docs/a", "OtherBot/1.0")
    assert rules.crawl_delay(UA) == 2.5
    assert rules.sitemaps == ["http://x/sitemap-docs.xml"]


def test_robots_url() -> None:
    assert robots_url("https://x.org:8443/docs/a?b#c") == "https://x.org:8443/robots.txt"


def test_sitemap_urlset_index_and_gzip() -> None:
    urlset = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc> http://x/a </loc></url></urlset>"
    )
    assert parse_sitemap(urlset).pages == ["http://x/a"]
    assert parse_sitemap(gzip.compress(urlset)).pages == ["http://x/a"]
    index = b"<sitemapindex><sitemap><loc>http://x/s1.xml</loc></sitemap></sitemapindex>"
    assert parse_sitemap(index).sitemaps == ["http://x/s1.xml"]


def test_sitemap_entities_are_not_expanded() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">'
        b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<urlset><url><loc>http://x/&e;&b;</loc></url></urlset>"
    )
    pages = parse_sitemap(evil).pages
    assert all("root:" not in page and "aaaaaaaaaa" not in page for page in pages)


@pytest.mark.parametrize("junk", [b"<html><body>not a sitemap</body></html>", b"", b"\x00\x01"])
def test_non_sitemaps_are_refused(junk: bytes) -> None:
    with pytest.raises(ValueError):
        parse_sitemap(junk)

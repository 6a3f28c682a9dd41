"""Check a URL without crawling the site: policy, reachability, robots.txt, sitemap size,
JavaScript rendering. What ``POST /api/v1/scrape/validate`` answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scrape_api_docs.crawler.encoding import decode_html
from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.crawler.robots import robots_url, rules_from_response
from scrape_api_docs.crawler.scope import Scope
from scrape_api_docs.crawler.sitemap import parse_sitemap
from scrape_api_docs.crawler.urls import canonical
from scrape_api_docs.errors import FetchError
from scrape_api_docs.extract.content import extract
from scrape_api_docs.extract.jsdetect import detect_javascript

MAX_SITEMAPS = 10


async def validate_site(
    url: str, options: ScrapeOptions, *, policy: NetworkPolicy, user_agent: str
) -> dict[str, Any]:
    policy.check_url(url)  # INVALID_URL (400) before any request
    agent = options.user_agent or user_agent
    fetcher = HttpFetcher(
        policy, FetcherOptions(user_agent=agent, timeout=min(options.timeout, 15))
    )
    warnings: list[str] = []
    recommendations: dict[str, Any] = {}
    details: dict[str, Any] = {}
    valid = True
    try:
        try:
            response = await fetcher.get(robots_url(url), html_only=False)
            rules = rules_from_response(response.status, response.body)
        except FetchError as exc:
            rules = rules_from_response(None, None, exc.message)
        details["robots"] = rules.status
        if rules.unreachable:
            return _result(
                False, None, options, [f"cannot reach the site: {rules.unreachable}"], {}, details
            )
        if not rules.allowed(url, agent):
            valid = False
            warnings.append("robots.txt disallows this URL for our user agent")
        delay = rules.crawl_delay(agent)
        if delay and 1.0 / delay < options.rate_limit:
            recommendations["rate_limit"] = round(1.0 / delay, 2)
            warnings.append(f"robots.txt asks for {delay:g}s between requests")
        try:
            page = await fetcher.get(url)
        except FetchError as exc:
            return _result(False, None, options, [*warnings, exc.message], recommendations, details)
        details["status"] = page.status
        details["final_url"] = page.final_url
        if page.status != 200:
            return _result(
                False,
                None,
                options,
                [*warnings, f"start page answered HTTP {page.status}"],
                recommendations,
                details,
            )
        if not page.is_html or page.body is None:
            return _result(
                False,
                None,
                options,
                [*warnings, f"start page is not HTML ({page.content_type})"],
                recommendations,
                details,
            )
        text, _ = decode_html(page.body, page.content_type)
        # The detector render_javascript="auto" uses, page by page.
        verdict = detect_javascript(text)
        if verdict.javascript:
            details["javascript_signals"] = verdict.reasons
            if options.render_mode == "never":
                warnings.append("Site uses JavaScript rendering - enable render_javascript option")
                recommendations["render_javascript"] = True
        scope = Scope(
            url, tuple(options.include_patterns or ()), tuple(options.exclude_patterns or ())
        )
        sitemap_pages = await _sitemap_pages(fetcher, url, rules.sitemaps, scope)
        links = {canonical(link) for link in extract(text, page.final_url).links}
        in_scope = {link for link in links if scope.reason_out(link) is None}
        details["sitemap_pages"] = len(sitemap_pages)
        details["start_page_links_in_scope"] = len(in_scope)
        # One count per page, however it is spelled (``/``, ``/index.html``, a fragment).
        known = sitemap_pages | in_scope | {canonical(page.final_url)}
        estimated = max(len(known), 1)
        estimated = min(estimated, options.max_pages)
        return _result(valid, estimated, options, warnings, recommendations, details)
    finally:
        await fetcher.aclose()


async def _sitemap_pages(
    fetcher: HttpFetcher, url: str, listed: list[str], scope: Scope
) -> set[str]:
    parts = urlsplit(url)
    pending = list(
        dict.fromkeys([*listed, urlunsplit((parts.scheme, parts.netloc, "/sitemap.xml", "", ""))])
    )
    pages: set[str] = set()
    seen: set[str] = set()
    while pending and len(seen) < MAX_SITEMAPS:
        sitemap = pending.pop(0)
        if sitemap in seen:
            continue
        seen.add(sitemap)
        try:
            response = await fetcher.get(sitemap, html_only=False)
            if response.status != 200 or response.body is None:
                continue
            content = parse_sitemap(response.body)
        except (FetchError, ValueError):
            continue
        pages.update(canonical(p) for p in content.pages if scope.reason_out(p) is None)
        pending.extend(content.sitemaps)
    return pages


def _result(
    valid: bool,
    pages: int | None,
    options: ScrapeOptions,
    warnings: list[str],
    recommendations: dict[str, Any],
    details: dict[str, Any],
) -> dict[str, Any]:
    rate = float(recommendations.get("rate_limit") or options.rate_limit)
    return {
        "valid": valid,
        "estimated_pages": pages,
        "estimated_duration": round(pages / rate, 1) if pages else None,
        "warnings": warnings,
        "recommendations": recommendations,
        "details": details,
    }

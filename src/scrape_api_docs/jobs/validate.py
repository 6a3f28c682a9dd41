"""Check a URL without crawling the site: policy, reachability, robots.txt, sitemap size,
JavaScript rendering. What ``POST /api/v1/scrape/validate`` answers."""

from __future__ import annotations

import time
from typing import Any

from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.crawler.robots import robots_url, rules_from_response
from scrape_api_docs.encodings import decode_html
from scrape_api_docs.errors import FetchError
from scrape_api_docs.extract.jsdetect import detect_javascript
from scrape_api_docs.jobs.estimate import Estimate, estimate_pages

VALIDATE_BUDGET = 8.0
"""Seconds validate may spend sampling the site for its page estimate."""


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
                [*warnings, f"start page answered HTTP {page.status}", *_auth_hint(page.status)],
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
        estimate, skipped = await estimate_pages(
            fetcher,
            page.final_url,
            text,
            options,
            rules,
            agent,
            deadline=time.monotonic() + VALIDATE_BUDGET,
            start_seconds=page.elapsed,
        )
        warnings.extend(skipped)
        details["estimate_basis"] = estimate.basis
        details["sitemap_pages"] = estimate.sitemap_pages
        details["sampled_pages"] = estimate.sampled_pages
        if estimate.note:
            warnings.append(estimate.note)
        return _result(valid, estimate, options, warnings, recommendations, details)
    finally:
        await fetcher.aclose()


def _auth_hint(status: int) -> list[str]:
    if status not in (401, 403):
        return []
    return [
        "the site needs credentials: a scrape without them fails with AUTHENTICATION_FAILED; "
        "send them in 'authentication' or store them with POST /api/v1/auth/credentials"
    ]


def _result(
    valid: bool,
    estimate: Estimate | None,
    options: ScrapeOptions,
    warnings: list[str],
    recommendations: dict[str, Any],
    details: dict[str, Any],
) -> dict[str, Any]:
    rate = float(recommendations.get("rate_limit") or options.rate_limit)
    return {
        "valid": valid,
        "estimated_pages": estimate.pages if estimate else None,
        "estimated_duration": estimate.duration(rate) if estimate else None,
        "warnings": warnings,
        "recommendations": recommendations,
        "details": details,
    }

"""How many pages a crawl will find, and how long it will take, before it runs.

One estimator for ``POST /scrape`` (``estimated_duration`` of the 202) and
``POST /scrape/validate`` (``estimated_pages`` and ``estimated_duration``):

* a sitemap with pages in scope: their count (with the start page's links);
* else a small breadth-first sample of the site, fetched at the crawl's own rate limit
  and within a time budget, extrapolated from how fast it still finds new pages;
* when the sample cannot run (budget spent, start page only): the start page's links,
  and the estimate says so (``basis``).

Always capped by ``max_pages``. Duration: pages x max(1 / rate limit, typical fetch time).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.options import ScrapeOptions
from scrape_api_docs.crawler.robots import RobotsRules, robots_url, rules_from_response
from scrape_api_docs.crawler.scope import Scope
from scrape_api_docs.crawler.sitemap import parse_sitemap
from scrape_api_docs.encodings import decode_html
from scrape_api_docs.errors import FetchError, InvalidURLError
from scrape_api_docs.extract.content import extract
from scrape_api_docs.jobs.auth import Origin
from scrape_api_docs.urls import canonical

MAX_SITEMAPS = 10
SAMPLE_PAGES = 20
"""Pages the breadth-first sample fetches at most."""
MAX_GROWTH = 1.0
"""Each page still to visit is assumed to lead to at most this many more: early in a
breadth-first sample every level grows, and whether the next one does is unknown (a
5-section site of 51 pages sampled over 6 pages gave 186 with 3, 96 with 1)."""
DEFAULT_FETCH_SECONDS = 0.5
"""Typical fetch time when nothing was measured."""


@dataclass
class Estimate:
    pages: int
    basis: str
    """"sitemap", "sample" (the whole site was seen), "sample, extrapolated", "start page"."""
    fetch_seconds: float = DEFAULT_FETCH_SECONDS
    note: str | None = None
    sitemap_pages: int = 0
    sampled_pages: int = 1
    """Pages fetched to make the estimate, the start page included."""
    crawl_delay: float = 0.0
    """robots.txt's Crawl-delay for our user agent: the crawl waits at least that long."""

    def duration(self, rate_limit: float) -> float:
        per_page = max(1.0 / rate_limit, self.crawl_delay, self.fetch_seconds)
        return round(self.pages * per_page, 1)

    def describe(self) -> str:
        """One line for the job log."""
        how = {
            "sitemap": "from the sitemap",
            "sample": f"from a sample of {self.sampled_pages} pages (the whole site)",
            "sample, extrapolated": f"extrapolated from a sample of {self.sampled_pages} pages",
            "start page": "from the start page's links",
        }[self.basis]
        return f"Estimated {self.pages} pages {how}" + (f"; {self.note}" if self.note else "")


def links_in_scope(html: str, url: str, scope: Scope) -> dict[str, str]:
    """In-scope links of one page, the way the crawl finds them: canonical key -> URL."""
    found: dict[str, str] = {}
    for link in extract(html, url).links:
        if scope.reason_out(link) is None:
            found.setdefault(canonical(link), link)
    return found


def scope_of(url: str, options: ScrapeOptions) -> Scope:
    return Scope(url, tuple(options.include_patterns or ()), tuple(options.exclude_patterns or ()))


async def sitemap_pages(
    fetcher: HttpFetcher, url: str, listed: Iterable[str], scope: Scope
) -> tuple[set[str], list[str]]:
    """In-scope pages of the site's sitemaps, and what was skipped (why, in words).

    A sitemap that cannot be read, or whose address the network policy refuses, is
    skipped, as the crawl skips it: it never refuses the site.
    """
    parts = urlsplit(url)
    pending = list(
        dict.fromkeys([*listed, urlunsplit((parts.scheme, parts.netloc, "/sitemap.xml", "", ""))])
    )
    pages: set[str] = set()
    seen: set[str] = set()
    skipped: list[str] = []
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
        except InvalidURLError as exc:
            skipped.append(f"sitemap {sitemap} skipped: {exc.message}")
            continue
        except (FetchError, ValueError):
            continue
        pages.update(canonical(p) for p in content.pages if scope.reason_out(p) is None)
        pending.extend(content.sitemaps)
    return pages, skipped


async def sample(
    fetcher: HttpFetcher,
    start: str,
    start_links: dict[str, str],
    options: ScrapeOptions,
    rules: RobotsRules,
    agent: str,
    scope: Scope,
    *,
    deadline: float,
    start_seconds: float = DEFAULT_FETCH_SECONDS,
    limit: int = SAMPLE_PAGES,
) -> Estimate:
    """Breadth-first from the start page (already fetched) until ``limit`` pages, the end
    of the site, or ``deadline`` (``time.monotonic()``), one request per 1/rate_limit s."""
    interval = max(1.0 / options.rate_limit, rules.crawl_delay(agent) or 0.0)
    discovered: dict[str, int] = {canonical(start): 0}  # canonical URL -> depth
    frontier: list[tuple[str, str]] = []  # (key, URL as linked), breadth first
    for key, link in sorted(start_links.items()):
        if key not in discovered and options.max_depth >= 1:
            discovered[key] = 1
            frontier.append((key, link))
    fetched = ok = 1  # requests made, and those that gave an HTML page (as the crawl keeps)
    found_after: list[int] = [len(discovered)]  # discovered count after each fetch
    spent = [start_seconds]  # seconds per fetch
    next_start = time.monotonic() + interval
    while frontier and fetched < limit:
        wait = next_start - time.monotonic()
        if time.monotonic() + max(wait, 0) >= deadline:
            break
        key, url = frontier.pop(0)
        if not rules.allowed(url, agent):
            continue  # never fetched by the crawl either: not a page
        if wait > 0:
            await asyncio.sleep(wait)
        next_start = time.monotonic() + interval
        began = time.monotonic()
        fetched += 1
        try:
            async with asyncio.timeout(max(deadline - began, 0.01)):
                page = await fetcher.get(url)
        except (FetchError, InvalidURLError, TimeoutError):
            found_after.append(len(discovered))
            continue
        spent.append(time.monotonic() - began)
        if page.status == 200 and page.is_html and page.body is not None:
            ok += 1
            text, _ = decode_html(page.body, page.content_type)
            links = await asyncio.to_thread(links_in_scope, text, page.final_url, scope)
            depth = discovered[key]
            if depth < options.max_depth:
                for found, link in sorted(links.items()):
                    if found not in discovered:
                        discovered[found] = depth + 1
                        frontier.append((found, link))
        found_after.append(len(discovered))
    typical = sorted(spent)[len(spent) // 2]  # the median
    if not frontier:
        return Estimate(min(ok, options.max_pages), "sample", typical, sampled_pages=fetched)
    # New URLs per request over the second half of the sample: below 1 the site is closing
    # in (a geometric tail), at 1 or more it still grows (a bounded guess). URLs still to
    # visit count as pages at the rate the sample's did (404s and non-HTML do not).
    half = len(found_after) // 2
    visits = len(found_after) - 1 - half
    growth = (found_after[-1] - found_after[half]) / visits if visits > 0 else MAX_GROWTH
    factor = min(growth / (1 - growth), MAX_GROWTH) if growth < 1 else MAX_GROWTH
    pages = round(ok + len(frontier) * (1 + factor) * ok / fetched)
    # Only the start page read (budget spent): the caller falls back to its links.
    basis = "sample, extrapolated" if ok > 1 else "start page"
    pages = max(min(pages, options.max_pages), 1)
    return Estimate(pages, basis, typical, sampled_pages=fetched)


def _start_page_only(
    start: str, start_links: dict[str, str], options: ScrapeOptions, seconds: float
) -> Estimate:
    return Estimate(
        max(min(len(set(start_links) | {canonical(start)}), options.max_pages), 1),
        "start page",
        seconds,
        note="the site answered too slowly to look further than its start page; "
        "the estimate counts the start page's links",
    )


async def estimate_pages(
    fetcher: HttpFetcher,
    start: str,
    start_html: str,
    options: ScrapeOptions,
    rules: RobotsRules,
    agent: str,
    *,
    deadline: float,
    start_seconds: float = DEFAULT_FETCH_SECONDS,
) -> tuple[Estimate, list[str]]:
    """The estimate once robots.txt and the start page are in hand (``start`` is the URL
    it was read from), by ``deadline`` (``time.monotonic()``); plus what was skipped."""
    scope = scope_of(start, options)
    start_links = await asyncio.to_thread(links_in_scope, start_html, start, scope)
    fallback = _start_page_only(start, start_links, options, start_seconds)
    skipped: list[str] = []
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.01)):
            listed, skipped = await sitemap_pages(fetcher, start, rules.sitemaps, scope)
    except TimeoutError:
        estimate = fallback
    else:
        if listed:
            known = listed | set(start_links) | {canonical(start)}
            pages = min(len(known), options.max_pages)
            estimate = Estimate(pages, "sitemap", start_seconds, sitemap_pages=len(listed))
        else:
            estimate = await sample(
                fetcher,
                start,
                start_links,
                options,
                rules,
                agent,
                scope,
                deadline=deadline,
                start_seconds=start_seconds,
            )
            if estimate.basis == "start page":
                estimate = fallback
    return replace(estimate, crawl_delay=rules.crawl_delay(agent) or 0.0), skipped


async def estimate_site(
    url: str,
    options: ScrapeOptions,
    *,
    policy: NetworkPolicy,
    user_agent: str,
    budget: float,
    credentials: Mapping[Origin, Mapping[str, str]] | None = None,
) -> Estimate | None:
    """The estimate at submission: robots.txt, start page, then as above, all within
    ``budget`` seconds. None when robots.txt or the start page cannot be read in time or
    refuse the crawl (the crawl itself will say why)."""
    agent = options.user_agent or user_agent
    deadline = time.monotonic() + budget
    fetcher = HttpFetcher(
        policy,
        FetcherOptions(user_agent=agent, timeout=max(budget, 1), credentials=credentials or {}),
    )
    try:
        async with asyncio.timeout(budget):
            try:
                response = await fetcher.get(robots_url(url), html_only=False)
                rules = rules_from_response(response.status, response.body)
            except FetchError as exc:
                rules = rules_from_response(None, None, exc.message)
            if rules.unreachable or not rules.allowed(url, agent):
                return None
            page = await fetcher.get(url)
        if page.status != 200 or not page.is_html or page.body is None:
            return None
        text, _ = decode_html(page.body, page.content_type)
        estimate, _ = await estimate_pages(
            fetcher,
            page.final_url,
            text,
            options,
            rules,
            agent,
            deadline=deadline,
            start_seconds=page.elapsed,
        )
        return estimate
    except (TimeoutError, FetchError, InvalidURLError):
        return None
    finally:
        await fetcher.aclose()

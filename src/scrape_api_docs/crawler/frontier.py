"""Breadth-first frontier with canonical-URL dedup, link-hop depth and a page budget."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from scrape_api_docs.crawler.scope import Scope
from scrape_api_docs.urls import canonical, page_url, strip_fragment


@dataclass(frozen=True)
class QueuedURL:
    url: str
    key: str
    depth: int
    parent: str | None = None


class Frontier:
    """Decides once per URL whether it is crawled (the crawl loop queues them FIFO: BFS).

    ``depth`` counts link hops from the start URL (the start page is 0). The page budget
    counts URLs admitted for fetching, so an endless calendar still ends the crawl.
    ``hash_routes``: keep ``#/route`` fragments (a rendering crawl, where each is a page
    of a JavaScript app); otherwise every fragment is dropped.
    """

    def __init__(
        self, scope: Scope, *, max_depth: int, max_pages: int, hash_routes: bool = False
    ) -> None:
        self.scope = scope
        self._page_url = page_url if hash_routes else strip_fragment
        self.max_depth = max_depth
        self.max_pages = max_pages
        self._seen: set[str] = set()
        self._raw_seen: set[str] = set()
        self.admitted = 0
        self.skipped: Counter[str] = Counter()

    def admit(self, url: str, depth: int, parent: str | None = None) -> QueuedURL | str:
        """Admit ``url`` for fetching, or say why not ("seen" is not counted as a skip)."""
        url = self._page_url(url)
        # Pages link to the same URLs over and over (navigation): decide each spelling once.
        if url in self._raw_seen:
            return "seen"
        self._raw_seen.add(url)
        key = canonical(url)
        if key in self._seen:
            return "seen"
        self._seen.add(key)
        reason = self.scope.reason_out(url)
        if reason is None and depth > self.max_depth:
            reason = "max depth"
        if reason is None and self.admitted >= self.max_pages:
            reason = "page budget"
        if reason is not None:
            self.skipped[reason] += 1
            return reason
        self.admitted += 1
        return QueuedURL(url, key, depth, parent)

    def mark_seen(self, url: str) -> None:
        """A redirect target is the same page as its source: never fetch it again."""
        self._seen.add(canonical(url))

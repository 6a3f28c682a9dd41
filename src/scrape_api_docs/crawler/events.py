"""What a crawl reports while it runs: counters plus one event per URL outcome.

The CLI draws its progress bar from these; the job system turns them into progress,
logs and WebSocket messages. Listeners are plain callables and must not block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class CrawlStats:
    discovered: int = 0
    """URLs admitted for fetching so far (the start page included)."""
    processed: int = 0
    """Pages fetched (or taken from cache), extracted and stored."""
    cache_hits: int = 0
    cache_misses: int = 0
    """The pages processed by this crawl, by whether they came from the page cache (counted
    as each is processed, with it: never ahead of ``processed``)."""
    revalidated: int = 0
    """Cache hits confirmed by a 304 after the TTL."""
    errors: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    error_reasons: Counter[str] = field(default_factory=Counter)
    page_time_total: float = 0.0
    requests: int = 0
    rendered: int = 0
    """Pages rendered in the browser (JavaScript rendering on)."""
    current_url: str = ""

    @property
    def avg_page_time(self) -> float:
        return self.page_time_total / self.processed if self.processed else 0.0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class CrawlEvent:
    kind: Literal["page", "skipped", "error", "info"]
    url: str
    message: str = ""
    reason: str = ""
    title: str = ""
    from_cache: bool = False


Listener = Callable[[CrawlEvent, CrawlStats], None]

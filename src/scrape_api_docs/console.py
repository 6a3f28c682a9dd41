"""What the command line shows while a crawl runs and when it ends, the same for a crawl
run here (``scrape``) and a server's job followed from here (``jobs watch``): a live bar on
a terminal or one line per page elsewhere, then the summary, the files and the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import click

from scrape_api_docs.crawler.events import CrawlEvent, CrawlStats, Listener

RENDER_FLAG: dict[str, bool | Literal["auto"]] = {"never": False, "always": True, "auto": "auto"}
"""``--render-javascript``'s choices, as the ``render_javascript`` option's values."""
BAD_INPUT_CODES = frozenset({"INVALID_URL", "VALIDATION_ERROR", "INVALID_OPTIONS"})
"""Error codes that mean the user's input was wrong: exit status 2 (anything else: 1)."""


def exit_status(code: str) -> int:
    return 2 if code in BAD_INPUT_CODES else 1


@dataclass(frozen=True)
class Snapshot:
    """Where a crawl stands: pages done of those known, errors, cache hits (None when not
    known, as for a server's job), and what it is doing now."""

    done: int
    total: int
    errors: int
    cache_hits: int | None
    current: str


class ProgressView(Protocol):
    def update(self, snapshot: Snapshot, line: str | None = None) -> None:
        """Show ``snapshot``; ``line`` is a page or error worth a line of its own."""
        ...

    def finish(self) -> None: ...


class PlainProgress:
    """Non-terminal output: one line per page or error, for logs and CI."""

    def update(self, snapshot: Snapshot, line: str | None = None) -> None:
        if line is not None:
            click.echo(f"[{snapshot.done}/{snapshot.total}] {line}", file=sys.stderr)

    def finish(self) -> None:
        pass


class LiveProgress:
    """Terminal output: a live bar with pages done / discovered, errors, cache hits and
    the page (or the operation) of the moment."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]crawling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("crawl", total=1, info="")
        self._progress.start()
        self._done = False

    def update(self, snapshot: Snapshot, line: str | None = None) -> None:
        current = snapshot.current
        current = current if len(current) <= 60 else "…" + current[-59:]
        hits = "" if snapshot.cache_hits is None else f"  cache {snapshot.cache_hits}"
        self._progress.update(
            self._task,
            completed=snapshot.done,
            total=max(snapshot.total, 1),
            info=f"errors {snapshot.errors}{hits}  {current}",
        )

    def finish(self) -> None:
        if not self._done:
            self._done = True
            self._progress.stop()


def progress_view() -> ProgressView:
    return LiveProgress() if sys.stderr.isatty() else PlainProgress()


def crawl_listener(view: ProgressView) -> Listener:
    """A local crawl's events, shown on ``view``."""

    def on_event(event: CrawlEvent, stats: CrawlStats) -> None:
        line = None
        if event.kind == "page":
            line = event.url + (" (cache)" if event.from_cache else "")
        elif event.kind == "error":
            line = f"error: {event.message}"
        snapshot = Snapshot(
            stats.processed, stats.discovered, stats.errors, stats.cache_hits, stats.current_url
        )
        view.update(snapshot, line)

    return on_event


@dataclass(frozen=True)
class CrawlSummary:
    """A finished crawl's figures. ``robots`` and the reasons of errors are known for a
    local crawl only (a job's statistics do not carry them)."""

    processed: int
    errors: int
    cache_hits: int
    cache_misses: int
    seconds: float
    skipped: list[tuple[str, int]] = field(default_factory=list)
    error_reasons: list[tuple[str, int]] = field(default_factory=list)
    rendered: int = 0
    robots: str | None = None

    @classmethod
    def of_crawl(cls, stats: CrawlStats, seconds: float, robots: str) -> CrawlSummary:
        return cls(
            processed=stats.processed,
            errors=stats.errors,
            cache_hits=stats.cache_hits,
            cache_misses=stats.cache_misses,
            seconds=seconds,
            skipped=stats.skipped.most_common(),
            error_reasons=stats.error_reasons.most_common(),
            rendered=stats.rendered,
            robots=robots,
        )


def echo_summary(summary: CrawlSummary) -> None:
    """The crawl's figures; ``seconds`` is the crawl's own time (each export's time is on
    its own line: a long PDF must not read as a slow crawl)."""
    seconds = summary.seconds
    rate = summary.processed / seconds if seconds > 0 else 0.0
    skipped = sum(count for _, count in summary.skipped)
    robots = f", robots.txt {summary.robots}" if summary.robots is not None else ""
    click.echo(
        f"done: {summary.processed} pages crawled in {seconds:.1f}s ({rate:.1f} pages/s), "
        f"{summary.errors} errors, {skipped} skipped, "
        f"cache {summary.cache_hits} hits / {summary.cache_misses} misses{robots}",
        err=True,
    )
    if summary.rendered:
        click.echo(f"  rendered {summary.rendered:>4}  pages in Chromium", err=True)
    for reason, count in _by_count(summary.skipped):
        click.echo(f"  skipped {count:>5}  {reason}", err=True)
    for reason, count in _by_count(summary.error_reasons):
        click.echo(f"  errors  {count:>5}  {reason}", err=True)


def echo_file(fmt: str, where: str, size_bytes: int, seconds: float | None) -> None:
    """One export's line on stdout: format, where it is, its size and build time."""
    took = f", built in {seconds:.1f}s" if seconds is not None else ""
    click.echo(f"{fmt}: {where} ({size(size_bytes)}{took})")


def _by_count(items: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(items, key=lambda item: -item[1])


def size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"

"""``scrape-docs jobs ...``: the command line as a client of a server (any server: this
machine's ``scrape-docs serve`` or a shared one), built on ``scrape_api_docs.client``.

The server and key come from ``--server``/``--api-key`` or ``SCRAPE_DOCS_SERVER``/
``SCRAPE_DOCS_API_KEY``. Not ``SCRAPER_*``: that prefix is the server's own settings
(read from the environment and from ``.env`` by ``serve`` and ``worker``), and a shell
that runs a server must not hand its settings' namespace to a client, or the reverse.

Exit status as for a local crawl: 0 done, 1 failed (the job, the server, the network),
2 bad input, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from scrape_api_docs.console import (
    RENDER_FLAG,
    CrawlSummary,
    ProgressView,
    Snapshot,
    echo_file,
    echo_summary,
    exit_status,
    progress_view,
)

if TYPE_CHECKING:
    from scrape_api_docs.api.models.responses import JobDetail
    from scrape_api_docs.client import Client, RetryNotice
    from scrape_api_docs.jobs.events import JobEvent

F = TypeVar("F", bound=Callable[..., Any])
SERVER_ENV = "SCRAPE_DOCS_SERVER"
API_KEY_ENV = "SCRAPE_DOCS_API_KEY"
STATUSES = ("queued", "running", "completed", "failed", "cancelled")


def server_options(command: F) -> F:
    """``--server`` and ``--api-key`` on every ``jobs`` command (also from the
    environment)."""
    command = click.option(
        "--api-key",
        envvar=API_KEY_ENV,
        default=None,
        metavar="KEY",
        help=f"API key, sent as X-API-Key [env: {API_KEY_ENV}].",
    )(command)
    return click.option(
        "--server",
        envvar=SERVER_ENV,
        default="http://127.0.0.1:8000",
        show_default=True,
        metavar="URL",
        help=f"The server's base URL [env: {SERVER_ENV}].",
    )(command)


def _client(server: str, api_key: str | None) -> Client:
    from scrape_api_docs.client import Client

    return Client(server, api_key=api_key, on_retry=_said_retry)


def _said_retry(notice: RetryNotice) -> None:
    why = "busy" if notice.status == 429 else "unavailable"
    click.echo(
        f"server {why} ({notice.status}); trying again in {notice.wait:g}s "
        f"(attempt {notice.attempt})",
        err=True,
    )


class _ClientCommands(click.Group):
    """What the client raises becomes the command line's one-line error and exit status
    (the client is imported only when a ``jobs`` command runs)."""

    def invoke(self, ctx: click.Context) -> Any:
        from scrape_api_docs.client import APIError, ClientError

        try:
            return super().invoke(ctx)
        except ClientError as exc:
            status = exit_status(exc.code) if isinstance(exc, APIError) else 1
            raise (_BadInput if status == 2 else click.ClickException)(str(exc)) from exc


class _BadInput(click.ClickException):
    """Refused as bad input by the server: exit status 2, as for a local crawl."""

    exit_code = 2


@click.group(cls=_ClientCommands)
def jobs() -> None:
    """Use a server: submit crawls, follow them, download their exports."""


@jobs.command("submit")
@click.argument("url")
@click.option(
    "--format",
    "formats",
    multiple=True,
    metavar="FORMAT",
    help="Export format; repeat for several (default: markdown; the server lists its own).",
)
@click.option("--max-depth", type=int, default=None, help="Link hops from URL.")
@click.option("--max-pages", type=int, default=None, help="Page budget.")
@click.option("--include", "include", multiple=True, help="Glob over the full URL (repeatable).")
@click.option("--exclude", "exclude", multiple=True, help="Glob over the full URL (repeatable).")
@click.option("--rate-limit", type=float, default=None, help="Requests/s per host.")
@click.option("--timeout", type=int, default=None, help="Seconds per request.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the page cache.")
@click.option("--cache-ttl", type=int, default=None, help="Cache freshness, s.")
@click.option("--user-agent", default=None, help="User-Agent header (robots.txt matches it).")
@click.option(
    "--render-javascript",
    type=click.Choice(sorted(RENDER_FLAG)),
    default=None,
    help="Render pages in Chromium: always, or auto (only pages that need JavaScript).",
)
@click.option("--wait-for-selector", default=None, metavar="CSS", help="When rendering.")
@click.option("--priority", type=click.Choice(["low", "normal", "high", "urgent"]), default=None)
@click.option("--webhook-url", default=None, metavar="URL", help="Told when the job ends.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Kept with the job.")
@click.option("--wait", is_flag=True, help="Follow the job to its end, as 'jobs watch'.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="With --wait: download the exports here (a file for one format, else a folder).",
)
@server_options
def submit(
    url: str,
    formats: Sequence[str],
    max_depth: int | None,
    max_pages: int | None,
    include: Sequence[str],
    exclude: Sequence[str],
    rate_limit: float | None,
    timeout: int | None,
    no_cache: bool,
    cache_ttl: int | None,
    user_agent: str | None,
    render_javascript: str | None,
    wait_for_selector: str | None,
    priority: str | None,
    webhook_url: str | None,
    labels: Sequence[str],
    wait: bool,
    output: Path | None,
    server: str,
    api_key: str | None,
) -> None:
    """Submit a crawl of URL; prints the job id (stdout). Options not given take the
    server's defaults."""
    if output is not None and not wait:
        raise click.UsageError("-o needs --wait (or download later: 'jobs download')")
    given: dict[str, Any] = {
        "max_depth": max_depth,
        "max_pages": max_pages,
        "include_patterns": list(include) or None,
        "exclude_patterns": list(exclude) or None,
        "rate_limit": rate_limit,
        "timeout": timeout,
        "cache_enabled": False if no_cache else None,
        "cache_ttl": cache_ttl,
        "user_agent": user_agent,
        "render_javascript": None if render_javascript is None else RENDER_FLAG[render_javascript],
        "wait_for_selector": wait_for_selector,
    }
    options = {name: value for name, value in given.items() if value is not None}
    with _client(server, api_key) as api:
        accepted = api.submit(
            url,
            options=options or None,
            export_formats=list(formats) or None,
            priority=priority,
            webhook_url=webhook_url,
            metadata=_labels(labels),
        )
        click.echo(accepted.job_id)
        if accepted.webhook_secret:
            click.echo(f"webhook secret (shown once): {accepted.webhook_secret}", err=True)
        if not wait:
            estimate = (
                f", about {accepted.estimated_duration:.0f}s"
                if accepted.estimated_duration is not None
                else ""
            )
            click.echo(
                f"{accepted.status}{estimate}; follow it: scrape-docs jobs watch {accepted.job_id}",
                err=True,
            )
            return
        _follow(api, accepted.job_id, output)


@jobs.command("watch")
@click.argument("job_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Download the exports here once done (a file for one format, else a folder).",
)
@server_options
def watch(job_id: str, output: Path | None, server: str, api_key: str | None) -> None:
    """Follow a job to its end with the live progress bar, then its summary. Exit status
    0 when it completed, 1 when it failed or was cancelled. Ctrl-C stops watching only."""
    with _client(server, api_key) as api:
        _follow(api, job_id, output)


@jobs.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--sort",
    type=click.Choice(["created_at", "updated_at", "duration"]),
    default="created_at",
    show_default=True,
)
@click.option("--order", type=click.Choice(["asc", "desc"]), default="desc", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The API's JSON answer.")
@server_options
def list_jobs(
    status: Literal["queued", "running", "completed", "failed", "cancelled"] | None,
    limit: int,
    offset: int,
    sort: str,
    order: str,
    as_json: bool,
    server: str,
    api_key: str | None,
) -> None:
    """List jobs (yours, with API keys), newest first."""
    with _client(server, api_key) as api:
        page = api.list_jobs(status, limit=limit, offset=offset, sort=sort, order=order)
    if as_json:
        click.echo(page.model_dump_json(indent=2))
        return
    for job in page.jobs:
        created = job.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(f"{job.job_id}\t{job.status}\t{job.pages_scraped}\t{created}\t{job.url}")
    total = page.pagination.total
    if not page.jobs:
        click.echo(f"no jobs past offset {offset} (of {total})" if total else "no jobs", err=True)
        return
    more = f"; next: --offset {offset + len(page.jobs)}" if page.pagination.has_more else ""
    click.echo(f"{offset + 1}-{offset + len(page.jobs)} of {total} job(s){more}", err=True)


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON answer.")
@server_options
def show(job_id: str, as_json: bool, server: str, api_key: str | None) -> None:
    """A job's status, progress, statistics, exports and latest log lines."""
    with _client(server, api_key) as api:
        detail = api.get_job(job_id)
    if as_json:
        click.echo(detail.model_dump_json(indent=2))
        return
    stats = detail.statistics
    click.echo(f"job:      {detail.job_id}")
    click.echo(f"url:      {detail.url}")
    click.echo(f"status:   {detail.status} (priority {detail.priority})")
    if detail.progress is not None:
        p = detail.progress
        click.echo(
            f"progress: {p.current_page}/{p.total_pages} ({p.percent_complete:g}%) "
            f"{p.current_operation}"
        )
    click.echo(
        f"pages:    {stats.pages_processed} done, {stats.pages_discovered} found, "
        f"{stats.errors} errors, {stats.pages_skipped} skipped, "
        f"cache {stats.cache_hits} hits / {stats.cache_misses} misses"
    )
    if detail.duration is not None:
        click.echo(f"duration: {detail.duration:.1f}s")
    if detail.error_message:
        click.echo(f"error:    {detail.error_message}")
    for export in detail.exports:
        seconds = stats.export_durations.get(export.format)
        echo_file(export.format, export.filename, export.size_bytes, seconds)
    for entry in detail.logs[-10:]:
        click.echo(f"  {entry.timestamp:%H:%M:%S} {entry.level:<7} {entry.message}")


@jobs.command("cancel")
@click.argument("job_id")
@click.option(
    "--delete", is_flag=True, help="Also a finished job: delete it with its exports, for good."
)
@server_options
def cancel(job_id: str, delete: bool, server: str, api_key: str | None) -> None:
    """Cancel a queued or running job (the pages fetched so far are kept)."""
    with _client(server, api_key) as api:
        if not delete:
            status = api.get_job(job_id).status
            if status in ("completed", "failed", "cancelled"):
                raise click.UsageError(
                    f"job {job_id} is already {status}: nothing to cancel "
                    "(--delete deletes it and its exports)"
                )
        outcome = api.delete_job(job_id)
    click.echo(f"{outcome.job_id}: {outcome.status}: {outcome.message}")


@jobs.command("download")
@click.argument("job_id")
@click.option(
    "--format", "fmt", default="markdown", show_default=True, metavar="FORMAT", help="Which export."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("."),
    help="File, or folder for the server's file name (default: here).",
)
@server_options
def download(job_id: str, fmt: str, output: Path, server: str, api_key: str | None) -> None:
    """Download one export of a job (streamed, checked against its checksum)."""
    with _client(server, api_key) as api:
        path = api.download(job_id, fmt, output)
    click.echo(str(path))


# --- following a job ---------------------------------------------------------------------
class _JobProgress:
    """A job's messages, shown on the same view as a local crawl's events."""

    def __init__(self, view: ProgressView) -> None:
        self.view = view
        self.snapshot = Snapshot(0, 0, 0, None, "")

    def on_event(self, event: JobEvent) -> None:
        if event.type == "progress":
            data = event.data
            self.snapshot = Snapshot(
                data.current_page,
                data.total_pages,
                self.snapshot.errors,
                None,
                data.current_operation,
            )
            self.view.update(self.snapshot)
        elif event.type == "log":
            entry = event.data
            line = entry.message
            if entry.level == "error":
                s = self.snapshot
                self.snapshot = Snapshot(s.done, s.total, s.errors + 1, None, s.current)
                line = f"error: {entry.message}"
            self.view.update(self.snapshot, line)


def _follow(api: Client, job_id: str, output: Path | None) -> None:
    view = progress_view()
    shown = _JobProgress(view)
    try:
        detail = api.wait(job_id, on_event=shown.on_event)
    except KeyboardInterrupt:
        view.finish()
        click.echo(
            f"stopped watching; job {job_id} goes on (stop it: scrape-docs jobs cancel {job_id})",
            err=True,
        )
        raise
    finally:
        view.finish()
    _finished(api, detail, output)


def _finished(api: Client, detail: JobDetail, output: Path | None) -> None:
    """The summary of a local crawl, for the job; then its files; exit 1 unless it
    completed."""
    stats = detail.statistics
    seconds = stats.crawl_duration if stats.crawl_duration is not None else detail.duration
    echo_summary(
        CrawlSummary(
            processed=stats.pages_processed,
            errors=stats.errors,
            cache_hits=stats.cache_hits,
            cache_misses=stats.cache_misses,
            seconds=seconds or 0.0,
            skipped=list(stats.skipped_reasons.items()),
        )
    )
    several = len(detail.exports) > 1  # then -o is a folder (companion files included)
    for export in detail.exports:
        where = f"{api.base_url}{export.url}"
        if output is not None:
            target = output / export.filename if several else output
            where = str(api.download(detail.job_id, export.format, target))
        seconds = stats.export_durations.get(export.format)
        echo_file(export.format, where, export.size_bytes, seconds)
    if detail.duration is not None:
        click.echo(f"total: {detail.duration:.1f}s", err=True)
    if detail.status != "completed":
        why = f": {detail.error_message}" if detail.error_message else ""
        raise click.ClickException(f"job {detail.job_id} {detail.status}{why}")


def _labels(labels: Sequence[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--label {label!r}: write KEY=VALUE")
        out[key] = value
    return out or None

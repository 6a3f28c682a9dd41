"""scrape-docs: the command line.

``scrape-docs scrape URL -o book.md`` crawls a docs site and writes the Markdown book.
Bad input gets one clear line on stderr and exit status 2; a failed crawl exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
from pydantic import ValidationError

from scrape_api_docs import __version__
from scrape_api_docs.console import exit_status
from scrape_api_docs.errors import ScraperError
from scrape_api_docs.exporters.registry import EXPORTERS
from scrape_api_docs.remote_cli import jobs

# Each command imports what it runs in its own body: ``--help``, ``keys`` and ``worker``
# do not load the crawler, the extractors and the exporters that ``scrape`` uses, and
# ``scrape`` does not load the API. Every test that starts a process pays for these.
if TYPE_CHECKING:
    from scrape_api_docs.console import ProgressView
    from scrape_api_docs.crawler.options import CrawlConfig
    from scrape_api_docs.exporters.registry import ExportContext
    from scrape_api_docs.jobs.pipeline import Artifact, Outcome
    from scrape_api_docs.settings import Settings
    from scrape_api_docs.storage.pages import PageStore

FLAG_FOR_FIELD = {
    "max_depth": "--max-depth",
    "max_pages": "--max-pages",
    "rate_limit": "--rate-limit",
    "timeout": "--timeout",
    "cache_ttl": "--cache-ttl",
    "include_patterns": "--include",
    "exclude_patterns": "--exclude",
    "user_agent": "--user-agent",
    "wait_for_selector": "--wait-for-selector",
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scrape-docs")
def cli() -> None:
    """Turn documentation websites into clean Markdown (and more)."""


@cli.command()
@click.argument("url")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="File (one format) or folder."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(sorted(EXPORTERS)),
    help="Export format; repeat for several (default: markdown).",
)
@click.option("--max-depth", type=int, default=10, show_default=True, help="Link hops from URL.")
@click.option("--max-pages", type=int, default=1000, show_default=True, help="Page budget.")
@click.option("--include", "include", multiple=True, help="Glob over the full URL (repeatable).")
@click.option("--exclude", "exclude", multiple=True, help="Glob over the full URL (repeatable).")
@click.option(
    "--rate-limit", type=float, default=2.0, show_default=True, help="Requests/s per host."
)
@click.option("--no-rate-limit", is_flag=True, help="No rate limit (only for sites you own).")
@click.option("--timeout", type=int, default=30, show_default=True, help="Seconds per request.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the page cache.")
@click.option("--cache-ttl", type=int, default=3600, show_default=True, help="Cache freshness, s.")
@click.option("--user-agent", default=None, help="User-Agent header (robots.txt matches it).")
@click.option("--no-robots", is_flag=True, help="Ignore robots.txt (only for sites you own).")
@click.option(
    "--allow-private-networks",
    is_flag=True,
    help="Allow loopback and private addresses (intranet docs, local servers).",
)
@click.option(
    "--render-javascript",
    "render_javascript",
    type=click.Choice(["never", "always", "auto"]),
    default="never",
    show_default=True,
    help="Render pages in Chromium: always, or auto (only pages that need JavaScript).",
)
@click.option(
    "--wait-for-selector",
    default=None,
    metavar="CSS",
    help="When rendering, wait for this CSS selector before reading a page.",
)
@click.option("--title", default=None, help="Book title for the exports (default: the site's).")
@click.option("--author", default=None, help="Author printed in the PDF and EPUB metadata.")
def scrape(
    url: str,
    output: Path | None,
    formats: Sequence[str],
    max_depth: int,
    max_pages: int,
    include: Sequence[str],
    exclude: Sequence[str],
    rate_limit: float,
    no_rate_limit: bool,
    timeout: int,
    no_cache: bool,
    cache_ttl: int,
    user_agent: str | None,
    no_robots: bool,
    allow_private_networks: bool,
    render_javascript: str,
    wait_for_selector: str | None,
    title: str | None,
    author: str | None,
) -> None:
    """Crawl the docs site at URL and write it as a book (Markdown by default)."""
    from scrape_api_docs.console import (
        RENDER_FLAG,
        CrawlSummary,
        echo_file,
        echo_summary,
        progress_view,
    )
    from scrape_api_docs.crawler.options import CrawlConfig, ScrapeOptions
    from scrape_api_docs.logs import configure_logging
    from scrape_api_docs.storage.pages import LocalPageStores

    configure_logging("WARNING")
    settings = _settings()
    update: dict[str, object] = {}
    if allow_private_networks:
        update["allow_private_networks"] = True
    if settings.page_cache_dir is None:
        update["page_cache_dir"] = user_cache_dir()
    settings = settings.model_copy(update=update)
    options = ScrapeOptions(
        max_depth=max_depth,
        max_pages=max_pages,
        include_patterns=list(include) or None,
        exclude_patterns=list(exclude) or None,
        rate_limit=rate_limit,
        timeout=timeout,
        cache_enabled=not no_cache,
        cache_ttl=cache_ttl,
        user_agent=user_agent,
        render_javascript=RENDER_FLAG[render_javascript],
        wait_for_selector=wait_for_selector,
    )
    chosen = list(formats) or ["markdown"]
    config = CrawlConfig.from_options(
        url,
        options,
        user_agent=settings.user_agent,
        rate_limit=None if no_rate_limit else options.rate_limit,
        respect_robots=not no_robots,
        max_body_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
        render_images=bool({"pdf", "epub"} & set(chosen)),
    )
    target = output or Path(_default_name(url, chosen))
    _check_output(target, folder=len(chosen) > 1)
    progress = progress_view()
    started = time.monotonic()
    metadata = {k: v for k, v in (("title", title), ("author", author)) if v}
    with tempfile.TemporaryDirectory(prefix="scrape-docs-") as tmp:
        store = LocalPageStores(Path(tmp)).open("scrape")  # a store of its own, in tmp
        try:
            outcome = asyncio.run(
                _crawl_and_write(
                    settings, config, store, chosen, target, metadata, progress, Path(tmp)
                )
            )
        finally:
            progress.finish()
            store.close()
    result, artifacts = outcome.crawl, outcome.exports
    echo_summary(CrawlSummary.of_crawl(result.stats, result.duration, result.robots))
    for artifact in artifacts:
        echo_file(artifact.format, str(artifact.path), artifact.size_bytes, artifact.seconds)
    click.echo(f"total: {time.monotonic() - started:.1f}s", err=True)


class FileExports:
    """The command line's export step: each format written to ``target`` (a file, or a
    folder for several) in a thread, since exporters block; nothing is recorded."""

    def __init__(
        self, store: PageStore, start_url: str, target: Path, context: ExportContext
    ) -> None:
        self.store, self.start_url, self.target, self.context = store, start_url, target, context

    async def build(self, formats: Sequence[str]) -> list[Artifact]:
        from scrape_api_docs.jobs.pipeline import export_all

        return await asyncio.to_thread(
            export_all, self.store, self.start_url, list(formats), self.target, self.context
        )


async def _crawl_and_write(
    settings: Settings,
    config: CrawlConfig,
    store: PageStore,
    formats: list[str],
    target: Path,
    metadata: dict[str, str],
    progress: ProgressView,
    work_dir: Path,
) -> Outcome[Artifact]:
    """The pipeline (``crawl_then_export``) with the builder's crawl parts: extraction
    processes, this machine's page cache, and a browser only when pages are rendered."""
    from scrape_api_docs.console import crawl_listener
    from scrape_api_docs.jobs.parts import build_crawl_parts
    from scrape_api_docs.jobs.pipeline import crawl_then_export, export_context

    async with build_crawl_parts(
        settings, processes=True, render=config.render_javascript != "never"
    ) as parts:
        context = export_context(
            settings, work_dir / "images", {"metadata": metadata}, parts.policy
        )
        return await crawl_then_export(
            config,
            parts=parts,
            store=store,
            formats=formats,
            exports=FileExports(store, config.start_url, target, context),
            listener=crawl_listener(progress),
            on_crawled=lambda _: progress.finish(),
        )


cli.add_command(jobs)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Jobs run at once.")
@click.option(
    "--shutdown-timeout",
    type=click.IntRange(1, 600),
    default=5,
    show_default=True,
    help="On SIGTERM, seconds to let requests in flight finish before they are cut off.",
)
@click.option(
    "--no-workers",
    is_flag=True,
    help="Serve the API only; 'scrape-docs worker' processes on the same data run the jobs.",
)
def serve(
    host: str, port: int, workers: int | None, shutdown_timeout: int, no_workers: bool
) -> None:
    """Serve the REST API (and run its job workers) on embedded defaults.

    SIGTERM or Ctrl-C: stop accepting connections, close WebSockets (1012), give requests in
    flight ``--shutdown-timeout`` seconds (a /scrape/sync crawl can take minutes), then hand
    running jobs back to the queue; the next start takes them up again."""
    import ipaddress

    import uvicorn

    from scrape_api_docs.api.main import create_app
    from scrape_api_docs.keys import active_keys
    from scrape_api_docs.logs import configure_logging

    settings = _service_settings()
    if workers:
        settings = settings.model_copy(update={"workers": workers})
    if no_workers:
        settings = settings.model_copy(update={"in_process_workers": False})
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if not loopback and asyncio.run(active_keys(settings)) == 0:
        raise click.UsageError(
            f"refusing to listen on {host} without an API key: anyone could use the service. "
            "Create one with 'scrape-docs keys create NAME', or listen on 127.0.0.1"
        )
    configure_logging()
    _exit_normally_on_sigterm()
    click.echo(
        f"serving on http://{host}:{port} (docs at /api/docs), data in {settings.data_dir}",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=shutdown_timeout,
        # X-Forwarded-For only from the proxies named in SCRAPER_TRUSTED_PROXIES (uvicorn's
        # own default believes 127.0.0.1, so any local client could pick its address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies),
    )


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs run at once (default: SCRAPER_WORKERS, 2).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port; "
    "default: SCRAPER_WORKER_METRICS_PORT, else not served).",
)
@click.option(
    "--metrics-host",
    default=None,
    help="Address the metrics listen on (default: SCRAPER_WORKER_METRICS_HOST, 127.0.0.1).",
)
def worker(concurrency: int | None, metrics_port: int | None, metrics_host: str | None) -> None:
    """Run job workers only (no API), on the same data folder and database as
    'scrape-docs serve --no-workers'. SIGTERM or Ctrl-C: no new job is taken, and the
    worker exits within SCRAPER_WORKER_GRACE_SECONDS (20): running jobs finish meanwhile,
    or are handed back to the queue for another worker to resume."""
    from scrape_api_docs.logs import configure_logging

    settings = _service_settings()
    updates: dict[str, object] = {}
    if metrics_port is not None:
        updates["worker_metrics_port"] = metrics_port
    if metrics_host:
        updates["worker_metrics_host"] = metrics_host
    settings = settings.model_copy(update=updates)
    configure_logging()
    click.echo(f"worker on {settings.data_dir}", err=True)
    asyncio.run(_run_workers(settings, concurrency or settings.workers))


async def _run_workers(settings: Settings, concurrency: int) -> None:
    from scrape_api_docs.jobs.job_runner import drain_seconds
    from scrape_api_docs.jobs.metrics import refresh_from_database, serve_metrics
    from scrape_api_docs.jobs.parts import job_system

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with job_system(settings, concurrency, service="worker") as pool:
        ctx = pool.ctx

        async def exposition() -> bytes:
            await refresh_from_database(ctx.metrics, ctx.sessions)
            ctx.metrics.worker_slots.set(pool.concurrency)
            ctx.metrics.worker_busy.set(pool.busy)
            return ctx.metrics.exposition()

        server = None
        if settings.worker_metrics_port is not None:
            server = await serve_metrics(
                settings.worker_metrics_host, settings.worker_metrics_port, exposition
            )
            host, port = server.sockets[0].getsockname()[:2]
            click.echo(f"metrics on http://{host}:{port}/metrics", err=True)
        pool.start()
        click.echo(f"{concurrency} worker(s) running; {pool.requeued} job(s) taken back", err=True)
        try:
            await stop.wait()
            grace = settings.worker_grace_seconds
            click.echo(
                f"stopping: no new jobs; {pool.busy} running, handed back unless done within "
                f"{drain_seconds(grace):g}s (exit within {grace:g}s)",
                err=True,
            )
            await pool.stop(grace)
        finally:
            if server is not None:
                server.close()


def _exit_normally_on_sigterm() -> None:
    """uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler
    it found installed. The default one kills the process before the interpreter's exit
    handlers run: the extraction pool's semaphores are never released (the resource
    tracker reports them leaked). With this handler the process exits normally, status 0."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


@cli.group()
def keys() -> None:
    """Manage API keys (with at least one key, every request needs one)."""


@keys.command("create")
@click.argument("name")
def keys_create(name: str) -> None:
    """Create a key; the key and its webhook signing secret are shown once."""
    from scrape_api_docs.keys import create_key

    new = asyncio.run(create_key(_service_settings(), name))
    click.echo(f"key id:         {new.key_id}")
    click.echo(f"api key:        {new.key}")
    click.echo(f"webhook secret: {new.webhook_secret}")
    click.echo(
        "Store both now: they are not shown again (only a hash of the key is kept).", err=True
    )


@keys.command("list")
def keys_list() -> None:
    """List keys (names and ids; never the keys)."""
    from scrape_api_docs.keys import list_keys

    for record in asyncio.run(list_keys(_service_settings())):
        state = "revoked" if record.revoked_at else "active"
        click.echo(f"{record.id}\t{record.name}\t{state}\t{record.created_at:%Y-%m-%d}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id: its requests get 401 from then on. Revoking the last key keeps
    the server closed; 'keys create' or 'keys delete' are the ways back."""
    from scrape_api_docs.keys import revoke_key

    if not asyncio.run(revoke_key(_service_settings(), key_id)):
        raise click.UsageError(f"no key with id {key_id!r} (see 'scrape-docs keys list')")
    click.echo(f"revoked {key_id}")


@keys.command("delete")
@click.argument("key_id")
def keys_delete(key_id: str) -> None:
    """Delete a revoked key for good. Its jobs, credentials and exports go back to the
    keyless owner; with no key left the server is keyless again (loopback clients only)."""
    from scrape_api_docs.keys import KeyStillActive, delete_key, keys_on_record

    settings = _service_settings()
    try:
        found, moved = asyncio.run(delete_key(settings, key_id))
    except KeyStillActive:
        raise click.UsageError(
            f"key {key_id} is still active; revoke it first ('scrape-docs keys revoke {key_id}')"
        ) from None
    if not found:
        raise click.UsageError(f"no key with id {key_id!r} (see 'scrape-docs keys list')")
    click.echo(f"deleted {key_id}; {moved} job(s) now belong to the keyless owner")
    if asyncio.run(keys_on_record(settings)) == 0:
        click.echo(
            "No key is left: the server is keyless again and answers only clients on this "
            "machine, without a key. 'scrape-docs keys create NAME' makes a new one.",
            err=True,
        )


def _service_settings() -> Settings:
    """Settings of the service, with its data folder made (SQLite cannot create folders)."""
    settings = _settings()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(
            f"cannot create the data folder {settings.data_dir}: {exc.strerror or exc}"
        ) from exc
    return settings


def user_cache_dir() -> Path:
    """The command line's page cache: ``$XDG_CACHE_HOME/scrape-api-docs``, by default
    ``~/.cache/scrape-api-docs`` (never the current folder)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "scrape-api-docs"


def _check_output(target: Path, *, folder: bool) -> None:
    """Refuse, before crawling, an output the exports could not be written to: a file
    where a folder is needed or the reverse, or a place this user cannot write."""
    if folder and target.exists() and not target.is_dir():
        raise click.UsageError(f"-o {target}: is a file; several formats need a folder")
    if not folder and target.is_dir():
        raise click.UsageError(f"-o {target}: is a folder; give a file name for one format")
    existing = target if folder else target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise click.UsageError(f"-o {target}: {existing} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".scrape-docs-"):
            pass
    except OSError as exc:
        raise click.UsageError(
            f"-o {target}: cannot write in {existing} ({exc.strerror or exc}); "
            "choose a folder you can write to"
        ) from exc


def _default_name(url: str, formats: list[str]) -> str:
    host = (urlsplit(url).hostname or "docs").replace(".", "-")
    return f"{host}{EXPORTERS[formats[0]].extension}" if len(formats) == 1 else f"{host}-docs"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _settings() -> Settings:
    """The SCRAPER_* settings; one that is invalid is bad input, named as it is set."""
    from scrape_api_docs.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "SCRAPER_" + str(error["loc"][0]).upper() if error["loc"] else "a SCRAPER_ setting"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise click.UsageError(f"{name}: {_one_line(message)}") from exc


def _first_validation_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "options"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{FLAG_FOR_FIELD.get(field, field)}: {message}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: errors become one line on stderr, never a traceback."""
    try:
        # prog_name: "scrape-docs" however it was started (python -m ...), so help and
        # shell completion (_SCRAPE_DOCS_COMPLETE) name the command the user types.
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="scrape-docs",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        return 130
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()} (see --help)", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except ValidationError as exc:
        click.echo(f"error: {_first_validation_problem(exc)}", err=True)
        return 2
    except ScraperError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        return exit_status(exc.code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except OSError as exc:  # a file or folder that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{_one_line(exc.strerror or str(exc))}", err=True)
        return 1
    except Exception as exc:  # a bug: still one line, with what to quote when reporting
        click.echo(f"error: internal error ({type(exc).__name__}: {_one_line(str(exc))})", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

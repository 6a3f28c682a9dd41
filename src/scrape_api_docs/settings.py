"""Settings: one pydantic-settings class, read once at start-up and passed down.

Every setting is an environment variable prefixed ``SCRAPER_`` and may also come from a
``.env`` file in the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scrape_api_docs.headers import header_safe_user_agent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCRAPER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("data")
    """Where the service's database, page cache, artifacts and key file live."""
    page_cache_dir: Path | None = None
    """The page cache's folder; default: ``<data_dir>/cache`` for the service, the user's
    cache folder (``$XDG_CACHE_HOME/scrape-api-docs``) for the command line."""

    allow_private_networks: bool = False
    """Let the crawler reach loopback and private addresses (tests, intranet docs)."""

    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names or CIDR networks exempt from the private-address check (comma-separated)."""

    user_agent: str = "scrape-api-docs/0.1"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=10, ge=0, le=20)
    extract_processes: int = Field(default=0, ge=0, le=64)
    """Processes that extract and convert pages; 0 = one per CPU (at most 4)."""

    # --- service (scrape-docs serve) ---------------------------------------------------
    database_url: str | None = None
    """SQLAlchemy async URL; default: a SQLite file in the data folder."""
    workers: int = Field(default=2, ge=1, le=64)
    """Jobs run at once by the in-process worker pool."""
    in_process_workers: bool = True
    """Whether ``scrape-docs serve`` runs job workers too (``--no-workers``: the API only;
    ``scrape-docs worker`` processes on the same database run the jobs)."""
    job_lease_seconds: float = Field(default=30.0, ge=3, le=3600)
    """How long a worker holds a running job without a heartbeat (it beats every second);
    past it, another worker takes the job back."""
    worker_grace_seconds: float = Field(default=20.0, ge=1, le=3600)
    """On SIGTERM (or Ctrl-C) ``scrape-docs worker`` takes no new job and exits within
    this many seconds: its running jobs may finish in the first part of it, and those still
    running then are handed back to the queue (``queued`` again, the attempt not counted),
    for another worker to resume from their stored pages. Keep it under the platform's own
    limit (Kubernetes' ``terminationGracePeriodSeconds``)."""
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Where ``scrape-docs worker`` serves its Prometheus metrics (``GET /metrics``; the
    API serves its own at ``/api/v1/system/metrics``); None: not served."""
    worker_metrics_host: str = "127.0.0.1"
    """The address the worker's metrics listen on (``0.0.0.0`` in a container)."""
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    """Times a job is claimed before one whose worker keeps dying (its lease expiring each
    time) ends ``failed`` instead of going back on the queue."""
    queue_prune_hours: int = Field(default=24, ge=0, le=24 * 365)
    """On PostgreSQL, the queue library's rows of finished work (procrastinate's jobs and
    their events: succeeded, failed, aborted) are deleted this many hours after they ended,
    by each worker process every few minutes; the service's jobs table stays the record."""
    queue_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    """How often idle workers look for jobs enqueued by another process (work enqueued in
    their own process wakes them at once)."""
    max_queued_jobs: int = Field(default=1000, ge=1)
    """Past this many queued jobs, submissions get 429."""
    sync_max_pages: int = Field(default=50, ge=1, le=1000)
    sync_timeout: float = Field(default=120.0, ge=5)
    sync_concurrency: int = Field(default=2, ge=1, le=64)
    """Synchronous scrapes (POST /scrape/sync) run at once; past it, 429 with Retry-After."""
    job_log_limit: int = Field(default=500, ge=10)
    min_free_disk_mb: int = Field(default=200, ge=0)
    """Below this much free space on the data folder's disk, new scrapes and conversions
    get 507 and the health check says degraded (0: no check)."""
    estimate_seconds: float = Field(default=3.0, ge=0, le=30)
    """Seconds ``POST /scrape`` may spend estimating the site's size (its sitemap, else a
    sample of up to 20 pages at the job's rate limit) for ``estimated_duration``. 0: no
    estimate (null), and the site sees no request before the job runs."""
    requests_per_minute: int = Field(default=600, ge=1)
    """API rate limit per key (or per client address without keys)."""
    view_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    """Longest a job poll or job list is answered from memory (0: never). A commit made in
    this process invalidates at once; this bounds only what workers elsewhere wrote."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins whose pages may call the API cross-origin, once API keys exist
    (comma-separated, ``*`` for any). Without keys no cross-origin request is answered."""
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body the API reads; past it, 413 while the body streams."""
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses of reverse proxies whose ``X-Forwarded-For`` is believed (comma-separated;
    none by default: rate limits and logs use the connection's peer address)."""
    server_names: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names the API answers to besides localhost and the address it listens on
    (comma-separated, ``*`` for any). Enforced while no API key exists, and on loopback."""
    metrics_require_key: bool = False
    """Once API keys exist, ``/api/v1/system/metrics`` needs one too."""
    encryption_key: str | None = None
    """Fernet key(s) for credentials at rest, comma-separated, newest first; default: a key
    generated once into ``<data_dir>/secret.key`` (mode 0600)."""
    browser_path: str | None = None
    """Chromium for JavaScript rendering and PDF; default: the first chromium on PATH."""
    render_pages_open: int = Field(default=6, ge=1, le=64)
    """Pages the browser renders at once (all jobs of this process together)."""
    browser_memory_limit_mb: int = Field(default=2048, ge=128)
    """Restart the browser (between pages) when its processes use more than this (PSS)."""

    # --- scale-out (several processes or machines) --------------------------------------
    redis_url: SecretStr | None = None
    """``redis://[:password@]host:port/db``: the event bus, the per-host crawl politeness,
    the API's per-key limits and the page cache are shared through this Redis (default:
    each process keeps its own). A secret: it may hold a password."""
    redis_prefix: str = Field(default="scrape", min_length=1, max_length=64)
    """Prefix of every Redis key and channel (several deployments on one Redis)."""
    redis_page_cache_days: float = Field(default=30.0, gt=0)
    """A page cached in Redis expires after this many days unused (the embedded cache keeps
    pages until its file is removed; Redis memory is bounded by this and its own
    ``maxmemory`` policy)."""
    artifact_url: str | None = Field(default=None, pattern=r"^s3://[^/]+(/.*)?$")
    """``s3://bucket/prefix``: export files live in S3-compatible object storage (default:
    files under ``<data_dir>/jobs``)."""
    s3_endpoint_url: str | None = None
    """The S3 endpoint (MinIO, moto, another provider); default: AWS for the region. An
    ``http://`` endpoint is allowed (a store on the local network)."""
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    """Credentials; default: the environment's (``AWS_*`` variables, instance role)."""

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str) -> str:
        return header_safe_user_agent(value)

    @field_validator(
        "allowed_hosts", "cors_origins", "trusted_proxies", "server_names", mode="before"
    )
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def cache_dir(self) -> Path:
        return self.page_cache_dir or self.data_dir / "cache"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def effective_database_url(self) -> str:
        return (
            self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'scraper.db').resolve()}"
        )

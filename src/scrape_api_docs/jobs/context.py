"""What the job system needs, built once at start-up by the builder (``jobs/parts.py``)
and passed down (no globals)."""

from __future__ import annotations

import asyncio
import shutil
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.crawler.ratelimit import HostLimits
from scrape_api_docs.jobs.events import EventBus
from scrape_api_docs.jobs.metrics import Metrics
from scrape_api_docs.jobs.pipeline import CrawlParts
from scrape_api_docs.jobs.queue import JobQueue, new_worker_id
from scrape_api_docs.jobs.webhooks import WebhookSender
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.artifacts import ArtifactStore
from scrape_api_docs.storage.changes import CommitWatch
from scrape_api_docs.storage.db import Reader
from scrape_api_docs.storage.pages import PageStores
from scrape_api_docs.storage.secrets import Cipher

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from scrape_api_docs.crawler.render import Renderer


@dataclass
class JobContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    read: Reader
    """Read-only queries in one thread hop (the job polling paths)."""
    cipher: Cipher
    queue: JobQueue
    bus: EventBus
    webhooks: WebhookSender
    artifacts: ArtifactStore
    """Where export files live, by key (``<job_id>/<filename>``)."""
    pages: PageStores
    """Every job's page store, opened by job id."""
    crawl: CrawlParts
    """What every crawl of this process shares: policy, politeness, page cache, browser,
    extraction processes."""
    commits: CommitWatch
    """Versions of the jobs this process's commits wrote (announced on ``bus``)."""
    metrics: Metrics = field(default_factory=Metrics)
    started_at: float = field(default_factory=time.time)
    active_jobs: dict[str, Any] = field(default_factory=dict)
    """job id -> the asyncio task running it (cancellation goes through here)."""
    cancel_requested: set[str] = field(default_factory=set)
    background: set[Any] = field(default_factory=set)
    """Fire-and-forget tasks (webhook deliveries, conversions), kept referenced."""
    """Jobs a user cancelled (as opposed to tasks stopped by a shutdown)."""
    sync_running: int = 0
    """Synchronous scrapes in progress (bounded by ``settings.sync_concurrency``)."""
    worker_id: str = field(default_factory=new_worker_id)
    """Who holds the jobs this process runs (their leases name it)."""

    @property
    def policy(self) -> NetworkPolicy:
        return self.crawl.policy

    @property
    def executor(self) -> Executor | None:
        return self.crawl.executor

    @property
    def renderer(self) -> Renderer | None:
        """This process's browser for JavaScript rendering (started on first use)."""
        return self.crawl.renderer

    @property
    def host_limits(self) -> HostLimits:
        """The per-host politeness every crawl of this process shares."""
        assert self.crawl.host_limits is not None  # the builder's job parts always share
        return self.crawl.host_limits

    @property
    def tracer(self) -> Tracer | None:
        """OpenTelemetry's tracer when tracing is on (``tracing.build_tracing``), else None:
        no spans at all."""
        return self.crawl.tracer

    def job_dir(self, job_id: str) -> Path:
        """The job's working folder on this machine (staging of exports, fetched images);
        its pages and exports are reached through ``pages`` and ``artifacts``."""
        return self.settings.jobs_dir / job_id

    async def remove_job_files(self, job_id: str) -> None:
        """Everything stored for the job: exports, pages, and its working folder."""
        await self.artifacts.delete_job(job_id)
        await asyncio.to_thread(self.pages.delete, job_id)
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)

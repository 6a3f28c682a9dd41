"""Job events: one model per message kind, and the bus that carries them.

The WebSocket stream sends these messages as they are (``{"type": ..., "data": ...}``), and
``GET /jobs/{id}`` answers with the same parts (``JobProgress``, ``ExportInfo``,
``LogEntry``, ``JobStatistics``): each shape is written here once.

The bus has two channels:

- per job: ``await publish(job_id, event)``; ``subscribe(job_id)`` is an async iterator
  (and context manager) of that job's events, in the order they were published. A slow
  subscriber never holds a job back: past ``queue_size`` waiting events it loses the
  oldest progress message (then the oldest log line); ``complete`` is never dropped.
- changes: ``announce_changes(job_ids)`` says those jobs' stored rows changed (called by
  the commit hook, ``storage/changes.py``), and every ``on_changes`` listener hears it
  (the job-view cache, which then reads again). Embedded, listeners hear it before
  ``announce_changes`` returns; a bus between processes delivers other processes' commits.

``InMemoryBus`` is the one-process implementation, ``RedisBus`` (``bus_redis.py``) the one
between processes; ``build_event_bus(settings)`` picks one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Annotated, Any, Literal, Protocol, Self

import structlog
from pydantic import BaseModel, Field, TypeAdapter

from scrape_api_docs.settings import Settings

log = structlog.get_logger("events")
JobStatusName = Literal["queued", "running", "completed", "failed", "cancelled"]


# --- the shapes (also parts of the job detail; no docstrings: they would enter OpenAPI) ---
class JobProgress(BaseModel):
    current_page: int = 0
    total_pages: int = 0
    percent_complete: float = 0.0
    current_operation: str = ""


class JobStatistics(BaseModel):
    pages_discovered: int = 0
    pages_processed: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    errors: int = 0
    avg_page_time: float = 0.0
    pages_skipped: int = 0
    skipped_reasons: dict[str, int] = Field(default_factory=dict)
    crawl_duration: float | None = Field(
        default=None,
        description="Seconds the crawl took (the job's duration includes the exports too); "
        "the crawl's rate is pages_processed / crawl_duration. Null until the crawl ends.",
    )
    export_durations: dict[str, float] = Field(
        default_factory=dict, description="Seconds each export took, by format, once built."
    )


class ExportInfo(BaseModel):
    format: str
    filename: str
    url: str
    size_bytes: int
    checksum: str
    content_type: str
    created_at: datetime


class LogEntry(BaseModel):
    timestamp: datetime
    level: str
    message: str


# --- the messages ------------------------------------------------------------------------
class ProgressData(JobProgress):
    job_id: str
    status: JobStatusName


class CompleteData(BaseModel):
    job_id: str
    status: JobStatusName
    exports: list[ExportInfo] = Field(default_factory=list)
    error_message: str | None = None


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    data: ProgressData


class LogEvent(BaseModel):
    type: Literal["log"] = "log"
    data: LogEntry


class CompleteEvent(BaseModel):
    type: Literal["complete"] = "complete"
    data: CompleteData


JobEvent = ProgressEvent | LogEvent | CompleteEvent
_EVENTS: TypeAdapter[JobEvent] = TypeAdapter(Annotated[JobEvent, Field(discriminator="type")])


def parse_event(raw: str | bytes | dict[str, Any]) -> JobEvent:
    """A message back from its JSON (or a dict of it): the typed event it was."""
    if isinstance(raw, dict):
        return _EVENTS.validate_python(raw)
    return _EVENTS.validate_json(raw)


def event_json(event: JobEvent) -> dict[str, Any]:
    """The message as the WebSocket sends it."""
    return event.model_dump(mode="json")


# --- the interface -----------------------------------------------------------------------
class Subscription(Protocol):
    """One subscriber's events of one job, in order; closing it unsubscribes."""

    def __aiter__(self) -> AsyncIterator[JobEvent]: ...

    async def __anext__(self) -> JobEvent: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def close(self) -> None: ...

    async def ready(self) -> None:
        """Returns once nothing published from now on can be missed (at once in one
        process; a bus between processes waits for its server to confirm, boundedly)."""
        ...


ChangeListener = Callable[[frozenset[str]], None]


class EventBus(Protocol):
    async def publish(self, job_id: str, event: JobEvent) -> None: ...

    def subscribe(self, job_id: str) -> Subscription:
        """Subscribed at once (before the first ``await``): nothing published after this
        call is missed, even before iteration starts."""
        ...

    def announce_changes(self, job_ids: Iterable[str]) -> None:
        """Those jobs' stored state changed (called from a commit hook: never blocks)."""
        ...

    def on_changes(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` with the ids of every change announced; returns the function
        that stops it."""
        ...

    async def aclose(self) -> None:
        """Let go of what the bus holds (connections, tasks); subscriptions end."""
        ...


# --- embedded ----------------------------------------------------------------------------
class _Pending:
    """Events waiting, at most ``size``: when full, the oldest progress goes first, then
    the oldest log line; ``complete`` stays."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[JobEvent] = deque()

    def add(self, event: JobEvent) -> None:
        if len(self.items) >= self.size:
            self._drop_one()
        self.items.append(event)

    def _drop_one(self) -> None:
        for kind in (ProgressEvent, LogEvent):
            for index, item in enumerate(self.items):
                if isinstance(item, kind):
                    del self.items[index]
                    return
        self.items.popleft()  # only ``complete`` messages: cannot happen for one job


class _MemorySubscription:
    def __init__(self, bus: InMemoryBus, job_id: str, size: int) -> None:
        self._bus = bus
        self.job_id = job_id
        self._pending = _Pending(size)
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, event: JobEvent) -> None:
        self._pending.add(event)
        self._ready.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> JobEvent:
        # Cancelling a waiting ``__anext__`` loses nothing: events leave only when returned.
        while not self._pending.items:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._pending.items.popleft()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._remove(self)
            self._ready.set()

    async def ready(self) -> None:
        return None


class InMemoryBus:
    """One process; slow subscribers lose old progress messages, never block a job."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: dict[str, set[_MemorySubscription]] = defaultdict(set)
        self._size = queue_size
        self._listeners: list[ChangeListener] = []

    async def publish(self, job_id: str, event: JobEvent) -> None:
        for subscription in list(self._subscribers.get(job_id, ())):
            subscription.offer(event)

    def subscribe(self, job_id: str) -> _MemorySubscription:
        subscription = _MemorySubscription(self, job_id, self._size)
        self._subscribers[job_id].add(subscription)
        return subscription

    def _remove(self, subscription: _MemorySubscription) -> None:
        subscribers = self._subscribers.get(subscription.job_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.job_id]

    def subscribers(self, job_id: str) -> int:
        return len(self._subscribers.get(job_id, ()))

    def announce_changes(self, job_ids: Iterable[str]) -> None:
        changed = frozenset(job_ids)
        for listener in list(self._listeners):
            listener(changed)

    def on_changes(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    async def aclose(self) -> None:
        return None


def build_event_bus(settings: Settings) -> EventBus:
    """The bus ``settings`` asks for: Redis pub/sub between processes when
    ``SCRAPER_REDIS_URL`` is set (``jobs/bus_redis.py``), else this process's own."""
    if settings.redis_url is not None:
        from scrape_api_docs.jobs.bus_redis import RedisBus
        from scrape_api_docs.redis_link import connect

        return RedisBus(connect(settings), settings.redis_prefix)
    return InMemoryBus()


# --- a job's side ------------------------------------------------------------------------
class EventSender:
    """Publishes one job's events in order without making the job wait: ``send`` is
    synchronous (crawl listeners are), a task drains them through ``bus.publish``, and
    ``flush`` waits until all sent so far are published. At most ``size`` wait (the
    oldest progress goes first if a bus falls that far behind)."""

    def __init__(self, bus: EventBus, job_id: str, size: int = 10_000) -> None:
        self.bus = bus
        self.job_id = job_id
        self._pending = _Pending(size)
        self._task: asyncio.Task[None] | None = None

    def send(self, event: JobEvent) -> None:
        self._pending.add(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending.items:
            event = self._pending.items.popleft()
            try:
                await self.bus.publish(self.job_id, event)
            except Exception:  # a bus that fails loses a message, never the job
                log.warning("event_not_published", job_id=self.job_id, kind=event.type)

    async def flush(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

"""The event bus between processes: Redis pub/sub (``SCRAPER_REDIS_URL``).

Each job's events go to the channel ``<prefix>:events:<job_id>`` as their JSON, published
one after the other by the job's ``EventSender`` (so every subscriber sees them in the
order published, as embedded). A process subscribes to a job's channel while it has local
subscribers; one task reads the process's pub/sub connection and hands each event to the
local subscribers, whose queues drop old progress first exactly as ``InMemoryBus`` does
(the local fan-out *is* an ``InMemoryBus``).

Changes (``announce_changes``) reach this process's listeners before the call returns, as
embedded, and every other process through ``<prefix>:changes`` (each message names its
origin, so a process never hears its own twice).

Pub/sub keeps nothing for a subscriber not yet subscribed: ``subscribe`` sends SUBSCRIBE at
once, ``Subscription.ready()`` waits until Redis confirmed it, and a publish from this
process waits for its own pending subscriptions first. When Redis goes away the reader
reconnects by itself (backing off up to 2 s) and subscribes again; events published
meanwhile are lost (a WebSocket reads the job's state when it connects, and ``complete``
is also in the job's row).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable

import structlog
from redis.asyncio.client import PubSub

from scrape_api_docs.jobs.events import (
    ChangeListener,
    InMemoryBus,
    JobEvent,
    _MemorySubscription,
    parse_event,
)
from scrape_api_docs.redis_link import Redis, RedisError

log = structlog.get_logger("events")
READY_WAIT = 2.0
"""Longest ``ready()`` or a publish waits for a subscription Redis has not confirmed (Redis
away: they go on rather than hang)."""


class _RedisSubscription(_MemorySubscription):
    """Hears its channel's messages once Redis confirmed a SUBSCRIBE sent after it was
    made (``armed``): anything earlier in the connection was published before it."""

    def __init__(self, bus: _LocalFanout, job_id: str, size: int) -> None:
        super().__init__(bus, job_id, size)
        self.armed = asyncio.Event()

    async def ready(self) -> None:
        if not self.armed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_WAIT):
                    await self.armed.wait()


class _LocalFanout(InMemoryBus):
    """This process's subscribers; tells the Redis bus when a job has none left."""

    def __init__(self, owner: RedisBus, queue_size: int) -> None:
        super().__init__(queue_size)
        self.owner = owner

    def subscribe(self, job_id: str) -> _RedisSubscription:
        subscription = _RedisSubscription(self, job_id, self._size)
        self._subscribers[job_id].add(subscription)
        self.owner._want(subscription)
        return subscription

    def _remove(self, subscription: _MemorySubscription) -> None:
        super()._remove(subscription)
        if not self.subscribers(subscription.job_id):
            self.owner._unwant(subscription.job_id)

    def of(self, job_id: str) -> list[_RedisSubscription]:
        return [s for s in self._subscribers.get(job_id, ()) if isinstance(s, _RedisSubscription)]

    def offer(self, job_id: str, event: JobEvent) -> None:
        for subscription in self.of(job_id):
            if subscription.armed.is_set():
                subscription.offer(event)


Batch = list[_RedisSubscription]


class RedisBus:
    """``EventBus`` over Redis pub/sub; ``aclose()`` when done."""

    def __init__(self, client: Redis, prefix: str, queue_size: int = 1000) -> None:
        self.client = client
        self.prefix = prefix
        self.origin = uuid.uuid4().hex
        self.local = _LocalFanout(self, queue_size)
        self._listeners: list[ChangeListener] = []
        self._changes = f"{prefix}:changes"
        self._unsent: dict[str, Batch] = {}
        """Channel -> subscriptions waiting for a SUBSCRIBE to be sent."""
        self._sent: dict[str, deque[Batch]] = {}
        """Channel -> subscriptions whose SUBSCRIBE is sent, in order, one batch a reply."""
        self._commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._outgoing: deque[str] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        self.connected = False
        """Whether the reader holds a live pub/sub connection now."""
        self.down = False
        """Whether the reader lost Redis and has not got it back yet."""

    def channel(self, job_id: str) -> str:
        return f"{self.prefix}:events:{job_id}"

    def _job_of(self, channel: str) -> str:
        return channel.removeprefix(f"{self.prefix}:events:")

    # --- publishing ----------------------------------------------------------------------
    async def publish(self, job_id: str, event: JobEvent) -> None:
        if not self.down:  # a subscriber here misses nothing (Redis away: no waiting)
            for subscription in self.local.of(job_id):
                await subscription.ready()
        await self.client.publish(self.channel(job_id), event.model_dump_json())

    def subscribe(self, job_id: str) -> _RedisSubscription:
        self._start()
        return self.local.subscribe(job_id)

    def subscribers(self, job_id: str) -> int:
        return self.local.subscribers(job_id)

    def announce_changes(self, job_ids: Iterable[str]) -> None:
        changed = frozenset(job_ids)
        for listener in list(self._listeners):
            listener(changed)
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a commit outside any event loop: nobody else to tell
            return
        self._outgoing.append(json.dumps({"origin": self.origin, "jobs": sorted(changed)}))
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_changes())

    async def _send_changes(self) -> None:
        while self._outgoing:
            message = self._outgoing.popleft()
            try:
                await self.client.publish(self._changes, message)
            except RedisError as exc:  # other processes' caches fall back to their max age
                log.warning("changes_not_published", error=type(exc).__name__)

    def on_changes(self, listener: ChangeListener) -> Callable[[], None]:
        self._start()
        self._listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    # --- subscriptions -------------------------------------------------------------------
    def _want(self, subscription: _RedisSubscription) -> None:
        channel = self.channel(subscription.job_id)
        waiting = self._unsent.get(channel)
        if waiting is None:
            waiting = self._unsent[channel] = []
            self._commands.put_nowait(("subscribe", channel))
        waiting.append(subscription)

    def _unwant(self, job_id: str) -> None:
        self._commands.put_nowait(("unsubscribe", self.channel(job_id)))

    def _wanted(self) -> list[str]:
        jobs = [job for job, subs in self.local._subscribers.items() if subs]
        return [self._changes, *(self.channel(job) for job in jobs)]

    def _start(self) -> None:
        if self._reader is None and not self._closed:
            self._reader = asyncio.get_running_loop().create_task(self._read_forever())

    async def _read_forever(self) -> None:
        backoff = 0.05
        while not self._closed:
            pubsub = self.client.pubsub()
            try:
                # Everything this process wants, in one SUBSCRIBE: each channel's waiting
                # subscriptions are armed by its reply.
                while not self._commands.empty():
                    self._commands.get_nowait()
                wanted = self._wanted()
                self._unsent.clear()
                self._sent = {
                    channel: deque([self.local.of(self._job_of(channel))]) for channel in wanted
                }
                await pubsub.subscribe(*wanted)
                self.connected, self.down = True, False
                backoff = 0.05
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("event_bus_disconnected", error=type(exc).__name__)
                self.connected, self.down = False, True
                for subscriptions in list(self.local._subscribers.values()):
                    for subscription in subscriptions:
                        if isinstance(subscription, _RedisSubscription):
                            subscription.armed.clear()  # armed again by the next SUBSCRIBE
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            while not self._commands.empty():
                command, channel = self._commands.get_nowait()
                if command == "subscribe":
                    batch = self._unsent.pop(channel, [])
                    self._sent.setdefault(channel, deque()).append(batch)
                    await pubsub.subscribe(channel)
                elif not self.local.subscribers(self._job_of(channel)):
                    await pubsub.unsubscribe(channel)
            message = await pubsub.get_message(timeout=0.05)
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not isinstance(channel, str):
            return
        if kind == "subscribe":
            batches = self._sent.get(channel)
            if batches:
                for subscription in batches.popleft():
                    subscription.armed.set()
            return
        if kind != "message":
            return
        data = message.get("data")
        if not isinstance(data, str | bytes):
            return
        try:
            if channel == self._changes:
                change = json.loads(data)
                if change.get("origin") != self.origin:
                    changed = frozenset(str(job) for job in change.get("jobs", ()))
                    for listener in list(self._listeners):
                        listener(changed)
                return
            self.local.offer(self._job_of(channel), parse_event(data))
        except Exception:  # one bad message never stops the reader
            log.warning("event_not_understood", channel=channel[:200])

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._reader, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for subscriptions in list(self.local._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.close()
        await self.client.aclose()

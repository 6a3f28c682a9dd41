"""The progress bus: job events fan out to WebSocket subscribers (in-memory by default)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any, Protocol


class EventBus(Protocol):
    def publish(self, job_id: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, job_id: str) -> asyncio.Queue[dict[str, Any]]: ...

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None: ...


class InMemoryBus:
    """One process; slow subscribers lose old progress messages, never block a job."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._size = queue_size

    def publish(self, job_id: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(job_id, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)

    def subscribe(self, job_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._size)
        self._subscribers[job_id].add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subscribers = self._subscribers.get(job_id)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[job_id]

"""The job queue: priority first, then first come first served.

The embedded implementation is an asyncio priority queue in this process; the database
is the source of truth (a job is claimed with an atomic queued -> running update), so a
queue entry for a job that was cancelled meanwhile is simply skipped.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class JobQueue(Protocol):
    async def put(self, job_id: str, priority: int, seq: int) -> None: ...

    async def get(self) -> str: ...

    def depth(self) -> int: ...


class InProcessQueue:
    def __init__(self) -> None:
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()

    async def put(self, job_id: str, priority: int, seq: int) -> None:
        await self._queue.put((priority, seq, job_id))

    async def get(self) -> str:
        _, _, job_id = await self._queue.get()
        return job_id

    def depth(self) -> int:
        return self._queue.qsize()

"""Concurrent calls for one key share one run of the work.

When a cached answer expires under load, every request in flight misses at the same
moment; without this each would query the database (a hundred aiosqlite sessions queued
on a pool of five stalled a busy server for 400 ms every time its key cache expired).
The work runs as a task of its own, so a caller that goes away does not cancel it for
the others; its error reaches every caller waiting and is not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[T]] = {}

    async def run(
        self,
        key: Hashable,
        work: Callable[[], Awaitable[T]],
        done: Callable[[T], None] | None = None,
    ) -> T:
        """``work()``'s result, shared with every caller asking for ``key`` meanwhile;
        ``done(result)`` is called once, when it succeeds, before any caller resumes."""
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(work())
            self._running[key] = running
            running.add_done_callback(lambda task: self._finished(key, task, done))
        return await asyncio.shield(running)

    def _finished(
        self, key: Hashable, task: asyncio.Future[T], done: Callable[[T], None] | None
    ) -> None:
        self._running.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        if done is not None:
            done(task.result())

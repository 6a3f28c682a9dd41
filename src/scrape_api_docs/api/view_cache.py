"""Job polls and job lists answered from memory, as JSON bytes, while they are current.

A hundred clients polling three jobs ask the same question hundreds of times a second;
the answer changes when the job is written (progress, logs, status, exports). An entry
is kept with the version of what it shows and used while that version is current and the
entry is younger than ``max_age``. Versions move with the event bus's changes channel
(``watch(bus)``; commits announce there, ``storage/changes.py``): with the embedded bus a
commit made in this process is seen by the next poll and a write from a worker elsewhere
within ``max_age``; a bus between processes makes those writes seen at once too.
Concurrent misses of one key wait for one read instead of each reading the database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from scrape_api_docs.api.single_flight import SingleFlight
from scrape_api_docs.jobs.events import EventBus
from scrape_api_docs.storage.changes import JobVersions


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    at: float
    body: bytes


class ViewCache:
    def __init__(self, max_age: float, size: int = 1024) -> None:
        self.max_age = max_age
        self.size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._reads: SingleFlight[bytes] = SingleFlight()
        self.versions = JobVersions()
        """What the bus announced changed (``watch``): the versions to ask ``get`` for."""

    def watch(self, bus: EventBus) -> Callable[[], None]:
        """Move ``versions`` with every change announced on ``bus``; returns the stop."""
        return bus.on_changes(self.versions.bump)

    async def get(self, key: Hashable, version: int, read: Callable[[], Awaitable[bytes]]) -> bytes:
        """The body for ``key`` at ``version`` (the current one, taken before calling):
        from memory if fresh, else from ``read()``, run once for every caller that misses
        meanwhile (``SingleFlight``). Errors reach every waiter and are not kept."""
        if self.max_age <= 0:
            return await read()
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry.version == version and now - entry.at < self.max_age:
            return entry.body
        return await self._reads.run(
            (key, version), read, lambda body: self._keep(key, _Entry(version, now, body))
        )

    def _keep(self, key: Hashable, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

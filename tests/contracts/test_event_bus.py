"""The event bus's contract, written against ``EventBus`` and run against every
implementation (``embedded`` today; a bus between processes adds a parameter).

Delivery may be asynchronous in other implementations, so every wait here is bounded by a
timeout rather than assumed to be done when ``publish`` returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scrape_api_docs.jobs.events import (
    CompleteData,
    CompleteEvent,
    EventBus,
    EventSender,
    ExportInfo,
    InMemoryBus,
    JobEvent,
    LogEntry,
    LogEvent,
    ProgressData,
    ProgressEvent,
    Subscription,
    build_event_bus,
    event_json,
    parse_event,
)
from tests.support.processes import until
from tests.support.redis_servers import redis_settings

BusFactory = Callable[..., EventBus]
WAIT = 5.0


@pytest.fixture(params=["embedded", "redis"])
async def new_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BusFactory]:
    """``new_bus(queue_size=...)``: a fresh bus of the implementation under test."""
    if request.param == "embedded":
        yield lambda queue_size=1000: InMemoryBus(queue_size=queue_size)
        return
    assert request.param == "redis"
    from scrape_api_docs.jobs.bus_redis import RedisBus

    made: list[EventBus] = []
    with redis_settings(tmp_path) as settings:

        def make(queue_size: int = 1000) -> EventBus:
            bus = build_event_bus(settings)
            assert isinstance(bus, RedisBus)
            bus.local._size = queue_size
            made.append(bus)
            return bus

        yield make
        for bus in made:
            await bus.aclose()


def progress(job_id: str, page: int, status: str = "running") -> ProgressEvent:
    return ProgressEvent(
        data=ProgressData(
            job_id=job_id,
            status=status,  # type: ignore[arg-type]
            current_page=page,
            total_pages=100,
            percent_complete=float(page),
            current_operation=f"Crawling /p{page}",
        )
    )


def log(message: str) -> LogEvent:
    stamp = datetime(2026, 12, 7, 14, 0, 0, tzinfo=UTC)
    return LogEvent(data=LogEntry(timestamp=stamp, level="info", message=message))


def complete(job_id: str) -> CompleteEvent:
    export = ExportInfo(
        format="markdown",
        filename="output.md",
        url=f"/api/v1/exports/{job_id}/output.md",
        size_bytes=12,
        checksum="sha256:" + "0" * 64,
        content_type="text/markdown",
        created_at=datetime(2026, 12, 7, 14, 0, 1, tzinfo=UTC),
    )
    return CompleteEvent(
        data=CompleteData(job_id=job_id, status="completed", exports=[export], error_message=None)
    )


async def take(subscription: Subscription, count: int) -> list[JobEvent]:
    async with asyncio.timeout(WAIT):
        return [await anext(subscription) for _ in range(count)]


async def test_each_subscriber_gets_its_jobs_events_in_order(new_bus: BusFactory) -> None:
    bus = new_bus()
    first, again, other = bus.subscribe("job_a"), bus.subscribe("job_a"), bus.subscribe("job_b")
    sent_a: list[JobEvent] = []
    for i in range(50):
        sent_a.append(progress("job_a", i) if i % 3 else log(f"line {i}"))
        await bus.publish("job_a", sent_a[-1])
        await bus.publish("job_b", progress("job_b", 1000 + i))
    sent_a.append(complete("job_a"))
    await bus.publish("job_a", sent_a[-1])
    assert await take(first, len(sent_a)) == sent_a
    assert await take(again, len(sent_a)) == sent_a
    got_b = await take(other, 50)
    assert [e.data.current_page for e in got_b] == list(range(1000, 1050))  # type: ignore[union-attr]
    for subscription in (first, again, other):
        subscription.close()


async def test_events_come_back_as_the_typed_models_they_were(new_bus: BusFactory) -> None:
    bus = new_bus()
    sent: list[JobEvent] = [progress("job_a", 3), log("Processed page: /x"), complete("job_a")]
    async with bus.subscribe("job_a") as subscription:
        for event in sent:
            await bus.publish("job_a", event)
        got = await take(subscription, 3)
    assert got == sent
    assert [type(e) for e in got] == [ProgressEvent, LogEvent, CompleteEvent]
    # And through their JSON (what the WebSocket sends and a bus between processes carries).
    for event in sent:
        assert parse_event(event_json(event)) == event
        assert parse_event(event.model_dump_json()) == event
    assert event_json(sent[1])["data"]["timestamp"] == "2026-12-07T14:00:00Z"
    assert event_json(sent[0])["type"] == "progress"


async def test_subscribed_at_once_and_unsubscribed_by_close(new_bus: BusFactory) -> None:
    bus = new_bus()
    subscription = bus.subscribe("job_a")
    await bus.publish("job_a", log("before the first read"))  # not missed
    assert await take(subscription, 1) == [log("before the first read")]

    waiting = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0.01)
    subscription.close()  # a waiting reader ends instead of hanging
    async with asyncio.timeout(WAIT):
        with pytest.raises(StopAsyncIteration):
            await waiting
    await bus.publish("job_a", log("after close"))
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)

    async with bus.subscribe("job_a") as scoped:
        await bus.publish("job_a", log("scoped"))
        assert await take(scoped, 1) == [log("scoped")]
    with pytest.raises(StopAsyncIteration):  # leaving the block unsubscribed it
        await anext(scoped)


async def test_a_cancelled_read_loses_nothing(new_bus: BusFactory) -> None:
    bus = new_bus()
    async with bus.subscribe("job_a") as subscription:
        reader = asyncio.create_task(anext(subscription))
        await asyncio.sleep(0.01)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await bus.publish("job_a", log("kept"))
        assert await take(subscription, 1) == [log("kept")]


async def test_a_slow_subscriber_drops_old_progress_never_complete(new_bus: BusFactory) -> None:
    bus = new_bus(queue_size=10)
    async with bus.subscribe("job_a") as slow, bus.subscribe("job_probe") as probe:
        async with asyncio.timeout(WAIT):  # publishing never waits for the reader
            await bus.publish("job_a", log("started"))
            for page in range(200):
                await bus.publish("job_a", progress("job_a", page))
            await bus.publish("job_a", progress("job_a", 200, "completed"))
            await bus.publish("job_a", complete("job_a"))
            # Delivery may be asynchronous: once a message published after all of them
            # has arrived, they all have (one publisher's messages arrive in order).
            await bus.publish("job_probe", log("after all"))
            assert await take(probe, 1) == [log("after all")]
        got: list[JobEvent] = []
        async with asyncio.timeout(WAIT):
            while not got or not isinstance(got[-1], CompleteEvent):
                got.append(await anext(slow))
    assert len(got) <= 10
    assert got[0] == log("started")  # progress goes first, log lines after
    assert got[-1] == complete("job_a")
    pages = [e.data.current_page for e in got if isinstance(e, ProgressEvent)]
    assert pages == sorted(pages) and pages[-1] == 200  # the newest, still in order


async def test_changes_reach_every_listener_until_it_stops(new_bus: BusFactory) -> None:
    bus = new_bus()
    heard: list[frozenset[str]] = []
    also: list[frozenset[str]] = []
    stop = bus.on_changes(heard.append)
    bus.on_changes(also.append)
    bus.announce_changes(["job_a", "job_b"])

    await until(lambda: len(heard) == 1 and len(also) == 1, WAIT)
    assert heard == also == [frozenset({"job_a", "job_b"})]
    stop()
    stop()  # twice is harmless
    bus.announce_changes(["job_c"])
    await until(lambda: len(also) == 2, WAIT)
    assert heard == [frozenset({"job_a", "job_b"})]


async def test_a_jobs_sender_publishes_in_order_without_waiting(new_bus: BusFactory) -> None:
    bus = new_bus()
    async with bus.subscribe("job_a") as subscription:
        sender = EventSender(bus, "job_a")
        sent: list[JobEvent] = [progress("job_a", i) for i in range(20)] + [complete("job_a")]
        for event in sent:
            sender.send(event)  # synchronous: a crawl listener can call it
        async with asyncio.timeout(WAIT):
            await sender.flush()
        assert await take(subscription, len(sent)) == sent

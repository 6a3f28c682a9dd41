"""Enqueue-to-claim latency on PostgreSQL (procrastinate): a claimer in one "process"
(its own queue, connections and engine), work deferred by another, as an API replica
defers for a worker. Polling only (``queue_poll_seconds``) against LISTEN/NOTIFY.

    python bench/queue_wakeup.py [--jobs 40] [--poll 0.5] [--database-url URL]

Makes a database of its own on the server (default the machine's PostgreSQL on
127.0.0.1:5432) and drops it after. Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import async_sessionmaker

from scrape_api_docs.jobs.queue import PRIORITY_RANK, new_worker_id
from scrape_api_docs.jobs.queue_pg import ProcrastinateQueue
from scrape_api_docs.storage.db import make_engine, migrate, sessions
from scrape_api_docs.storage.postgres import libpq_url
from scrape_api_docs.storage.repositories import JobRepository

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support; bench/ is sys.path[0] as a script

from tests.support.jobs import queued_job  # noqa: E402


async def add_job(made: async_sessionmaker[Any], seq: int) -> str:
    job_id = f"job_{seq:016x}"
    async with made() as session, session.begin():
        JobRepository(session).add(queued_job(job_id, seq))
    return job_id


async def measure(url: str, jobs: int, poll: float, listen: bool, first_seq: int) -> list[float]:
    """Milliseconds from each enqueue's return to the claim, over ``jobs`` jobs deferred
    at random moments (so they land anywhere in the poll interval)."""
    engines = [make_engine(url), make_engine(url)]
    made = [sessions(engine) for engine in engines]
    producer = ProcrastinateQueue(made[0], libpq_url(url))
    consumer = ProcrastinateQueue(made[1], libpq_url(url), listen=listen)
    worker = new_worker_id()
    claimed: dict[str, float] = {}

    async def claim_forever() -> None:
        while True:
            job_id = await consumer.claim(worker, 600)
            if job_id is not None:
                claimed[job_id] = time.perf_counter()
                await consumer.finish(job_id, worker)
                continue
            await consumer.wait_for_work(poll)

    loop = asyncio.create_task(claim_forever())
    latencies: list[float] = []
    try:
        await consumer.wait_for_work(0)
        if listen:
            await asyncio.wait_for(consumer.listening.wait(), 30)
        for n in range(jobs):
            await asyncio.sleep(random.uniform(0.05, poll * 1.5))
            job_id = await add_job(made[0], first_seq + n)
            await producer.enqueue(job_id, PRIORITY_RANK["normal"])
            sent = time.perf_counter()
            while job_id not in claimed:
                if loop.done():  # the claimer failed: say why instead of waiting forever
                    loop.result()
                    raise RuntimeError("the claimer stopped")
                await asyncio.sleep(0.001)
            latencies.append(max(0.0, claimed[job_id] - sent) * 1000)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await producer.close()
        await consumer.close()
        for engine in engines:
            await engine.dispose()
    return latencies


def row(label: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return (
        f"{label:<22} {statistics.median(ordered):>9.1f} {p90:>9.1f} {max(ordered):>9.1f} "
        f"{statistics.mean(ordered):>9.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--poll", type=float, default=0.5, help="queue_poll_seconds")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    server = args.database_url.rstrip("/")
    name = f"sad_bench_wakeup_{secrets.token_hex(4)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        engine = make_engine(url)
        await migrate(engine)
        await engine.dispose()
        polled = await measure(url, args.jobs, args.poll, listen=False, first_seq=1)
        woken = await measure(url, args.jobs, args.poll, listen=True, first_seq=10_000)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"enqueue -> claim, {args.jobs} jobs each, poll every {args.poll:g} s (ms)")
    print(f"{'':<22} {'median':>9} {'p90':>9} {'max':>9} {'mean':>9}")
    print(row("polling only", polled))
    print(row("LISTEN/NOTIFY", woken))


if __name__ == "__main__":
    asyncio.run(main())

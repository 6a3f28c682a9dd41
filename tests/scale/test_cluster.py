"""The cluster of issue 14, as written: PostgreSQL (job state, procrastinate's queue, the
pages), Redis (events, limits, page cache) and S3 (moto: the artifacts) together, with two
API replicas (``scrape-docs serve --no-workers``) and three worker processes on 127.0.0.1.
Twenty jobs over local fixture sites are submitted through both replicas; one worker is
SIGKILLed mid-job (its job running and at least one page stored). Every job completes with
its book (downloaded through a replica: the fixture site's golden book, its checksum and
size as listed), each page stored once, one artifact, one ``completed`` webhook with its
idempotency id; the killed worker's job resumes on another worker from its stored pages;
a WebSocket on replica A follows a job, submitted through replica B and run by a worker,
to ``completed``. Skipped, saying why, without PostgreSQL or Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_live_server import (
    WebhookReceiver,
    finished,
    job_when,
    read_stream,
    submit,
    wait_until,
    webhooks,  # noqa: F401 - the receiver fixture
)
from tests.conftest import FIXTURE_SITES
from tests.scale.test_redis_cluster import follow_checks
from tests.support import postgres
from tests.support.cluster import Cluster
from tests.support.redis_servers import drop_prefix, new_prefix, shared_redis_or_skip
from tests.support.s3 import MotoS3, s3_client
from tests.support.server import TestServer

SITES = ("plain", "mkdocs_material", "rustdoc", "docbook", "furo")
"""Fixture sites of 4 to 5 pages, each served on its own port (its own politeness slot)."""
JOBS = 20
LEASE = 15.0
"""Long enough that a heartbeat delayed on a busy machine never loses a live worker its
job; the SIGKILLed worker is seen gone at once (its pid), without waiting for its lease."""
SECRET = "s3cret-signing-key-0123456789"
BASE = "http://docs.test"  # the golden books' stand-in for the site's address


def expect(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURE_SITES / name / "expect.json").read_text())
    return loaded


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis_url = shared_redis_or_skip()
    prefix = new_prefix()
    with postgres.database() as url:
        s3 = MotoS3()
        made = Cluster(
            tmp_path,
            url,
            {
                "SCRAPER_REDIS_URL": redis_url,
                "SCRAPER_REDIS_PREFIX": prefix,
                "SCRAPER_ARTIFACT_URL": f"s3://{s3.new_bucket()}/artifacts",
                "SCRAPER_S3_ENDPOINT_URL": s3.endpoint,
                "SCRAPER_S3_ACCESS_KEY_ID": "testing",
                "SCRAPER_S3_SECRET_ACCESS_KEY": "testing",
                "SCRAPER_JOB_LEASE_SECONDS": str(LEASE),
                "SCRAPER_QUEUE_POLL_SECONDS": "0.2",
            },
        )
        try:
            yield made
        finally:
            made.cleanup()
            s3.stop()
            drop_prefix(redis_url, prefix)


def s3_keys(cluster: Cluster) -> list[str]:
    """Every object in the cluster's bucket."""
    bucket = cluster.env["SCRAPER_ARTIFACT_URL"].removeprefix("s3://").split("/")[0]
    client = s3_client(cluster.env["SCRAPER_S3_ENDPOINT_URL"])
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return [str(each["Key"]) for each in listed]


class Follower:
    """A WebSocket client in a thread of its own: every message of a job's stream."""

    def __init__(self, url: str) -> None:
        self.result: tuple[list[dict[str, Any]], int, str] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        try:
            self.result = asyncio.run(read_stream(url, timeout=120))
        except BaseException as exc:
            self.error = exc

    def messages(self) -> list[dict[str, Any]]:
        self.thread.join(130)
        if self.error is not None:
            raise self.error
        assert self.result is not None, "the stream never closed"
        messages, code, _ = self.result
        assert code == 1000, self.result
        return messages


@pytest.mark.timeout(300)
def test_twenty_jobs_on_two_replicas_and_three_workers_one_killed(
    cluster: Cluster,
    webhooks: WebhookReceiver,  # noqa: F811 - the fixture imported above
) -> None:
    started = time.monotonic()
    sites = [TestServer(FIXTURE_SITES / name, delay=0.05).start() for name in SITES]
    # The victim's site answers slowly (and a job of its own follows it at 1 page/s), so
    # the kill lands mid-job; the followed job's site is slow enough for live progress.
    victim_site = TestServer(FIXTURE_SITES / "furo", delay=0.3).start()
    followed_site = TestServer(FIXTURE_SITES / "sphinx_rtd", delay=0.3).start()
    servers = [*sites, victim_site, followed_site]
    try:
        cluster.start(replicas=2, workers=3, concurrency=2)
        a, b = cluster.replicas
        ready = time.monotonic()
        with a.client() as client_a, b.client() as client_b:
            clients = [client_a, client_b]

            def job(n: int, site: TestServer, name: str, **options: Any) -> tuple[str, str]:
                job_id = submit(
                    clients[n % 2],
                    site.url("/" + expect(name)["start"]),
                    options={"cache_enabled": False, **options},
                    webhook_url=webhooks.url,
                    webhook_secret=SECRET,
                )
                return job_id, name

            submitted = [job(0, victim_site, "furo", rate_limit=1)]
            victim = submitted[0][0]
            for n in range(2, JOBS):
                submitted.append(
                    job(n, sites[n % len(sites)], SITES[n % len(sites)], rate_limit=10)
                )

            # SIGKILL the victim's worker once the job runs there and stored a page.
            def running_with_a_page() -> bool:
                row = cluster.row(victim)
                if row["status"] != "running" or row["attempts"] != 1:
                    return False
                [(stored,)] = cluster.query("SELECT count(*) FROM pages WHERE job_id = %s", victim)
                return stored >= 1

            wait_until(running_with_a_page, 60, "the victim job to store a page")
            killed = cluster.holder(victim)
            assert killed is not None
            killed.kill()
            before = {
                url for (url,) in cluster.query("SELECT url FROM pages WHERE job_id = %s", victim)
            }
            pages_of_victim = len(expect("furo")["reading_order"])
            assert 1 <= len(before) < pages_of_victim, "the kill did not land mid-job"
            hits_before = {
                url: len(victim_site.hits_for(url.removeprefix(victim_site.base))) for url in before
            }
            assert set(hits_before.values()) == {1}

            # A job submitted through replica B (after the kill: run by a live worker from
            # start to end), followed by a WebSocket on replica A.
            submitted.insert(1, job(1, followed_site, "sphinx_rtd", rate_limit=4))
            followed = submitted[1][0]
            follower = Follower(f"{a.ws_base}/api/v1/jobs/{followed}/stream")
            sites_of = dict(submitted)
            servers_of = {
                job_id: victim_site
                if job_id == victim
                else followed_site
                if job_id == followed
                else sites[SITES.index(name)]
                for job_id, name in submitted
            }

            done = {
                job_id: job_when(clients[n % 2], job_id, finished, 120)
                for n, (job_id, _) in enumerate(submitted)
            }
            finished_at = time.monotonic()
            failed = {
                k: (v["status"], v["error_message"])
                for k, v in done.items()
                if v["status"] != "completed"
            }
            assert not failed, failed

            # Every job: its book, as the golden file has it, through either replica.
            for n, (job_id, name) in enumerate(submitted):
                detail = done[job_id]
                [export] = detail["exports"]
                assert export["filename"] == "output.md"
                response = clients[(n + 1) % 2].get(export["url"])
                assert response.status_code == 200, response.text
                body = response.content
                assert len(body) == export["size_bytes"]
                assert export["checksum"] == f"sha256:{hashlib.sha256(body).hexdigest()}"
                text = body.decode().replace(servers_of[job_id].base, BASE)
                golden = (FIXTURE_SITES / name / "book.md").read_text(encoding="utf-8")
                assert text == golden, f"{job_id} ({name}): not the site's book"
                pages = len(expect(name)["reading_order"])
                assert detail["statistics"]["pages_processed"] == pages, (
                    name,
                    detail["statistics"],
                )

            # No duplicates: each page stored once per job; one artifact per job, in S3.
            stored = dict(
                (job_id, (count, keys))
                for job_id, count, keys in cluster.query(
                    "SELECT job_id, count(*), count(DISTINCT key) FROM pages GROUP BY job_id"
                )
            )
            for job_id, name in submitted:
                pages = len(expect(name)["reading_order"])
                assert stored[job_id] == (pages, pages), (name, stored[job_id])
            artifacts = dict(
                cluster.query("SELECT job_id, count(*) FROM artifacts GROUP BY job_id")
            )
            assert artifacts == {job_id: 1 for job_id, _ in submitted}
            assert not list((cluster.data_dir / "jobs").glob("*/output.*"))  # not on disk
            assert sorted(s3_keys(cluster)) == sorted(
                f"artifacts/{job_id}/output.md" for job_id, _ in submitted
            )

            # The victim: resumed on another worker from its stored pages.
            logs = [line["message"] for line in done[victim]["logs"]]
            assert any("(attempt 2)" in line for line in logs), logs
            assert cluster.row(victim)["attempts"] == 2
            for url in before:
                assert len(victim_site.hits_for(url.removeprefix(victim_site.base))) == 1, url
            for path in expect("furo")["reading_order"]:  # the rest: once, or again after
                assert len(victim_site.hits_for(f"/{path}")) in (1, 2), path  # the kill
            others = [w for w in cluster.workers if w is not killed]
            for each in others:
                assert each.process.poll() is None, each.log()[-3000:]

            # One completed webhook per job, with its idempotency id.
            wait_until(lambda: len(webhooks.events("completed")) >= JOBS, 30, "the webhooks")
            time.sleep(1.0)  # time for a duplicate to show up, if there were one
            deliveries = sorted(d.delivery_id for d in webhooks.events("completed"))
            assert deliveries == sorted(f"{job_id}:completed" for job_id, _ in submitted)
            for each in webhooks.events("completed"):
                assert each.signature and each.payload["job_id"] in sites_of

            # The WebSocket on replica A followed the job to its end.
            complete = follow_checks(follower.messages(), followed)
            assert complete["exports"] == done[followed]["exports"]
    finally:
        for each in servers:
            each.stop()
    print(
        f"cluster: started in {ready - started:.1f}s, {JOBS} jobs done "
        f"{finished_at - ready:.1f}s later"
    )

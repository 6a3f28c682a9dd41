"""Health, Prometheus metrics and statistics come from real checks and real jobs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scrape_api_docs.crawler.browser import find_browser
from tests.api.conftest import wait_for_status


async def test_health_checks_the_database_storage_and_workers(api: Any) -> None:
    async with api(workers=2) as (_, client):
        response = await client.get("/api/v1/system/health")
        assert response.status_code == 200
        health = response.json()
        deps = health["dependencies"]
        assert deps["database"] == deps["storage"] == deps["queue"] == "healthy"
        # Debian's chromium is installed by `make test`; without it, the reason is given.
        if find_browser() is not None:
            assert deps["playwright"] == "healthy"
        else:
            assert deps["playwright"] == "unavailable" and health["details"]["playwright"]
        assert health["status"] in ("healthy", "degraded") and health["uptime"] >= 0


async def test_metrics_and_stats_after_a_real_job(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api() as (_, client):
        accepted = await client.post(
            "/api/v1/scrape", json={"url": site.url("/index.html"), "options": {"rate_limit": 10}}
        )
        job = await wait_for_status(client, accepted.json()["job_id"])
        assert job["status"] == "completed"

        text = (await client.get("/api/v1/system/metrics")).text
        families = list(text_string_to_metric_families(text))
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in families
            for s in family.samples
        }
        # The design's names and types, and no *_created series.
        types = {family.name: family.type for family in families}
        assert types["scraper_jobs"] == "counter"
        assert types["scraper_pages_scraped"] == "counter"
        assert types["scraper_cache_hit_rate"] == "gauge"
        assert re.search(r"^# TYPE scraper_jobs_total counter$", text, re.M)
        assert re.search(r"^# TYPE scraper_pages_scraped_total counter$", text, re.M)
        assert not [name for name, _ in samples if name.endswith("_created")]
        assert "_created" not in text
        assert samples[("scraper_jobs_total", (("status", "completed"),))] == 1
        assert samples[("scraper_jobs_stored", (("status", "completed"),))] == 1
        assert samples[("scraper_jobs_stored", (("status", "queued"),))] == 0
        assert samples[("scraper_pages_scraped_total", ())] == 5
        assert samples[("scraper_queue_depth", ())] == 0
        assert samples[("scraper_active_workers", ())] == 0
        assert any(name == "scraper_cache_hit_rate" for name, _ in samples)
        polls = [
            value
            for (name, labels), value in samples.items()
            if name == "scraper_request_duration_seconds_count"
            and ("route", "/api/v1/jobs/{job_id}") in labels
        ]
        assert polls and polls[0] >= 1, "the job polls are missing from the latency histogram"
        assert re.search(r"^# TYPE scraper_request_duration_seconds histogram$", text, re.M)

        stats = (await client.get("/api/v1/system/stats")).json()
        assert stats["jobs"]["completed"] == 1 and stats["jobs"]["total"] == 1
        assert stats["performance"]["avg_pages_per_job"] == 5
        assert stats["performance"]["cache_hit_rate"] == 0  # a first crawl: all misses
        assert stats["performance"]["avg_job_duration"] > 0
        resources = stats["resources"]
        assert isinstance(resources["active_workers"], int) and resources["active_workers"] == 0
        assert resources["artifacts_mb"] > 0 and resources["cache_size_mb"] > 0


async def test_health_names_the_artifact_store_while_s3_does_not_answer(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Artifacts on S3 (moto): the health check asks the bucket; moto stopped, health is
    200 ``degraded`` naming the artifact store; started again, healthy."""
    from scrape_api_docs.storage import artifacts_s3
    from tests.support.s3 import MotoS3

    monkeypatch.setattr(artifacts_s3, "CHECK_TTL", 0.0)  # (5 s in service: probes poll)
    s3 = MotoS3()
    try:
        async with api(**s3.values()) as (_, client):
            up = (await client.get("/api/v1/system/health")).json()
            assert up["dependencies"]["artifacts"] == "healthy", up
            assert "artifacts" not in up["details"]
            s3.stop()
            response = await client.get("/api/v1/system/health")
            down = response.json()
            assert response.status_code == 200, down
            assert down["status"] == "degraded", down
            assert down["dependencies"]["artifacts"] == "unhealthy", down
            assert "artifact store" in down["details"]["artifacts"], down
            s3.start()
            again = (await client.get("/api/v1/system/health")).json()
            assert again["dependencies"]["artifacts"] == "healthy", again
    finally:
        s3.stop()


async def test_health_reuses_the_buckets_answer_for_a_while(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probes poll often: one request to the bucket serves the checks that follow within
    ``CHECK_TTL`` (moto stopped just after a check: the next one still says healthy)."""
    from scrape_api_docs.storage import artifacts_s3
    from tests.support.s3 import MotoS3

    monkeypatch.setattr(artifacts_s3, "CHECK_TTL", 120.0)  # (a loaded machine is slow)
    s3 = MotoS3()
    try:
        async with api(**s3.values()) as (_, client):
            first = (await client.get("/api/v1/system/health")).json()
            s3.stop()
            second = (await client.get("/api/v1/system/health")).json()
            assert first["dependencies"]["artifacts"] == "healthy", first
            assert second["dependencies"]["artifacts"] == "healthy", second
    finally:
        s3.stop()


async def test_stats_sizes_come_from_redis_and_s3_when_the_parts_live_there(
    api: Any, site_server: Any, tmp_path: Any
) -> None:
    """Page cache in Redis, artifacts in S3 (moto): ``cache_size_mb`` is what the cache's
    entries take in Redis and ``storage_used_gb`` counts the job's objects in the bucket,
    neither read from a local file (there is no cache file, no export on disk)."""
    import redis

    from tests.support.redis_servers import drop_prefix, new_prefix, shared_redis_or_skip
    from tests.support.s3 import MotoS3

    url, prefix = shared_redis_or_skip(), new_prefix()
    s3 = MotoS3()
    try:
        values = s3.values()
        async with api(redis_url=url, redis_prefix=prefix, **values) as (_, client):
            site = site_server("sphinx_classic")
            accepted = await client.post(
                "/api/v1/scrape",
                json={"url": site.url("/index.html"), "options": {"rate_limit": 10}},
            )
            job_id = accepted.json()["job_id"]
            job = await wait_for_status(client, job_id)
            assert job["status"] == "completed", job
            stats = (await client.get("/api/v1/system/stats")).json()["resources"]
            data_dir = tmp_path / "data"
            files = [p for p in (data_dir / "jobs").rglob("*") if p.is_file()]
            local = sum(p.stat().st_size for p in files)  # (the job's page store)
        assert not (data_dir / "cache" / "pages.sqlite").exists()
        assert not any(p.suffix == ".md" for p in files)  # the export is in the bucket
        with redis.Redis.from_url(url) as r:
            names = list(r.scan_iter(match=f"{prefix}:page:*"))
            in_redis = sum(int(r.memory_usage(n) or 0) for n in names)
        assert names and in_redis > 0
        assert stats["cache_size_mb"] == round(in_redis / 1e6, 3), (stats, in_redis)

        bucket = str(values["artifact_url"]).removeprefix("s3://").split("/")[0]
        listed = s3.client().list_objects_v2(Bucket=bucket)
        in_bucket = sum(o["Size"] for o in listed.get("Contents", []) if job_id in o["Key"])
        assert in_bucket > 0
        measured = stats["storage_used_gb"] * 1e9
        assert abs(measured - (in_bucket + local)) <= 1000, (stats, in_bucket, local)
    finally:
        s3.stop()
        drop_prefix(url, prefix)

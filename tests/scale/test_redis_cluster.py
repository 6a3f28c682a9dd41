"""An API replica and a worker as two processes sharing Redis and S3 (moto): a WebSocket on
the API follows a job the worker runs to ``completed`` (events cross processes through
Redis pub/sub); its export is downloaded from S3 through the API with ETag and Range; while
Redis is down the health check says ``degraded`` and names it, and once Redis is back
both processes reconnect by themselves (the next job is followed to the end again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.test_live_server import (
    read_stream,
    slow_site,
    submit,
    wait_until,
)
from tests.support.processes import LiveServer, Worker, api_replica
from tests.support.redis_servers import OwnRedis
from tests.support.s3 import MotoS3
from tests.support.server import TestServer


def follow_checks(messages: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    """The stream of a job run elsewhere: its state, live progress in order, complete."""
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "progress" and kinds[-1] == "complete", kinds
    running = [m["data"] for m in messages[1:] if m["type"] == "progress"]
    pages = [p["current_page"] for p in running if p["status"] == "running"]
    assert len(pages) >= 2, messages  # live updates from the worker process
    assert pages == sorted(pages)
    assert any(m["type"] == "log" for m in messages)
    complete: dict[str, Any] = messages[-1]["data"]
    assert complete["job_id"] == job_id and complete["status"] == "completed", complete
    return complete


async def test_a_replica_follows_a_job_run_by_a_worker_through_redis_and_s3(
    tmp_path: Path, server: TestServer
) -> None:
    redis_server = OwnRedis().start()
    s3 = MotoS3()
    api: LiveServer | None = None
    try:
        bucket = s3.new_bucket()
        env = {
            "SCRAPER_REDIS_URL": redis_server.url,
            "SCRAPER_REDIS_PREFIX": "cluster",
            "SCRAPER_ARTIFACT_URL": f"s3://{bucket}/artifacts",
            "SCRAPER_S3_ENDPOINT_URL": s3.endpoint,
            "SCRAPER_S3_ACCESS_KEY_ID": "testing",
            "SCRAPER_S3_SECRET_ACCESS_KEY": "testing",
        }
        data_dir = tmp_path / "data"
        api = api_replica(data_dir, env)
        slow_site(server, pages=8, delay=0.05)
        options = {"rate_limit": 10, "cache_enabled": False, "max_pages": 9}
        with Worker(data_dir, 2, env), api.client() as client:
            job_id = submit(client, server.url("/docs/"), options=options)
            stream = f"{api.ws_base}/api/v1/jobs/{job_id}/stream"
            messages, code, _ = await read_stream(stream, timeout=90)
            assert code == 1000
            complete = follow_checks(messages, job_id)

            # The export lives in S3 (not in the job's folder) and downloads as before.
            export = complete["exports"][0]
            assert not (data_dir / "jobs" / job_id / export["filename"]).exists()
            whole = client.get(export["url"])
            assert whole.status_code == 200 and len(whole.content) == export["size_bytes"]
            etag = whole.headers["etag"]
            part = client.get(export["url"], headers={"Range": "bytes=5-14"})
            assert part.status_code == 206 and part.content == whole.content[5:15]
            assert part.headers["content-range"] == f"bytes 5-14/{export['size_bytes']}"
            again = client.get(export["url"], headers={"If-None-Match": etag})
            assert again.status_code == 304

            # Redis goes away: degraded, and named; back: healthy, without a restart of ours.
            redis_server.stop()
            down = client.get("/api/v1/system/health").json()
            assert down["status"] == "degraded", down
            assert down["dependencies"]["redis"] == "unhealthy" and "redis" in down["details"]
            redis_server.start()
            wait_until(
                lambda: client.get("/api/v1/system/health").json()["status"] == "healthy",
                30,
                "the health check to see Redis back",
            )
            second = submit(client, server.url("/docs/"), options=options)
            messages, code, _ = await read_stream(
                f"{api.ws_base}/api/v1/jobs/{second}/stream", timeout=90
            )
            assert code == 1000
            follow_checks(messages, second)
    except BaseException:
        if api is not None:
            print(api.log_tail(80))
        raise
    finally:
        if api is not None:
            api.cleanup()
        s3.stop()
        redis_server.stop()

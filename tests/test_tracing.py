"""OpenTelemetry traces, end to end and across processes: ``scrape-docs serve --no-workers``
takes ``POST /scrape``, a ``scrape-docs worker`` runs the job, and both send spans with OTLP
over HTTP to a real receiver on 127.0.0.1. One trace id spans the request, the job, its
fetches, extractions and exports; log lines carry the job id and that trace id. Off (no
endpoint), no SDK is loaded and no span made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_live_server import (
    finished,
    job_row,
    job_when,
    submit,
    wait_until,
)
from tests.support.otlp import OtlpReceiver, SpanRecord
from tests.support.processes import Worker, api_replica
from tests.support.server import TestServer

SERVER_KIND, CONSUMER_KIND, CLIENT_KIND = 2, 5, 3  # opentelemetry.proto Span.SpanKind


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


def tracing_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # send within 0.1 s, not 5 s
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }


def test_one_trace_spans_request_queue_worker_fetches_and_exports(
    tmp_path: Path, site_server: object, receiver: OtlpReceiver
) -> None:
    site: TestServer = site_server("plain")  # type: ignore[operator]
    env = tracing_env(receiver)
    data_dir = tmp_path / "data"
    api = api_replica(data_dir, env, timeout=30)
    try:
        # (the worker stops with SIGTERM at the end: a clean stop flushes the last spans)
        with Worker(data_dir, 1, env) as worker, api.client() as client:
            job_id = submit(
                client,
                site.url("/index.html"),
                options={"max_pages": 5, "cache_enabled": False},
                export_formats=["markdown", "json"],
            )
            done = job_when(client, job_id, finished, 60)
            assert done["status"] == "completed", done
            pages = done["statistics"]["pages_processed"]
            assert pages >= 2

            def spans_of_job() -> list[SpanRecord]:
                return [s for s in receiver.snapshot() if s.trace_id == trace_of(receiver, job_id)]

            wait_until(
                lambda: (
                    {"export markdown", "export json", "POST /api/v1/scrape"}
                    <= {s.name for s in spans_of_job()}
                ),
                30,
                "the request's and the worker's spans",
            )
            spans = spans_of_job()
            by_name: dict[str, list[SpanRecord]] = {}
            for each in spans:
                by_name.setdefault(each.name, []).append(each)
            [request] = by_name["POST /api/v1/scrape"]
            assert request.service == "scrape-api-docs-api" and request.kind == SERVER_KIND
            assert request.attributes["http.response.status_code"] == 202
            [job] = by_name["job"]
            assert job.service == "scrape-api-docs-worker" and job.kind == CONSUMER_KIND
            assert job.parent_id == request.span_id  # across the queue, another process
            assert job.attributes["scraper.job_id"] == job_id
            [crawl] = by_name["crawl"]
            assert crawl.parent_id == job.span_id
            fetches = by_name["GET"]
            assert all(f.parent_id == crawl.span_id and f.kind == CLIENT_KIND for f in fetches)
            fetched = {f.attributes["url.full"] for f in fetches}
            assert site.url("/index.html") in fetched
            assert len(by_name["extract"]) == pages
            assert all(e.parent_id == crawl.span_id for e in by_name["extract"])
            for name in ("export markdown", "export json"):
                [export] = by_name[name]
                assert export.parent_id == job.span_id
            # The traceparent rode with the job row.
            assert job_row(data_dir, job_id)["traceparent"].split("-")[1] == job.trace_id

            # Log lines of the job carry its id and the trace id.
            lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
            started = [line for line in lines if line.get("event") == "job_started"]
            assert started and started[0]["job_id"] == job_id
            assert started[0]["trace_id"] == job.trace_id
        api_lines = [
            json.loads(line)
            for line in api.log_path.read_text().splitlines()
            if line.startswith("{") and '"request"' in line
        ]
        posted = [
            line
            for line in api_lines
            if line.get("path") == "/api/v1/scrape" and "trace_id" in line
        ]
        assert posted and posted[0]["trace_id"] == request.trace_id
    finally:
        api.cleanup()


def trace_of(receiver: OtlpReceiver, job_id: str) -> str | None:
    for each in receiver.snapshot():
        if each.name == "job" and each.attributes.get("scraper.job_id") == job_id:
            return each.trace_id
    return None


def test_tracing_off_imports_no_opentelemetry(tmp_path: Path) -> None:
    """No endpoint: the API and the job system start without OpenTelemetry's SDK."""
    code = """
import asyncio, sys
from scrape_api_docs.api.main import create_app, job_system
from scrape_api_docs.settings import Settings
from scrape_api_docs.logs import configure_logging
configure_logging()
create_app(Settings())
async def main():
    async with job_system(Settings(), 1) as pool:
        assert pool.ctx.tracer is None
asyncio.run(main())
# (FastAPI imports opentelemetry-api itself when it is installed: its no-op API.)
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter")))
assert not loaded, loaded
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SCRAPER_"))}
    env["SCRAPER_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr

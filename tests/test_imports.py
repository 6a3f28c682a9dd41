"""What starting up loads: every command, the API and each test that starts a process pay
for their imports, so each imports what it uses when it uses it. The heavy libraries
(PDF, browser, migrations, object storage, Redis, the distributed queue, tracing's SDK)
are loaded by the code that needs them, never at start-up. Checked in fresh interpreters
by module name, not by time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Loaded only by what uses them: PDF export (pypdf, weasyprint), rendering (playwright),
# a schema behind (alembic), S3 (obstore, boto3), Redis, PostgreSQL's queue
# (procrastinate), tracing (opentelemetry's SDK).
LAZY = (
    "pypdf",
    "weasyprint",
    "playwright",
    "alembic",
    "obstore",
    "boto3",
    "redis",
    "procrastinate",
    "opentelemetry.sdk",
)


def loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    report = "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code + report], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def under(modules: set[str], *packages: str) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def test_help_loads_no_crawler_exporter_database_or_web_framework() -> None:
    modules = loaded_by("from scrape_api_docs.cli import main\nmain(['--help'])")
    assert "click" in modules
    assert not under(
        modules,
        *LAZY,
        "lxml",
        "selectolax",
        "sqlalchemy",
        "fastapi",
        "scrape_api_docs.crawler.crawl",
        "scrape_api_docs.jobs.pipeline",
        "scrape_api_docs.exporters.book",
    )


def test_registry_names_formats_without_loading_exporters() -> None:
    modules = loaded_by("from scrape_api_docs.exporters.registry import EXPORTERS")
    exporters = under(modules, "scrape_api_docs.exporters")
    assert exporters == {"scrape_api_docs.exporters", "scrape_api_docs.exporters.registry"}


@pytest.mark.parametrize(
    "module", ["scrape_api_docs.api.main", "scrape_api_docs.jobs.parts", "scrape_api_docs.keys"]
)
def test_service_modules_leave_heavy_libraries_to_their_users(module: str) -> None:
    modules = loaded_by(f"import {module}")
    assert not under(modules, *LAZY)

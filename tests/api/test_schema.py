"""The OpenAPI schema against the running service: schemathesis sends generated requests
(valid and invalid) to every operation of a real ``scrape-docs serve`` and checks each
answer: no 5xx, a documented status code and content type, a body that matches the schema.

Bounded and deterministic: few examples per operation, a fixed seed (``derandomize``), a
fresh data folder, a queue of 3 (submissions beyond it answer 429, which is documented),
private networks refused (generated URLs answer 400, or fail fast on DNS: there is no
internet here). The WebSocket is not in the OpenAPI schema, so it is not exercised.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from pydantic import BaseModel, ValidationError
from schemathesis.config import SchemathesisConfig

from scrape_api_docs.api import errors
from scrape_api_docs.api.main import create_app
from scrape_api_docs.api.models import requests as request_models
from scrape_api_docs.api.models import responses as response_models
from scrape_api_docs.crawler import options
from scrape_api_docs.settings import Settings
from tests.api.test_live_server import CLI, LiveServer, cli_env

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("schema") / "data"
    created = subprocess.run(
        [*CLI, "keys", "create", "schemathesis"],
        env=cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [key] = [
        line.split(":", 1)[1].strip()
        for line in created.stdout.splitlines()
        if line.startswith("api key:")
    ]
    server = LiveServer(
        data_dir,
        env={
            "SCRAPER_ALLOW_PRIVATE_NETWORKS": "0",
            "SCRAPER_MAX_QUEUED_JOBS": "3",
            "SCRAPER_WORKERS": "1",
            "SCRAPER_SYNC_TIMEOUT": "5",
        },
    )
    server.api_key = key  # type: ignore[attr-defined]
    try:
        yield server.start()
    finally:
        server.cleanup()


# The app's own schema (building it needs no lifespan), so pytest sees one test per
# operation; test_the_served_schema_is_the_apps checks the server serves this one.
# (schemathesis.pytest.from_fixture, which would load it from the server, fails on pytest
# 9.2: it sets Node._nodeid, which pytest no longer has.)
APP_SCHEMA = create_app(Settings(data_dir=Path("unused"))).openapi()
CONFIG = SchemathesisConfig.from_str(
    f"""
seed = 20261130
suppress-health-check = ["all"]

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true
database = "none"

[checks.positive_data_acceptance]
enabled = false

[checks.negative_data_rejection]
enabled = false

[[operations]]
include-path = "/api/v1/scrape/sync"
generation.max-examples = 3
phases.coverage.enabled = false
"""
)
schema = schemathesis.openapi.from_dict(APP_SCHEMA, config=CONFIG)


@schema.parametrize()
@settings(deadline=None)
def test_every_operation_conforms(case: Any, live_api: LiveServer) -> None:
    case.call_and_validate(
        base_url=live_api.base_url,
        headers={"X-API-Key": live_api.api_key},  # type: ignore[attr-defined]
        timeout=30,
    )


def test_huge_offset_is_a_validation_error(live_api: LiveServer) -> None:
    response = httpx.get(
        f"{live_api.base_url}/api/v1/jobs",
        params={"offset": str(2**70)},
        headers={"X-API-Key": live_api.api_key},  # type: ignore[attr-defined]
        timeout=10,
    )
    assert response.status_code == 422, response.text


# --- the schema document itself ------------------------------------------------------------
def _openapi(live_api: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{live_api.base_url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for module in (request_models, response_models, errors, options):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                found[name] = value
    return found


def test_the_served_schema_is_the_apps(live_api: LiveServer) -> None:
    assert _openapi(live_api) == APP_SCHEMA


KNOWN_INVALID_EXAMPLES: set[str] = set()


def test_every_model_has_a_valid_example(live_api: LiveServer) -> None:
    components = _openapi(live_api)["components"]["schemas"]
    models = _models()
    checked, invalid = [], {}
    for name, component in components.items():
        if "enum" in component:  # AuthType, Priority: their values are the example
            continue
        examples = component.get("examples")
        assert examples, f"{name} has no example in the OpenAPI schema"
        model = models.get(name)
        assert model is not None, f"no pydantic model named {name}"
        for example in examples:
            try:
                model.model_validate(example)  # what a client could really get or send
            except ValidationError as exc:
                invalid[name] = str(exc)
        checked.append(name)
    assert {"ScrapeRequest", "JobDetail", "ErrorResponse", "Health", "Stats"} <= set(checked)
    assert invalid.keys() == KNOWN_INVALID_EXAMPLES, invalid


def test_every_error_answer_is_documented_as_the_envelope(live_api: LiveServer) -> None:
    document = _openapi(live_api)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"4XX", "5XX"} <= responses.keys(), (method, path)
            for code, response in responses.items():
                if code[0] in "45" and not (path.endswith("/health") and code == "503"):
                    content = response["content"]["application/json"]["schema"]
                    assert content == {"$ref": "#/components/schemas/ErrorResponse"}, (
                        method,
                        path,
                        code,
                    )
            assert "HTTPValidationError" not in str(responses)
    assert "HTTPValidationError" not in document["components"]["schemas"]

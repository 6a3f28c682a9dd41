"""The OpenAPI schema against the running service: schemathesis sends generated requests
(valid and invalid, with arbitrary Unicode in every string) to every operation of a real
``scrape-docs serve`` and checks each answer: no 5xx, a documented status code, content
type and headers, a body that matches the schema, and a 4xx for input the schema forbids.

Every generated request is sent three ways: with a valid key and without one to a server
that has keys (without, no secured operation answers 2xx), and without one to a server that
has none (the keyless loopback mode, where the request reaches the handlers as its own
caller). Each server has crawled a small site on 127.0.0.1 first (the one private address
it may reach), and about half the generated job ids are replaced with that job's, so the
operations on a job reach its files. ``POST /api/v1/scrape/sync`` is left out: it crawls
the generated URL while the client waits (its answers are tested in test_scrape.py).

Bounded and deterministic in ``make test``: few examples per operation, a fixed seed, fresh
data folders, a queue of 3 (submissions beyond it answer 429, which is documented), other
private networks refused (generated URLs answer 400, or fail fast on DNS: there is no
internet here). ``make fuzz`` sets ``FUZZ_EXAMPLES`` (a few hundred per operation; and
``FUZZ_SEED`` for other examples): every failure is then collected instead of stopping the
operation at the first one, and a summary (operations, examples, answers per status, each
kind of failure once with the curl of its first request) ends the run, which fails if
there was any. Fixing one kind of failure may let the next run find what it hid. The
WebSocket is not in the OpenAPI schema, so it is not exercised.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import find, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scrape_api_docs.api import errors
from scrape_api_docs.api.main import create_app
from scrape_api_docs.api.models import requests as request_models
from scrape_api_docs.api.models import responses as response_models
from scrape_api_docs.crawler import options
from scrape_api_docs.exporters.registry import EXPORTERS
from scrape_api_docs.settings import Settings
from tests.api.test_live_server import CLI, LiveServer, cli_env
from tests.support.server import Reply, TestServer
from tests.support.sites import page

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 0)
"""``make fuzz``: examples per operation, every failure collected and summarised."""
MAX_EXAMPLES = FUZZ_EXAMPLES or 12
FUZZ_SEED = int(os.environ.get("FUZZ_SEED") or 20261130)
"""Another seed, other examples (the run stays deterministic for a given seed)."""
NOT_FUZZED = {("POST", "/api/v1/scrape/sync")}  # crawls the generated URL while it waits
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def docs_site() -> Iterator[TestServer]:
    """A three-page site on 127.0.0.1: each server crawls it once, so the operations on a
    job get a real job (with its files) as well as generated ids."""
    site = TestServer()
    site.route("/robots.txt", Reply(404, "", content_type="text/plain"))
    site.route("/docs/", Reply(body=page("Docs", ["/docs/a.html", "/docs/b.html"], "Start.")))
    site.route("/docs/a.html", Reply(body=page("Page A", ["/docs/"], "Ä, ß and 語 too.")))
    site.route("/docs/b.html", Reply(body=page("Page B", ["/docs/"], "The second page.")))
    yield site.start()
    site.stop()


def _serve(data_dir: Path, site: TestServer, *, with_key: bool) -> LiveServer:
    """``scrape-docs serve`` refusing private networks (127.0.0.1 alone excepted, for the
    site), with ``api_key`` (or None) and ``job_id``, a completed crawl of the site."""
    key = None
    if with_key:
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
            "SCRAPER_ALLOWED_HOSTS": "127.0.0.1",
            "SCRAPER_MAX_QUEUED_JOBS": "3",
            "SCRAPER_WORKERS": "1",
            "SCRAPER_SYNC_TIMEOUT": "5",
        },
    )
    server.api_key = key  # type: ignore[attr-defined]
    try:
        server.start()
        with server.client(headers={"X-API-Key": key} if key else {}) as client:
            submitted = client.post(
                "/api/v1/scrape",
                json={"url": site.url("/docs/"), "export_formats": ["markdown", "json"]},
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]
            deadline = time.monotonic() + 60
            while (job := client.get(f"/api/v1/jobs/{job_id}").json())["status"] != "completed":
                assert job["status"] in ("queued", "running"), job
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
        server.job_id = job_id  # type: ignore[attr-defined]
    except BaseException:
        server.cleanup()
        raise
    return server


@pytest.fixture(scope="module")
def live_api(
    tmp_path_factory: pytest.TempPathFactory, docs_site: TestServer
) -> Iterator[LiveServer]:
    """A server with one API key (``live_api.api_key``)."""
    server = _serve(tmp_path_factory.mktemp("schema") / "data", docs_site, with_key=True)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def keyless_api(
    tmp_path_factory: pytest.TempPathFactory, docs_site: TestServer
) -> Iterator[LiveServer]:
    """A server without keys: on loopback every caller is served as the local owner."""
    server = _serve(tmp_path_factory.mktemp("schema-keyless") / "data", docs_site, with_key=False)
    try:
        yield server
    finally:
        server.cleanup()


# --- what the run saw, for the ``make fuzz`` summary -----------------------------------------
@dataclass
class Finding:
    operation: str
    variant: str
    status: int | None
    problems: tuple[str, ...]
    curl: str
    count: int = 1


@dataclass
class Tally:
    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    findings: dict[tuple[str, str, int | None, tuple[str, ...]], Finding] = field(
        default_factory=dict
    )
    notes: dict[tuple[str, int], str] = field(default_factory=dict)
    """Secured operations that answered without a key something else than 401 (the body was
    read before the key was checked): one curl per operation and status."""
    started: float = field(default_factory=time.monotonic)

    def add(self, finding: Finding) -> None:
        key = (finding.operation, finding.variant, finding.status, finding.problems)
        if key in self.findings:
            self.findings[key].count += 1
        else:
            self.findings[key] = finding

    def report(self) -> str:
        requests_sent = sum(self.statuses.values())
        lines = [
            f"fuzz: {len(self.examples)} operations, {sum(self.examples.values())} examples, "
            f"{requests_sent} requests in {time.monotonic() - self.started:.0f} s; "
            f"{len(self.findings)} distinct failures",
        ]
        for operation, examples in sorted(self.examples.items()):
            seen: Counter[str] = Counter()
            for (op, variant, status), n in self.statuses.items():
                if op == operation:
                    seen[f"{variant} {status}"] += n
                elif op.startswith(f"{operation} (as "):
                    seen[f"other method {status}"] += n
            lines.append(
                f"  {operation}: {examples} examples; "
                + ", ".join(f"{what} x{n}" for what, n in sorted(seen.items()))
            )
        for (operation, status), curl in sorted(self.notes.items()):
            lines.append(f"NOTE {operation} [no key] -> {status}, not 401:\n    {curl}")
        for finding in self.findings.values():
            lines.append(
                f"FAILURE {finding.operation} [{finding.variant}] -> {finding.status} "
                f"(x{finding.count}): {'; '.join(finding.problems)}\n    {finding.curl}"
            )
        return "\n".join(lines)


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _fuzz_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if FUZZ_EXAMPLES and TALLY.examples:
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n{TALLY.report()}", flush=True)


# The app's own schema (building it needs no lifespan), so pytest sees one test per
# operation; test_the_served_schema_is_the_apps checks the server serves this one.
# (schemathesis.pytest.from_fixture, which would load it from the server, fails on pytest
# 9.2: it sets Node._nodeid, which pytest no longer has.)
APP_SCHEMA = create_app(Settings(data_dir=Path("unused"))).openapi()
# Strings: any Unicode (codec utf-8) including NUL, in bodies, queries and paths; header
# values stay ASCII (HTTP cannot carry more). The key is sent (or not) by the test itself.
CONFIG = SchemathesisConfig.from_str(
    f"""
seed = {FUZZ_SEED}
suppress-health-check = ["all"]

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true
database = "none"
codec = "utf-8"
allow-x00 = true
with-security-parameters = false

# Invalid input answers 4xx (5xx is not_a_server_error's to report; 413: a body too large).
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "404", "405", "413", "415", "422", "429", "5xx"]
"""
)

# ``format: uri`` strings (the crawl URL, the webhook URL) would otherwise be ASCII URIs
# only: these carry Unicode host names, paths and queries too, and sometimes no URI at all.
_LABEL = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12)
_UNICODE_URI = st.one_of(
    st.builds(
        "{}://{}/{}?{}".format,
        st.sampled_from(["http", "https", "HTTP", "ftp"]),
        st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
        st.text(max_size=30),
        st.text(max_size=15),
    ),
    st.text(min_size=1, max_size=40),
)
schemathesis.openapi.format("uri", _UNICODE_URI)

schema = schemathesis.openapi.from_dict(APP_SCHEMA, config=CONFIG).exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in NOT_FUZZED
)
SECURED = {
    (method.upper(), path)
    for path, operations in APP_SCHEMA["paths"].items()
    for method, operation in operations.items()
    if operation.get("security")
}


def _real_ids(case: Any, server: LiveServer) -> dict[str, Any]:
    """The case's path parameters, with the server's real job (and sometimes one of its
    files) in place of about half the generated ids, so the operations on a job get past
    the lookup. Never for DELETE: that would remove the job the other operations use."""
    params = dict(case.path_parameters or {})
    if "job_id" in params and case.method != "DELETE" and len(str(params["job_id"])) % 2 == 0:
        params["job_id"] = server.job_id  # type: ignore[attr-defined]
        if "filename" in params and len(str(params["filename"])) % 3 == 0:
            params["filename"] = "output.md"
    return params


def _send(case: Any, server: LiveServer, variant: str, headers: dict[str, str]) -> int | None:
    """One request and its checks; outside ``make fuzz`` a failure fails the test at once
    (hypothesis then shrinks it), under it the failure is tallied and the run goes on."""
    operation = case.operation.label
    if case.method != case.operation.method.upper():  # the coverage phase's method probes
        operation = f"{operation} (as {case.method})"
    generated = case.path_parameters
    case.path_parameters = _real_ids(case, server)
    status: int | None = None
    try:
        response = case.call(base_url=server.base_url, headers=headers, timeout=30)
        status = response.status_code
        TALLY.statuses[(operation, variant, status)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if (case.method, case.path) in SECURED and variant == "no key" and status != 401:
            if status < 400:
                raise AssertionError(f"a secured operation answered {status} without a key")
            curl = case.as_curl_command(headers=headers, base_url=server.base_url)
            TALLY.notes.setdefault((operation, status), curl)
    except FailureGroup as group:
        if not FUZZ_EXAMPLES:
            raise
        curl = case.as_curl_command(headers=headers, base_url=server.base_url)
        problems = tuple(sorted({failure.title for failure in group.exceptions}))
        TALLY.add(Finding(operation, variant, status, problems, curl))
    except (AssertionError, requests.RequestException) as exc:
        if not FUZZ_EXAMPLES:
            raise
        curl = case.as_curl_command(headers=headers, base_url=server.base_url)
        TALLY.add(Finding(operation, variant, status, (f"{type(exc).__name__}: {exc}",), curl))
    finally:
        case.path_parameters = generated
    return status


@schema.parametrize()
@settings(deadline=None)
def test_every_operation_conforms(case: Any, live_api: LiveServer, keyless_api: LiveServer) -> None:
    TALLY.examples[case.operation.label] += 1
    _send(case, live_api, "key", {"X-API-Key": live_api.api_key})  # type: ignore[attr-defined]
    _send(case, live_api, "no key", {})
    _send(case, keyless_api, "keyless server", {})


def test_the_fuzz_run_found_nothing() -> None:
    """Under ``make fuzz``, every failure the run tallied (one line each, with its curl)."""
    assert not TALLY.findings, TALLY.report()


def test_sync_scrape_is_the_only_operation_left_out() -> None:
    fuzzed = {(op.method.upper(), op.path) for op in _operations(schema)}
    every = {(m.upper(), p) for p, ops in APP_SCHEMA["paths"].items() for m in ops}
    assert every - fuzzed == NOT_FUZZED
    assert len(fuzzed) == len(every) - 1 >= 14


def _operations(loaded: Any) -> list[Any]:
    return [result.ok() for result in loaded.get_all_operations()]


def _non_ascii(value: Any) -> bool:
    """Non-ASCII text, also once percent-decoded (path parameters are sent quoted)."""
    return any(ord(ch) > 127 for ch in unquote(str(value)))


@pytest.mark.parametrize(
    ("method", "path", "part"),
    [
        ("POST", "/api/v1/scrape", "body"),
        ("POST", "/api/v1/auth/credentials", "body"),
        ("GET", "/api/v1/jobs/{job_id}", "path_parameters"),
        ("GET", "/api/v1/exports/{job_id}/{filename}", "path_parameters"),
    ],
)
def test_generated_strings_are_not_only_ascii(method: str, path: str, part: str) -> None:
    """The generation really sends Unicode (a codec of ``ascii`` would fail this); for the
    crawl URL too, which the ``uri`` format alone would keep ASCII."""
    strategy = schema[path][method].as_strategy()
    find(
        strategy,
        lambda case: _non_ascii(getattr(case, part)),
        settings=settings(max_examples=200, database=None, derandomize=True),
    )
    if path == "/api/v1/scrape":
        find(
            strategy,
            lambda case: isinstance(case.body, dict) and _non_ascii(case.body.get("url", "")),
            settings=settings(max_examples=200, database=None, derandomize=True),
        )


def test_every_file_a_job_serves_is_documented_with_its_media_type(live_api: LiveServer) -> None:
    download = APP_SCHEMA["paths"]["/api/v1/exports/{job_id}/{filename}"]["get"]["responses"]
    documented = set(download["200"]["content"])
    for exporter in EXPORTERS.values():
        for media in (exporter.content_type, *(extra[2] for extra in exporter.extra_files)):
            assert media.split(";")[0] in documented, (exporter.name, media)
    key = {"X-API-Key": live_api.api_key}  # type: ignore[attr-defined]
    with live_api.client(headers=key) as client:
        job_id = live_api.job_id  # type: ignore[attr-defined]
        formats = client.get(f"/api/v1/exports/{job_id}/metadata").json()["formats"]
        urls = [info["url"] for info in formats.values() if info["available"]]
        assert len(urls) >= 2  # markdown and json (and what the fuzzing converted)
        for url in urls:
            served = client.get(url)
            assert served.status_code == 200, served.text
            assert served.headers["content-type"].split(";")[0] in documented, url


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


@pytest.mark.checklist(16)
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

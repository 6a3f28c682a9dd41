"""The deployment files match the code: Docker cannot run here, so what can be checked is
checked. Every command the Dockerfile, the compose file and the Kubernetes manifests run
parses with the real ``scrape-docs`` command line; every ``SCRAPER_*`` variable they set
is a real setting; every probe and health check hits a real route of the app on the port
the command listens on; secrets referenced exist."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from scrape_api_docs.api.main import create_app
from scrape_api_docs.cli import cli
from scrape_api_docs.settings import Settings

DEPLOY = Path(__file__).parent.parent / "deploy"


def setting_names() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def check_command(argv: list[str]) -> click.Context:
    """``argv`` parsed by the real command line (options, their types and ranges), not run."""
    assert argv[0] == "scrape-docs", argv
    group: click.Command = cli
    args = argv[1:]
    parent = None
    while isinstance(group, click.Group):
        name, args = args[0], args[1:]
        command = group.get_command(click.Context(group), name)
        assert command is not None, f"no command {name!r} in {argv}"
        parent = click.Context(group, info_name=group.name, parent=parent)
        group = command
    return group.make_context(group.name, list(args), parent=parent)


def check_env(names: set[str], where: str) -> None:
    real = setting_names()
    unknown = sorted(n for n in names if n.startswith("SCRAPER_") and n not in real)
    assert not unknown, f"{where} sets variables that are no setting: {unknown}"


def route_paths() -> set[str]:
    """Every GET route of the app: its API (from the OpenAPI schema, with the routers'
    prefixes) and the routes outside it (``/``, the docs pages)."""
    app = create_app(Settings())
    schema = {path for path, ops in app.openapi()["paths"].items() if "get" in ops}
    return schema | {str(getattr(route, "path", "")) for route in app.routes}


def docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in docs(path):
            yield path, doc


def test_dockerfile_debian_chromium_non_root_and_a_real_command() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = " ".join(text.replace("\\\n", " ").splitlines())
    [base] = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert base.startswith("debian:"), base
    installs = re.search(r"apt-get install ([^&]+)", lines)
    assert installs is not None
    packages = set(installs[1].split())
    assert {"chromium", "chromium-headless-shell", "python3"} <= packages
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    [cmd] = re.findall(r"^CMD\s+(\[.*\])", text, re.M)
    check_command(json.loads(cmd))
    env = set(re.findall(r"\b(SCRAPER_[A-Z_]+)=", text))
    check_env(env, "Dockerfile")
    for command in re.findall(r"^#\s+docker run .*? (scrape-docs .*)$", text, re.M):
        check_command(shlex.split(command))


def test_compose_services_run_real_commands_with_real_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "s3"} <= set(services)
    ours = {name: s for name, s in services.items() if "scrape-api-docs" in s.get("image", "")}
    assert set(ours) == {"api", "worker"}
    paths = route_paths()
    for name, service in ours.items():
        ctx = check_command(service["command"])
        env = service.get("environment", {})
        check_env(set(env), f"compose service {name}")
        assert env["SCRAPER_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["SCRAPER_REDIS_URL"].startswith("redis://")
        assert env["SCRAPER_ARTIFACT_URL"].startswith("s3://")
        if name == "api":
            assert ctx.params["no_workers"] and ctx.params["host"] == "0.0.0.0"
            probe = " ".join(service["healthcheck"]["test"])
            found = re.search(r"http://127\.0\.0\.1:(\d+)(/[^'\"]*)", probe)
            assert found and int(found[1]) == ctx.params["port"]
            assert found[2] in paths
            assert f"{ctx.params['port']}:{ctx.params['port']}" in service["ports"]
        else:
            assert ctx.params["metrics_port"] and ctx.params["metrics_host"] == "0.0.0.0"
    # The one-off commands the header tells the operator to run.
    header = (DEPLOY / "compose.yaml").read_text()
    for command in re.findall(r"run --rm api (scrape-docs [^#\n]*)", header):
        check_command(shlex.split(command))


def test_kubernetes_manifests_match_the_code() -> None:
    paths = route_paths()
    documents = list(k8s_documents())
    kinds = {doc["kind"] for _, doc in documents}
    assert {"Deployment", "Service", "Secret", "ConfigMap"} <= kinds
    secrets = {
        doc["metadata"]["name"]: set(doc.get("stringData", {}) | doc.get("data", {}))
        for _, doc in documents
        if doc["kind"] == "Secret"
    }
    configmaps = {
        doc["metadata"]["name"]: set(doc["data"])
        for _, doc in documents
        if doc["kind"] == "ConfigMap"
    }
    for names in configmaps.values():
        check_env(names, "ConfigMap")
    deployments = {
        doc["metadata"]["name"]: doc for _, doc in documents if doc["kind"] == "Deployment"
    }
    assert {"scraper-api", "scraper-worker"} <= set(deployments)
    pods = [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for _, doc in documents
        if doc["kind"] in ("Deployment", "Job")
    ]
    for name, pod in pods:
        for container in pod["containers"]:
            ctx = check_command(container["command"])
            assert container["resources"]["requests"] and container["resources"]["limits"]
            env = {item["name"]: item for item in container.get("env", [])}
            check_env(set(env), f"{name}/{container['name']}")
            for item in env.values():
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], ref
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind)
                if probe is None:
                    continue
                handler = probe.get("httpGet") or probe.get("tcpSocket")
                port = (
                    ports[handler["port"]] if isinstance(handler["port"], str) else handler["port"]
                )
                if name == "scraper-api":
                    assert port == ctx.params["port"]
                    assert probe["httpGet"]["path"] in paths, probe
                else:
                    assert port == ctx.params["metrics_port"]
                    if "httpGet" in probe:
                        assert probe["httpGet"]["path"] == "/metrics"
            if name == "scraper-api":
                assert ctx.params["no_workers"] and ctx.params["host"] == "0.0.0.0"
                assert container.get("readinessProbe") and container.get("livenessProbe")
            if name == "scraper-worker":
                assert ctx.params["metrics_host"] == "0.0.0.0"
                assert container.get("readinessProbe") and container.get("livenessProbe")
        if pod.get("securityContext"):
            assert pod["securityContext"]["runAsNonRoot"] is True
    [service] = [doc for _, doc in documents if doc["kind"] == "Service"]
    api_pod = deployments["scraper-api"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= api_pod["metadata"]["labels"].items()
    api_ports = {p["name"] for c in api_pod["spec"]["containers"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= api_ports

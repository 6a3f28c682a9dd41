"""An S3 of the tests' own: moto's server on 127.0.0.1, a bucket per test."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrape_api_docs.settings import Settings
from tests.support.redis_servers import free_port


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the moto server at ``endpoint``: what a test reads the buckets
    with, apart from the code under test (obstore)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class MotoS3:
    def __init__(self) -> None:
        try:
            import moto.server  # noqa: F401 - (only: is it installed)
        except ImportError as exc:  # pragma: no cover - moto[server] is a dev dependency
            pytest.skip(f"moto[server] is not installed ({exc})")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # (a line per request)
        self.port = free_port()
        self.server: Any = None
        self.start()

    def start(self) -> None:
        """(Again, after ``stop``: the same port, and the buckets kept in this process.)"""
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return s3_client(self.endpoint)

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, tmp_path: Path, **values: object) -> Settings:
        return Settings(data_dir=tmp_path / "data", **self.values(), **values)  # type: ignore[arg-type]

    def values(self) -> dict[str, object]:
        """The settings that put artifacts in a new bucket of this server."""
        return {
            "artifact_url": f"s3://{self.new_bucket()}/artifacts",
            "s3_endpoint_url": self.endpoint,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def moto_s3() -> Iterator[MotoS3]:
    """Body of a fixture: one moto server for the scope that uses it."""
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()

"""The artifact store in S3-compatible object storage (``SCRAPER_ARTIFACT_URL=s3://bucket/prefix``).

Through ``obstore`` (the Rust ``object_store`` crate: AWS, MinIO, moto, any S3 API). Keys
are the same ``<job_id>/<filename>`` under the URL's prefix. ``put`` streams (a file or a
stream of bytes, in multipart chunks, hashed on the way) and stores nothing when the source
fails; ``open`` answers a reader whose ``chunks`` stream any byte range with ranged GETs,
never the whole object in memory; ``delete_job`` and ``usage`` list the prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.artifacts import (
    CHUNK,
    ArtifactReader,
    InvalidKeyError,
    StoredArtifact,
    plain_name,
    split_key,
)

PART = 8 * 1024 * 1024
"""Bytes a multipart upload sends per part (S3's minimum is 5 MiB)."""


def s3_store(settings: Settings) -> S3Store:
    """The bucket and prefix of ``settings.artifact_url``, with the endpoint and
    credentials settings (when unset, the environment's: ``AWS_*``, an instance role)."""
    assert settings.artifact_url is not None
    url = urlsplit(settings.artifact_url)
    config: dict[str, Any] = {"region": settings.s3_region}
    if settings.s3_endpoint_url:
        config["endpoint"] = settings.s3_endpoint_url
    if settings.s3_access_key_id is not None:
        config["access_key_id"] = settings.s3_access_key_id.get_secret_value()
    if settings.s3_secret_access_key is not None:
        config["secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    allow_http = bool(settings.s3_endpoint_url and settings.s3_endpoint_url.startswith("http:"))
    return S3Store(
        url.netloc,
        prefix=url.path.strip("/") or None,
        client_options={"allow_http": allow_http, "timeout": "60s", "connect_timeout": "5s"},
        **config,
    )


@dataclass
class _S3Reader:
    store: S3Store
    key: str
    size: int
    modified: float
    e_tag: str | None

    async def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return
        options: dict[str, Any] = {"range": (start, end)}
        if self.e_tag:
            options["if_match"] = self.e_tag  # the object opened, not one put since
        result = await obstore.get_async(self.store, self.key, options=options)  # type: ignore[arg-type]
        async for chunk in result.stream(min_chunk_size=CHUNK):
            yield bytes(chunk)


CHECK_TTL = 5.0
"""Seconds a health check's answer from the bucket is reused (probes poll often)."""
CHECK_TIMEOUT = 3.0
"""Seconds the health check waits for the bucket (a store that hangs is down)."""
CHECK_KEY = ".health-check"
"""A key never written: asking for it is one cheap HEAD (404 = the bucket answers)."""


class S3ArtifactStore:
    """``ArtifactStore`` on an S3 bucket (under a prefix)."""

    def __init__(self, store: S3Store) -> None:
        self.store = store
        self._checked: tuple[float, str | None] | None = None
        self._checking = asyncio.Lock()

    async def check(self) -> str | None:
        async with self._checking:  # one request at a time, whatever asks
            loop = asyncio.get_running_loop()
            if self._checked is not None and loop.time() - self._checked[0] < CHECK_TTL:
                return self._checked[1]
            problem: str | None = None
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await obstore.head_async(self.store, CHECK_KEY)
            except FileNotFoundError:
                pass  # the bucket answered
            except TimeoutError:
                problem = f"no answer within {CHECK_TIMEOUT:g} s"
            except Exception as exc:  # refused, bucket gone, credentials refused...
                problem = _first_line(exc)
            self._checked = (loop.time(), problem)
            return problem

    async def put(
        self, key: str, source: Path | AsyncIterable[bytes], content_type: str
    ) -> StoredArtifact:
        split_key(key)
        digest, size = hashlib.sha256(), 0
        failure: list[BaseException] = []

        async def hashed(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
            nonlocal size
            try:
                async for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
            except BaseException as exc:  # the upload is aborted; the caller sees this
                failure.append(exc)
                raise

        chunks = _file_chunks(source) if isinstance(source, Path) else source
        try:
            await obstore.put_async(
                self.store,
                key,
                hashed(chunks),
                attributes={"Content-Type": content_type},
                chunk_size=PART,
            )
        except BaseException:
            if failure:
                raise failure[0] from None
            raise
        if isinstance(source, Path):
            await asyncio.to_thread(source.unlink)  # moved in
        return StoredArtifact(key, size, digest.hexdigest(), content_type)

    async def open(self, key: str) -> ArtifactReader | None:
        try:
            split_key(key)
        except InvalidKeyError:
            return None
        try:
            meta = await obstore.head_async(self.store, key)
        except FileNotFoundError:
            return None
        return _S3Reader(
            self.store, key, meta["size"], meta["last_modified"].timestamp(), meta["e_tag"]
        )

    async def delete(self, key: str) -> None:
        split_key(key)
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self.store, key)

    async def _keys(self, prefix: str | None) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        async for batch in obstore.list(self.store, prefix, chunk_size=1000):
            found += [(meta["path"], meta["size"]) for meta in batch]
        return found

    async def delete_job(self, job_id: str) -> None:
        keys = [path for path, _ in await self._keys(plain_name(job_id))]
        for start in range(0, len(keys), 1000):
            await obstore.delete_async(self.store, keys[start : start + 1000])

    async def usage(self, job_ids: Collection[str] | None = None) -> int:
        """One listing of the prefix (keys are ``<job_id>/<filename>``), whatever the
        number of jobs asked about."""
        wanted = None if job_ids is None else {plain_name(job_id) for job_id in job_ids}
        return sum(
            size
            for path, size in await self._keys(None)
            if wanted is None or path.split("/", 1)[0] in wanted
        )


def _first_line(exc: BaseException) -> str:
    """The error's kind and the first line of obstore's (long, multi-line) message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, 1 << 20):
            yield chunk
    finally:
        handle.close()

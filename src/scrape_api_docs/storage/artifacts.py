"""The artifact store: where a job's export files live, addressed by key, not by path.

A key is ``<job_id>/<filename>`` (``artifact_key``); the database records keys, and
nothing above this module ever builds a path from one. ``put`` takes a finished file
(moved in: a rename on the same disk, so a download never sees half a file) or a stream
of bytes, and answers with what the database records (size, SHA-256, content type);
``open`` answers a reader that streams any byte range of the object; ``delete`` and
``delete_job`` remove one object or every object of a job; ``usage`` is the bytes held.

``LocalArtifactStore`` keeps objects as files under a folder (``<data_dir>/jobs``): the
layout a job folder always had; ``S3ArtifactStore`` (``artifacts_s3.py``) keeps them in
S3-compatible object storage. ``tests/contracts/test_artifact_store.py`` holds both to the
same five calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scrape_api_docs.settings import Settings

CHUNK = 64 * 1024
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
"""One segment of a key: a job id or a file name; never ``.``, ``..``, a slash or a NUL."""


class InvalidKeyError(ValueError):
    """A key that is not ``<job_id>/<filename>`` of plain names."""


def artifact_key(job_id: str, filename: str) -> str:
    """The key of a job's file; refuses anything that is not two plain names."""
    key = f"{job_id}/{filename}"
    split_key(key)
    return key


def plain_name(name: str) -> str:
    """``name`` when it is one plain file name (a job id, a file of a job); never a path."""
    if not _PART.fullmatch(name):
        raise InvalidKeyError(f"not a plain name: {name[:100]!r}")
    return name


def split_key(key: str) -> tuple[str, str]:
    job_id, sep, filename = key.partition("/")
    if not sep or not _PART.fullmatch(job_id) or not _PART.fullmatch(filename):
        raise InvalidKeyError(f"not an artifact key: {key[:100]!r}")
    return job_id, filename


@dataclass(frozen=True)
class StoredArtifact:
    """What ``put`` stored: what the database records of it."""

    key: str
    size: int
    checksum: str
    """SHA-256 of the content, hex."""
    content_type: str


class ArtifactReader(Protocol):
    """One stored object, opened for reading."""

    size: int
    modified: float
    """When it was stored (Unix time): a download's Last-Modified."""

    def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start`` up to ``end`` (exclusive; default: the end), in chunks."""
        ...


class ArtifactStore(Protocol):
    async def put(
        self, key: str, source: Path | AsyncIterable[bytes], content_type: str
    ) -> StoredArtifact:
        """Store ``source`` under ``key`` (replacing what was there), all or nothing.
        A ``Path`` is moved in (the file is gone from where it was afterwards)."""
        ...

    async def open(self, key: str) -> ArtifactReader | None:
        """The object for reading, or None when there is none under ``key``."""
        ...

    async def delete(self, key: str) -> None:
        """Remove one object (nothing happens when there is none)."""
        ...

    async def delete_job(self, job_id: str) -> None:
        """Remove every object of the job."""
        ...

    async def usage(self, job_ids: Collection[str] | None = None) -> int:
        """Bytes held (of these jobs only, when given)."""
        ...

    async def check(self) -> str | None:
        """None when the store answers, else why not (for the health check: cheap, and
        cached a few seconds by stores that ask a server)."""
        ...


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_folders_bytes(root: Path, job_ids: Collection[str]) -> int:
    """Bytes in the folders of these jobs under ``root`` (exports, page store, images)."""
    return sum(folder_bytes(root / plain_name(job_id)) for job_id in job_ids)


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


@dataclass
class _LocalReader:
    path: Path
    size: int
    modified: float

    async def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            while start < end:
                chunk = await asyncio.to_thread(handle.read, min(CHUNK, end - start))
                if not chunk:
                    raise OSError(f"artifact {self.path.name!r} is shorter than when opened")
                start += len(chunk)
                yield chunk
        finally:
            handle.close()


class LocalArtifactStore:
    """Objects as files under ``root``: key ``<job_id>/<filename>`` is
    ``root/<job_id>/<filename>``. A job's folder is shared with its page store and image
    cache in this layout, so ``delete_job`` removes the folder with them (the callers
    also delete the page store, a no-op then)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        job_id, filename = split_key(key)
        return self.root / job_id / filename

    async def put(
        self, key: str, source: Path | AsyncIterable[bytes], content_type: str
    ) -> StoredArtifact:
        target = self._path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        if isinstance(source, Path):
            await asyncio.to_thread(_move, source, target)
            size = (await asyncio.to_thread(target.stat)).st_size
            checksum = await asyncio.to_thread(sha256_file, target)
            return StoredArtifact(key, size, checksum, content_type)
        # A stream goes into a temporary file beside the target, renamed when complete.
        fd, name = await asyncio.to_thread(tempfile.mkstemp, prefix=".put-", dir=target.parent)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in source:
                    digest.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(os.replace, name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        return StoredArtifact(key, size, digest.hexdigest(), content_type)

    async def open(self, key: str) -> ArtifactReader | None:
        try:
            path = self._path(key)
        except InvalidKeyError:
            return None
        try:
            info = await asyncio.to_thread(path.lstat)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return _LocalReader(path, info.st_size, info.st_mtime)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._path(key).unlink)

    async def delete_job(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.root / plain_name(job_id), True)

    async def usage(self, job_ids: Collection[str] | None = None) -> int:
        """(A job's whole folder: its page store and image cache live there too.)"""
        if job_ids is None:
            return await asyncio.to_thread(folder_bytes, self.root)
        return await asyncio.to_thread(job_folders_bytes, self.root, job_ids)

    async def check(self) -> str | None:
        return None  # the data folder it lives in is the health check's own "storage"


def _move(source: Path, target: Path) -> None:
    """A rename on the same disk; across disks a copy beside the target, then a rename."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        partial = target.with_name(f".put-{target.name}")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        source.unlink()


def build_artifact_store(settings: Settings) -> ArtifactStore:
    """The artifact store ``settings`` pick: S3-compatible object storage when
    ``SCRAPER_ARTIFACT_URL`` is set (``artifacts_s3.py``), else files under
    ``<data_dir>/jobs``."""
    if settings.artifact_url is not None:
        from scrape_api_docs.storage.artifacts_s3 import S3ArtifactStore, s3_store

        return S3ArtifactStore(s3_store(settings))
    return LocalArtifactStore(settings.jobs_dir)

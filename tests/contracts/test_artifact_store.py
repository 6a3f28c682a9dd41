"""The artifact store's contract, run against every implementation ("embedded": files
under a folder; "s3": object storage, moto's S3 server on 127.0.0.1).

Covers put (a file moved in, a stream of bytes), open (size, any byte range), the
download built on it (ETag, If-None-Match, Range, several ranges, If-Range), delete of
one key and of a job, and usage."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from scrape_api_docs.api.download import download_response
from scrape_api_docs.api.errors import install_error_handlers
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.artifacts import (
    ArtifactStore,
    InvalidKeyError,
    artifact_key,
    build_artifact_store,
)
from tests.support.s3 import MotoS3, moto_s3

BODY = bytes(range(256)) * 1000  # 256,000 bytes, every byte value
TYPE = "text/markdown; charset=utf-8"


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    yield from moto_s3()


@pytest.fixture(params=["embedded", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "embedded":
        yield build_artifact_store(Settings(data_dir=tmp_path / "data"))
        return
    assert request.param == "s3"
    s3: MotoS3 = request.getfixturevalue("s3")
    yield build_artifact_store(s3.settings(tmp_path))


async def _stream(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_all(store: ArtifactStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    reader = await store.open(key)
    assert reader is not None
    return b"".join([chunk async for chunk in reader.chunks(start, end)])


async def test_put_a_file_moves_it_in(store: ArtifactStore, tmp_path: Path) -> None:
    staged = tmp_path / "staging" / "output.md"
    staged.parent.mkdir()
    staged.write_bytes(BODY)
    key = artifact_key("job_a", "output.md")
    stored = await store.put(key, staged, TYPE)
    assert (stored.key, stored.size, stored.content_type) == (key, len(BODY), TYPE)
    assert stored.checksum == hashlib.sha256(BODY).hexdigest()
    assert not staged.exists()  # moved, not copied
    reader = await store.open(key)
    assert reader is not None and reader.size == len(BODY) and reader.modified > 0
    assert await read_all(store, key) == BODY


async def test_put_a_stream_and_replace(store: ArtifactStore) -> None:
    key = artifact_key("job_a", "output.json")
    stored = await store.put(key, _stream(BODY), "application/json")
    assert stored.size == len(BODY)
    assert stored.checksum == hashlib.sha256(BODY).hexdigest()
    assert await read_all(store, key) == BODY
    again = await store.put(key, _stream(b"{}"), "application/json")
    assert again.size == 2 and await read_all(store, key) == b"{}"


async def test_a_failed_stream_leaves_nothing(store: ArtifactStore) -> None:
    key = artifact_key("job_a", "output.md")
    await store.put(key, _stream(b"old"), TYPE)

    async def broken() -> AsyncIterator[bytes]:
        yield b"half of it"
        raise OSError("the source went away")

    with pytest.raises(OSError, match="went away"):
        await store.put(key, broken(), TYPE)
    assert await read_all(store, key) == b"old"  # all or nothing
    assert await store.usage() == 3


async def test_ranges(store: ArtifactStore) -> None:
    key = artifact_key("job_a", "output.md")
    await store.put(key, _stream(BODY), TYPE)
    assert await read_all(store, key, 0, 100) == BODY[:100]
    assert await read_all(store, key, 100_000, 200_001) == BODY[100_000:200_001]
    assert await read_all(store, key, len(BODY) - 5) == BODY[-5:]
    assert await read_all(store, key, 10, 10) == b""


async def test_missing_and_invalid_keys(store: ArtifactStore) -> None:
    assert await store.open(artifact_key("job_a", "nothing.md")) is None
    for bad in ("job_a/../secret.key", "../x", "job_a", "/etc/passwd", "job_a/x/y", "a/\0"):
        assert await store.open(bad) is None, bad
        with pytest.raises(InvalidKeyError):
            await store.put(bad, _stream(b"x"), TYPE)
    for job_id, name in (("..", "x"), ("job_a", ".."), ("job_a", "a/b"), ("job\n", "x")):
        with pytest.raises(InvalidKeyError):
            artifact_key(job_id, name)


async def test_delete_and_usage(store: ArtifactStore) -> None:
    assert await store.usage() == 0
    a1, a2 = artifact_key("job_a", "output.md"), artifact_key("job_a", "llms.txt")
    b1 = artifact_key("job_b", "output.md")
    await store.put(a1, _stream(b"a" * 1000), TYPE)
    await store.put(a2, _stream(b"a" * 500), "text/plain")
    await store.put(b1, _stream(b"b" * 250), TYPE)
    assert await store.usage() == 1750
    assert await store.usage(["job_a"]) == 1500 and await store.usage(["job_b", "job_c"]) == 250
    assert await store.usage([]) == 0
    await store.delete(a2)
    await store.delete(a2)  # gone already: nothing happens
    assert await store.open(a2) is None and await store.usage() == 1250
    await store.delete_job("job_a")
    await store.delete_job("job_a")
    assert await store.open(a1) is None
    assert await read_all(store, b1) == b"b" * 250  # another job's objects stay
    assert await store.usage() == 250


async def test_check_says_the_store_answers(store: ArtifactStore) -> None:
    assert await store.check() is None


# --- the download built on ``open`` ---------------------------------------------------------
def download_app(store: ArtifactStore, key: str, etag: str) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/file")
    async def download(request: Request) -> Response:
        reader = await store.open(key)
        assert reader is not None
        return download_response(request, reader, etag=etag, media_type=TYPE, filename="output.md")

    return app


async def test_download_etag_and_ranges(store: ArtifactStore) -> None:
    key = artifact_key("job_a", "output.md")
    stored = await store.put(key, _stream(BODY), TYPE)
    etag = f'"{stored.checksum}"'
    transport = httpx.ASGITransport(app=download_app(store, key, etag))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        whole = await client.get("/file")
        assert whole.status_code == 200 and whole.content == BODY
        assert whole.headers["etag"] == etag
        assert whole.headers["content-length"] == str(len(BODY))
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-disposition"] == 'attachment; filename="output.md"'
        modified = whole.headers["last-modified"]

        for header in (etag, f"W/{etag}", f'"x", {etag}', "*"):
            cached = await client.get("/file", headers={"If-None-Match": header})
            assert cached.status_code == 304 and cached.content == b""

        part = await client.get("/file", headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == BODY[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(BODY)}"

        several = await client.get("/file", headers={"Range": "bytes=0-9, 500-509"})
        assert several.status_code == 206
        boundary = several.headers["content-type"].split("boundary=")[1]
        assert int(several.headers["content-length"]) == len(several.content)
        parts = several.content.split(f"--{boundary}".encode())
        assert parts[1].endswith(b"\r\n\r\n" + BODY[:10] + b"\r\n")
        assert b"Content-Range: bytes 500-509/" in parts[2]
        assert parts[2].endswith(BODY[500:510] + b"\r\n") and parts[3] == b"--"

        for if_range in (etag, modified):
            fresh = await client.get("/file", headers={"Range": "bytes=0-9", "If-Range": if_range})
            assert fresh.status_code == 206 and fresh.content == BODY[:10]
        for if_range in ('"stale"', f"W/{etag}", "Thu, 01 Jan 1970 00:00:00 GMT"):
            stale = await client.get("/file", headers={"Range": "bytes=0-9", "If-Range": if_range})
            assert stale.status_code == 200 and stale.content == BODY

        outside = await client.get("/file", headers={"Range": f"bytes={len(BODY)}-"})
        assert outside.status_code == 416
        assert outside.headers["content-range"] == f"bytes */{len(BODY)}"
        assert outside.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
        malformed = await client.get("/file", headers={"Range": "pages=1-2"})
        assert malformed.status_code == 400

"""Capped body reads (decompressed size counts) and decoding of mislabelled pages."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest

from scrape_api_docs.crawler.body import read_capped
from scrape_api_docs.encodings import decode_html
from scrape_api_docs.errors import FetchError


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_plain_gzip_and_deflate_bodies_decode() -> None:
    text = b"<p>hello</p>" * 100
    assert await read_capped(chunks(text), None, 10_000, "u") == text
    assert await read_capped(chunks(gzip.compress(text)), "gzip", 10_000, "u") == text
    assert await read_capped(chunks(zlib.compress(text)), "deflate", 10_000, "u") == text
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(text) + raw.flush()
    assert await read_capped(chunks(raw_deflate), "deflate", 10_000, "u") == text


@pytest.mark.checklist(17)
async def test_cap_counts_decompressed_bytes_with_bounded_memory() -> None:
    bomb = gzip.compress(b"\0" * (512 * 1024 * 1024), 9)  # 512 MB of zeros, ~500 KB on the wire
    tracemalloc.start()
    with pytest.raises(FetchError) as info:
        await read_capped(chunks(bomb), "gzip", 5 * 1024 * 1024, "u")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.reason == "body too large"
    assert peak < 40 * 1024 * 1024


async def test_identity_body_over_the_cap() -> None:
    with pytest.raises(FetchError, match="cap"):
        await read_capped(chunks(b"x" * 5000), "identity", 4096, "u")


async def test_unknown_or_corrupt_encodings_are_clear_errors() -> None:
    with pytest.raises(FetchError, match="unsupported Content-Encoding"):
        await read_capped(chunks(b"x"), "br", 100, "u")
    with pytest.raises(FetchError, match="corrupt"):
        await read_capped(chunks(b"not gzip at all"), "gzip", 100, "u")


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("Grüße".encode(), "text/html", "Grüße"),
        ("Grüße".encode(), "text/html; charset=iso-8859-1", "Grüße"),  # lying header
        (
            "<html><body><p>Le café coûte 5 €, s’il vous plaît.</p></body></html>".encode("cp1252"),
            "text/html; charset=utf-8",  # mislabelled
            "Le café coûte 5 €, s’il vous plaît.",
        ),
        ("café".encode("latin-1"), "text/html; charset=ISO-8859-1", "café"),
        ("\ufeffBOM text".encode(), None, "BOM text"),
        ("日本語のページ".encode("shift_jis"), "text/html; charset=shift_jis", "日本語のページ"),
        (
            b"<html><head><meta charset='koi8-r'></head><body>"
            + "Привет, мир".encode("koi8-r")
            + b"</body></html>",
            "text/html",
            "Привет, мир",
        ),
    ],
)
def test_decoding(body: bytes, content_type: str | None, expected: str) -> None:
    text, _ = decode_html(body, content_type)
    assert expected in text


@pytest.mark.checklist(22)
def test_invalid_bytes_never_raise() -> None:
    text, _ = decode_html(bytes(range(256)) * 10, "text/html; charset=utf-8")
    assert isinstance(text, str)

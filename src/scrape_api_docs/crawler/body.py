"""Reading a response body under a size cap that counts decompressed bytes.

We ask only for gzip/deflate and decompress ourselves with ``max_length``, so a small
body that inflates to gigabytes costs at most the cap (plus one bounded step) in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from scrape_api_docs.errors import FetchError

ACCEPT_ENCODING = "gzip, deflate"
_STEP = 256 * 1024


class _Identity:
    def feed(self, data: bytes, limit: int) -> bytes:
        return data[:limit] if len(data) > limit else data

    @property
    def unconsumed(self) -> bool:
        return False


class _Zlib:
    def __init__(self, encoding: str) -> None:
        # 47 = auto-detect gzip or zlib header; raw deflate is tried when that fails.
        self._d = zlib.decompressobj(47)
        self._raw_fallback = encoding == "deflate"
        self._pending = b""

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._d.decompress(self._pending + data, limit)
        except zlib.error:
            if not self._raw_fallback:
                raise
            self._raw_fallback = False
            self._d = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._d.decompress(self._pending + data, limit)
        self._pending = self._d.unconsumed_tail
        return out

    @property
    def unconsumed(self) -> bool:
        return bool(self._pending)


async def read_capped(
    chunks: AsyncIterator[bytes], content_encoding: str | None, cap: int, url: str
) -> bytes:
    """Collect a body, decoding gzip/deflate, refusing past ``cap`` decoded bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    decoder: _Identity | _Zlib
    if encoding in ("", "identity"):
        decoder = _Identity()
    elif encoding in ("gzip", "x-gzip", "deflate"):
        decoder = _Zlib(encoding)
    else:
        raise FetchError(
            f"{url}: unsupported Content-Encoding {encoding!r} (we asked for {ACCEPT_ENCODING})",
            reason="unsupported encoding",
        )
    out = bytearray()

    def take(data: bytes) -> None:
        piece = decoder.feed(data, min(_STEP, cap + 1 - len(out)))
        out.extend(piece)
        while decoder.unconsumed and len(out) <= cap:
            out.extend(decoder.feed(b"", min(_STEP, cap + 1 - len(out))))
        if len(out) > cap:
            raise FetchError(
                f"{url}: body larger than the {cap // (1024 * 1024) or cap} "
                f"{'MB' if cap >= 1024 * 1024 else 'bytes'} cap (decompressed)",
                reason="body too large",
            )

    try:
        async for chunk in chunks:
            take(chunk)
    except zlib.error as exc:
        raise FetchError(f"{url}: corrupt compressed body ({exc})", reason="bad encoding") from exc
    return bytes(out)

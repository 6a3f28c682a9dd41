"""Bytes to text for HTML pages whose declared encoding may be missing or wrong."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:-]+)["']""")
_LATIN_SINGLE_BYTE = frozenset(
    {
        "cp1250",
        "cp1252",
        "cp1254",
        "cp1257",
        "latin_1",
        "iso8859_1",
        "iso8859_2",
        "iso8859_9",
        "iso8859_15",
        "mac_latin2",
        "mac_roman",
        "mac_iceland",
        "cp850",
        "cp858",
    }
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.I)
    return match.group(1) if match else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Return (text, encoding used).

    Order: a BOM; then UTF-8 if the bytes are valid UTF-8 (a page that decodes as UTF-8
    almost surely is, whatever its header or ``<meta>`` claims); then the declared
    charsets (header, XML declaration, ``<meta>``) if they decode cleanly; then
    charset-normalizer's detection; last, UTF-8 with replacement characters.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace"), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    head = body[:4096]
    declared: list[str | None] = [charset_from_content_type(content_type)]
    for pattern in (_XML_DECL, _META_CHARSET):
        match = pattern.search(head)
        declared.append(match.group(1).decode("ascii", "ignore") if match else None)
    for label in declared:
        codec = _codec(label)
        if codec and codec not in ("utf-8",):
            # HTML's rule: latin-1 and ascii labels mean windows-1252.
            if codec in ("ascii", "iso8859-1"):
                codec = "cp1252"
            try:
                return body.decode(codec), codec
            except UnicodeDecodeError:
                continue
    best = from_bytes(body[:65536]).best()
    if best is not None and best.encoding:
        guess = best.encoding
        # Latin-script single-byte guesses are often confused with each other on short
        # text; windows-1252 is what the web's unlabelled Latin pages almost always are.
        if guess in _LATIN_SINGLE_BYTE:
            try:
                return body.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                pass
        return body.decode(guess, errors="replace"), guess
    return body.decode("utf-8", errors="replace"), "utf-8"

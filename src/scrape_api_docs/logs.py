"""Structured JSON logs (structlog) for the service; request and job ids ride along, and
the trace and span ids while tracing is on.

Secrets never reach a log line: every structlog event passes ``redact_event`` and every
standard-library record (uvicorn, alembic, httpx) is rendered through ``redact_text``, the
same rules; exceptions are rendered without their frames' local variables.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

REDACTED = "[REDACTED]"

# A field, header, cookie or query parameter whose name says it holds a secret:
# Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-API-Key, api_key, token,
# access_token, password, webhook_secret, X-Scraper-Signature, credentials, ...
_SECRET_WORDS = "|".join(
    (
        "authorization",
        "cookie",
        "api[_-]?key",
        "apikey",
        "key",
        "token",
        "password",
        "passwd",
        "pwd",
        "secret",
        "signature",
        "sig",
        "credentials?",
        "auth",
        "session(?:id)?",
    )
)
_SECRET_NAME = re.compile(rf"^(?:[\w.-]*[_-])?(?:{_SECRET_WORDS})$", re.IGNORECASE)


def _pair_rule(names: str, bare_value: str) -> re.Pattern[str]:
    """``name`` (optionally quoted), ``:``, ``=`` or ``,``, then a quoted or bare value."""
    return re.compile(
        rf"""(?P<q>b?["']?)\b(?P<name>{names})(?P=q)(?P<sep>\s*[:=,]\s*)"""
        rf"""(?P<v>b?"[^"\r\n]*"|b?'[^'\r\n]*'|{bare_value})""",
        re.IGNORECASE,
    )


def _pair(match: re.Match[str]) -> str:
    value = match["v"]
    opening = value[:2] if value[:1] == "b" else value[:1]
    quote = opening[-1:]
    if quote in ("'", '"') and len(value) > len(opening) and value.endswith(quote):
        shown = opening + REDACTED + quote
    elif match["sep"].strip() == "," or not value.strip():
        return match[0]  # "token, then ..." in prose, or nothing to hide
    else:
        shown = REDACTED
    return f"{match['q']}{match['name']}{match['q']}{match['sep']}{shown}"


_TEXT_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Userinfo of a URL: https://user:password@host/ -> https://[REDACTED]@host/
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/?#@\"'<>]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
    # Header-like pairs, in text or in the repr of a dict or of ASGI headers:
    # "Authorization: Bearer x", "'cookie': 'a=b; c=d'", "(b'x-api-key', b'sda_...')".
    # A header value runs over spaces and ';' (Cookie: a=1; b=2), a field's does not.
    (_pair_rule(r"(?:proxy-)?authorization|(?:set-)?cookie", r"[^\r\n\"'}\]]*"), _pair),
    (
        _pair_rule(
            r"[\w-]*api[_-]?key|x-scraper-signature|[\w-]*secret|[\w-]*password|[\w-]*token",
            r"[^\s&#;,\"'<>}\])]*",
        ),
        _pair,
    ),
    # Query and form parameters: ?api_key=..., &token=..., &X-Amz-Signature=...
    (
        re.compile(
            rf"(?<![\w.-])((?:[\w.-]*[_-])?(?:{_SECRET_WORDS})=)[^&#\s\"'<>;,]*", re.IGNORECASE
        ),
        rf"\1{REDACTED}",
    ),
    # Credentials by their form, wherever they appear.
    (re.compile(r"\b(Bearer)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\b(Basic)\s+[A-Za-z0-9+/]{8,}={0,2}(?![\w:])"), rf"\1 {REDACTED}"),
    # This service's own API keys and webhook signing secrets (keys.py).
    (re.compile(r"\b(?:sda|whsec)_[A-Za-z0-9_-]{16,}"), REDACTED),
)


# Text (lower-cased) without any of these cannot match a rule above: most log text (paths,
# ids, times) skips the rules after a few substring tests (a regex search costs 5 us).
_CLUES = (
    "@",
    "auth",
    "cookie",
    "key",
    "token",
    "passw",
    "pwd",
    "secret",
    "sig",
    "credential",
    "session",
    "bearer",
    "basic",
    "sda_",
    "whsec_",
)


def redact_text(text: str) -> str:
    """``text`` with every secret this service knows the shape of replaced by [REDACTED]."""
    lowered = text.lower()
    if not any(clue in lowered for clue in _CLUES):
        return text
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.match(name))


_PLAIN = (int, float, bool, type(None))


def redact_value(value: Any) -> Any:
    """A copy of ``value`` with secret-named fields and secret-shaped text redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict | Mapping):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and is_secret_name(key) and item not in (None, "")
                else redact_value(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    return redact_text(repr(value))


def redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the whole event redacted (runs after exceptions are rendered)."""
    for key, value in event_dict.items():
        if is_secret_name(key) and value not in (None, ""):
            event_dict[key] = REDACTED
        elif not isinstance(value, _PLAIN):
            event_dict[key] = redact_value(value)
    return event_dict


def add_trace_ids(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's ``trace_id`` and ``span_id`` (tracing on).
    Without OpenTelemetry imported no span can be current (with it, and tracing off, the
    current span is the API's invalid one: no ids)."""
    if "opentelemetry.trace" in sys.modules:
        from scrape_api_docs.tracing import current_ids

        ids = current_ids()
        if ids is not None:
            event_dict.setdefault("trace_id", ids[0])
            event_dict.setdefault("span_id", ids[1])
    return event_dict


class RedactingFormatter(logging.Formatter):
    """Standard-library records (uvicorn, alembic, httpx), tracebacks included, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logging.basicConfig(handlers=[handler], level=level, force=True)
    # httpx logs every request at INFO: one line per crawled page would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # request_id, job_id
            add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Frames without their local variables: those hold decrypted credentials,
            # request headers and signing secrets.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            redact_event,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )

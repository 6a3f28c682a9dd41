"""Credentials for protected docs: request headers per origin, never sent anywhere else."""

from __future__ import annotations

import base64
import re
from typing import Any

from scrape_api_docs.errors import InvalidOptionsError
from scrape_api_docs.headers import header_value_problem
from scrape_api_docs.urls import DEFAULT_PORTS, origin

Origin = tuple[str, str, int]

# RFC 9110 token: what a header or cookie name may be made of.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
# Headers a credential may not set: they describe the message or connection, not the user.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-connection",
        "user-agent",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "range",
        "expect",
    }
)


def _bad(message: str, auth_type: str, field: str) -> InvalidOptionsError:
    # Never echo the offending value: it is (part of) a secret.
    return InvalidOptionsError(message, details={"auth_type": auth_type, "field": field})


def headers_for(auth_type: str, values: dict[str, Any]) -> dict[str, str]:
    """The request headers one credential stands for; a clear error when a field is missing
    or cannot go into an HTTP header (line breaks, non-ASCII), never echoing the value."""

    def need(name: str) -> str:
        value = values.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidOptionsError(
                f"{auth_type} credentials need a non-empty '{name}' (a string)",
                details={"auth_type": auth_type, "missing": name},
            )
        return header_safe(name, value)

    def header_safe(name: str, value: str) -> str:
        problem = header_value_problem(value)
        if problem:
            raise _bad(f"{auth_type} credentials: '{name}' {problem}", auth_type, name)
        return value

    if auth_type == "basic":
        password = values.get("password")
        if password is not None and not isinstance(password, str):
            raise _bad("basic credentials: 'password' must be a string", auth_type, "password")
        username = need("username")
        if ":" in username:
            raise _bad("basic credentials: 'username' cannot contain ':'", auth_type, "username")
        pair = f"{username}:{password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if auth_type == "bearer":
        return {"Authorization": f"Bearer {need('token')}"}
    if auth_type == "api_key":
        header = values.get("header_name") or "X-API-Key"
        if not isinstance(header, str) or not _TOKEN.fullmatch(header):
            raise _bad(
                "api_key credentials: 'header_name' must be a header name "
                "(letters, digits and -, no spaces)",
                auth_type,
                "header_name",
            )
        if header.lower() in _RESERVED_HEADERS:
            raise _bad(
                f"api_key credentials: 'header_name' {header!r} is reserved; "
                "use the header your docs site expects the key in",
                auth_type,
                "header_name",
            )
        return {header: need("api_key")}
    if auth_type == "cookie":
        cookies = values.get("cookies")
        if not isinstance(cookies, dict) or not cookies:
            raise _bad(
                "cookie credentials need a non-empty 'cookies' object (name -> value)",
                auth_type,
                "cookies",
            )
        pairs = []
        for name, value in cookies.items():
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                raise _bad(
                    "cookie credentials: every name in 'cookies' must be a cookie name "
                    "(letters, digits and -_.!, no spaces, ';' or '=')",
                    auth_type,
                    "cookies",
                )
            if not isinstance(value, str) or ";" in value or header_value_problem(value):
                raise _bad(
                    f"cookie credentials: the value of cookie {name!r} in 'cookies' must be "
                    "a string without ';', line breaks or non-ASCII characters",
                    auth_type,
                    "cookies",
                )
            pairs.append(f"{name}={value}")
        return {"Cookie": "; ".join(pairs)}
    if auth_type == "none":
        return {}
    raise InvalidOptionsError(
        f"unknown auth type {auth_type!r}; use basic, bearer, api_key or cookie",
        details={"auth_type": auth_type, "field": "auth_type"},
    )


def split_domain(domain: str) -> tuple[str, int | None]:
    """``host``, ``host:port`` or ``[v6]:port`` -> (lower-case host, port or None)."""
    domain = domain.strip().lower()
    if domain.startswith("["):
        host, _, rest = domain[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise InvalidOptionsError(f"domain {domain!r} is malformed")
    elif domain.count(":") == 1:
        host, _, port_text = domain.partition(":")
    else:
        host, port_text = domain, ""
    host = host.rstrip(".")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidOptionsError(
            f"domain {domain!r} has an invalid port; use host or host:port (1-65535)",
            details={"field": "domain"},
        )
    return host, int(port_text)


def normalise_domain(domain: str) -> str:
    """The form credentials are stored and matched under: ``host`` or ``host:port``, the
    port only when given (``docs.corp:443`` stays explicit)."""
    host, port = split_domain(domain)
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def origins_for_domain(domain: str) -> list[Origin]:
    """``docs.corp`` means that host on the default ports; ``docs.corp:8443`` that port."""
    host, port = split_domain(domain)
    if port is not None:
        return [("http", host, port), ("https", host, port)]
    return [(scheme, host, default) for scheme, default in DEFAULT_PORTS.items()]


def domain_of(url: str) -> str:
    scheme, host, port = origin(url)
    shown = f"[{host}]" if ":" in host else host
    return shown if port == DEFAULT_PORTS.get(scheme) else f"{shown}:{port}"

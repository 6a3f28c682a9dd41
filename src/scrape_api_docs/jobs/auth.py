"""Credentials for protected docs: request headers per origin, never sent anywhere else."""

from __future__ import annotations

import base64
from typing import Any

from scrape_api_docs.crawler.urls import DEFAULT_PORTS, origin
from scrape_api_docs.errors import InvalidOptionsError

Origin = tuple[str, str, int]


def headers_for(auth_type: str, values: dict[str, Any]) -> dict[str, str]:
    """The request headers one credential stands for; a clear error when a field is missing."""

    def need(name: str) -> str:
        value = values.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidOptionsError(
                f"{auth_type} credentials need a non-empty '{name}'",
                details={"auth_type": auth_type, "missing": name},
            )
        return value

    if auth_type == "basic":
        pair = f"{need('username')}:{values.get('password') or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if auth_type == "bearer":
        return {"Authorization": f"Bearer {need('token')}"}
    if auth_type == "api_key":
        header = values.get("header_name") or "X-API-Key"
        return {str(header): need("api_key")}
    if auth_type == "cookie":
        cookies = values.get("cookies")
        if not isinstance(cookies, dict) or not cookies:
            raise InvalidOptionsError("cookie credentials need a non-empty 'cookies' object")
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    if auth_type == "none":
        return {}
    raise InvalidOptionsError(f"unknown auth type {auth_type!r}")


def origins_for_domain(domain: str) -> list[Origin]:
    """``docs.corp`` means that host on the default ports; ``docs.corp:8443`` that port."""
    host, _, port = domain.lower().rstrip(".").partition(":")
    if port:
        return [("http", host, int(port)), ("https", host, int(port))]
    return [(scheme, host, default) for scheme, default in DEFAULT_PORTS.items()]


def domain_of(url: str) -> str:
    scheme, host, port = origin(url)
    return host if port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"

"""URL helpers: canonical keys for dedup, joining, and the folder a start URL scopes to."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlparse, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
INDEX_NAMES = ("index.html", "index.htm", "index.xhtml")
HASH_ROUTE_PREFIXES = ("/", "!/")


def hash_route(url: str) -> str:
    """The client-side route in a URL's fragment (``#/guide``, ``#!/guide``), or "".

    Single-page apps with a hash router show a different page for each such fragment, so
    a rendering crawl treats them as pages; ``#/`` alone is the app's home, the URL
    itself. Any other fragment (``#install``) is a place inside one page.
    """
    _, _, fragment = url.partition("#")
    for prefix in HASH_ROUTE_PREFIXES:
        if fragment.startswith(prefix) and len(fragment) > len(prefix):
            return "#" + fragment
    return ""


def page_url(url: str) -> str:
    """``url`` without its fragment, unless the fragment is a hash route (see above)."""
    return strip_fragment(url) + hash_route(url)


def canonical(url: str) -> str:
    """The dedup key of a URL: one key for every spelling of one page.

    Fragment dropped (a hash route kept: it names a page of a JavaScript app; crawls that
    do not render never admit one), scheme and host lower-cased, default port dropped,
    ``index.html`` and trailing-slash forms folded together, query parameters sorted. The
    key is only compared, never fetched: relative links resolve against the URL really
    fetched.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    netloc = host
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{parts.port}"
    path = parts.path or "/"
    for name in INDEX_NAMES:
        if path.endswith("/" + name):
            path = path[: -len(name)]
            break
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((scheme, netloc, path, query, "")) + hash_route(url.strip())


def absolute(base: str, href: str) -> str | None:
    """Resolve ``href`` against ``base``; None for links that are not http(s) pages."""
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:")):
        return None
    try:
        joined = urljoin(base, href)
    except ValueError:
        return None
    if urlsplit(joined).scheme.lower() not in DEFAULT_PORTS:
        return None
    return joined


_PLAIN_REF = re.compile(r"(?!//)[A-Za-z0-9._~%+!$&'()*,=@/-]+")
"""A relative reference that is a path and nothing else (no scheme, host, query, fragment,
parameters or spaces): most links of a page."""


class Joiner:
    """``absolute(base, href)`` for many links of one page: the base is parsed once, and a
    plain relative path (``_PLAIN_REF``) is joined by ``urljoin``'s own steps (RFC 3986's
    merge and dot segments, as Python does them) without parsing either URL again: the
    same URL, at a fraction of the cost (urljoin was the slowest step of a page's links)."""

    def __init__(self, base: str) -> None:
        self.base = base
        scheme, netloc, path, params, _, _ = urlparse(base)
        self._plain = scheme in DEFAULT_PORTS and bool(netloc) and not params
        self._origin = f"{scheme}://{netloc}"
        folder = path.split("/")
        if folder[-1] != "":
            del folder[-1]
        self._folder = folder

    def __call__(self, href: str) -> str | None:
        href = href.strip()
        if not self._plain or _PLAIN_REF.fullmatch(href) is None:
            return absolute(self.base, href)
        if href.startswith("/"):
            segments = href.split("/")
        else:
            segments = self._folder + href.split("/")
            segments[1:-1] = filter(None, segments[1:-1])
        resolved: list[str] = []
        for segment in segments:
            if segment == "..":
                if resolved:
                    resolved.pop()
            elif segment != ".":
                resolved.append(segment)
        if segments[-1] in (".", ".."):
            resolved.append("")
        path = "/".join(resolved) or "/"
        return self._origin + (path if path.startswith("/") else "/" + path)


def strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) — what decides whether credentials may be sent."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    return scheme, host, parts.port or DEFAULT_PORTS.get(scheme, 0)


def host_key(url: str) -> str:
    """The per-host politeness slot: host plus non-default port."""
    scheme, host, port = origin(url)
    return host if port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def scope_folder(start_url: str) -> str:
    """The path prefix a start URL scopes the crawl to.

    ``/docs/`` and ``/docs/index.html`` give ``/docs/``; ``/docs`` (no extension in the
    last segment) is read as the folder ``/docs/`` so ``https://site/3`` does not widen to
    the whole host.
    """
    path = urlsplit(start_url).path or "/"
    if path.endswith("/"):
        return path
    last = path.rsplit("/", 1)[-1]
    if "." in last:
        return path[: len(path) - len(last)]
    return path + "/"

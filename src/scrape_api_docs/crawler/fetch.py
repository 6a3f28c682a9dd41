"""The static fetcher: one HTTP GET, redirects checked hop by hop, bodies capped.

This is the I/O seam of the crawler. Every request goes through the network policy's
transport (the connection only reaches addresses the policy checked); every redirect
target is checked again; credentials are only ever attached for their own origin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from scrape_api_docs.crawler.body import ACCEPT_ENCODING, read_capped
from scrape_api_docs.crawler.netpolicy import NetworkPolicy, UnresolvableHost
from scrape_api_docs.errors import FetchError, InvalidURLError
from scrape_api_docs.urls import origin

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")

Origin = tuple[str, str, int]


@dataclass
class FetchResponse:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes | None
    """None when the body was not read (not HTML, or a 304)."""
    elapsed: float = 0.0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def is_html(self) -> bool:
        return is_html_type(self.content_type)


def is_html_type(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in HTML_TYPES or mime == ""


@dataclass
class FetcherOptions:
    user_agent: str = "scrape-api-docs/0.1"
    timeout: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    credentials: Mapping[Origin, Mapping[str, str]] = field(default_factory=dict)
    """Headers (Authorization, Cookie, API-key headers) per exact origin."""
    extra_headers: Mapping[str, str] = field(default_factory=dict)


class HttpFetcher:
    def __init__(
        self,
        policy: NetworkPolicy,
        options: FetcherOptions,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.options = options
        self._client = httpx.AsyncClient(
            transport=transport or policy.transport(),
            follow_redirects=False,
            timeout=httpx.Timeout(options.timeout),
            headers={"User-Agent": options.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, html_only: bool = True
    ) -> FetchResponse:
        """GET ``url`` following redirects (each hop re-checked), within one deadline.

        The deadline covers the whole exchange, so a body that trickles one byte a
        second is stopped as surely as one that never starts.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.options.timeout):
                response = await self._follow(url, headers or {}, html_only)
        except TimeoutError as exc:
            raise FetchError(
                f"{url}: no complete answer within {self.options.timeout:g}s", reason="timeout"
            ) from exc
        response.elapsed = time.monotonic() - started
        return response

    async def _follow(self, url: str, headers: Mapping[str, str], html_only: bool) -> FetchResponse:
        visited: list[str] = []
        current = url
        while True:
            try:
                self.policy.check_url(current)
            except InvalidURLError as exc:
                if not visited:
                    raise
                raise FetchError(
                    f"{url}: redirect to {current} refused: {exc.message}",
                    reason="redirect refused by network policy",
                ) from exc
            if current in visited:
                raise FetchError(f"{url}: redirect loop at {current}", reason="redirect loop")
            visited.append(current)
            request = self._build(current, headers)
            try:
                response = await self._client.send(request, stream=True)
            except InvalidURLError as exc:
                raise FetchError(
                    f"{current}: refused by network policy: {exc.message}",
                    reason="refused by network policy",
                ) from exc
            except httpx.InvalidURL as exc:
                # httpx reads the Location of every redirect, even unfollowed: data:,
                # javascript:, mailto: and malformed targets fail there.
                raise FetchError(
                    f"{current}: redirect to a URL that is not http(s) refused; only http "
                    "and https URLs can be fetched",
                    reason="redirect refused by network policy",
                ) from exc
            except httpx.TimeoutException as exc:
                raise FetchError(f"{current}: timed out ({exc!r})", reason="timeout") from exc
            except httpx.HTTPError as exc:
                if isinstance(exc.__cause__, UnresolvableHost):
                    raise FetchError(f"{current}: {exc}", reason="unknown host") from exc
                raise FetchError(
                    f"{current}: connection failed ({exc})", reason="connection error"
                ) from exc
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    if len(visited) > self.options.max_redirects:
                        raise FetchError(
                            f"{url}: more than {self.options.max_redirects} redirects",
                            reason="too many redirects",
                        )
                    current = str(response.url.join(location)).split("#", 1)[0]
                    continue
                return await self._read(url, current, response, html_only)
            finally:
                await response.aclose()

    def _build(self, url: str, headers: Mapping[str, str]) -> httpx.Request:
        request = self._client.build_request("GET", url)
        # The client's cookie jar never speaks for us: cookies are credentials and only
        # go to the origin they were given for (below).
        request.headers.pop("cookie", None)
        request.headers.update(self.options.extra_headers)
        request.headers.update(headers)
        for name, value in self.options.credentials.get(origin(url), {}).items():
            request.headers[name] = value
        return request

    async def _read(
        self, url: str, final_url: str, response: httpx.Response, html_only: bool
    ) -> FetchResponse:
        headers = {k.lower(): v for k, v in response.headers.items()}
        result = FetchResponse(url, final_url, response.status_code, headers, None)
        if response.status_code != 200 or (html_only and not result.is_html):
            return result
        try:
            result.body = await read_capped(
                response.aiter_raw(),
                headers.get("content-encoding"),
                self.options.max_body_bytes,
                final_url,
            )
        except httpx.TimeoutException as exc:
            raise FetchError(f"{final_url}: timed out reading body", reason="timeout") from exc
        except httpx.HTTPError as exc:
            raise FetchError(
                f"{final_url}: connection failed while reading body ({exc})",
                reason="connection error",
            ) from exc
        return result

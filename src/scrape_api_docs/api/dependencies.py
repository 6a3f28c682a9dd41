"""Who is calling (API key -> owner), per-caller rate limits, and the services."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from scrape_api_docs.api.errors import APIError
from scrape_api_docs.api.ratelimit import Quota, RequestLimits
from scrape_api_docs.api.single_flight import SingleFlight
from scrape_api_docs.jobs.context import JobContext
from scrape_api_docs.jobs.job_runner import JobRunner
from scrape_api_docs.jobs.service import JobService
from scrape_api_docs.keys import LOCAL_OWNER, hash_key
from scrape_api_docs.storage.repositories import KeyRepository

API_KEY_HEADER = "X-API-Key"
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Your API key")
MAX_KEY_LENGTH = 200
_BAD_KEY = "missing or invalid API key: send a valid key in the X-API-Key header"


@dataclass(frozen=True)
class Caller:
    owner: str
    authenticated: bool


# Dependencies are ``async def`` so FastAPI calls them on the event loop; a plain ``def``
# would cost a threadpool round trip on every request.
async def context(request: Request) -> JobContext:
    ctx: JobContext = request.app.state.ctx
    return ctx


async def service(request: Request) -> JobService:
    svc: JobService = request.app.state.service
    return svc


async def runner(request: Request) -> JobRunner:
    run: JobRunner = request.app.state.pool.runner
    return run


class KeyCheck:
    """Looks keys up by hash; whether any key exists is re-read every ``ttl`` seconds, so a
    key made with ``scrape-docs keys create`` applies without a restart.

    Revoked keys count as configured: revoking the last (say, leaked) key locks the API
    instead of opening it. Only once every key is deleted (``scrape-docs keys delete``) is
    the server keyless again, and a keyless server answers loopback clients only
    (``keyless_client_allowed``): deleting the last key never opens a public server.
    """

    def __init__(self, ttl: float = 5.0, max_cached: int = 10_000) -> None:
        self.ttl = ttl
        self.max_cached = max_cached
        self._any: tuple[float, bool] | None = None
        # key hash -> (checked at, owner): a polling client costs no key query per request.
        # Only valid keys are cached, so a revoked key stops working within ``ttl``.
        self._owners: dict[str, tuple[float, str]] = {}
        self._any_lookup: SingleFlight[bool] = SingleFlight()
        self._key_lookups: SingleFlight[str | None] = SingleFlight()

    def forget(self) -> None:
        """Re-read "any key configured" and every key on the next request."""
        self._any = None
        self._owners.clear()

    async def keys_configured(self, ctx: JobContext) -> bool:
        cached = self._any
        if cached is not None and time.monotonic() - cached[0] <= self.ttl:
            return cached[1]

        async def read() -> bool:
            async with ctx.sessions() as session:
                count = await KeyRepository(session).count()
            value = bool(count)
            self._any = (time.monotonic(), value)
            return value

        # Every request in flight misses when the TTL ends: one query answers them all.
        return await self._any_lookup.run("any", read)

    async def owner_of(self, ctx: JobContext, key: str) -> str | None:
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._owners.get(digest)
        if cached is not None and now - cached[0] <= self.ttl:
            return cached[1]

        async def read() -> str | None:
            async with ctx.sessions() as session:
                record = await KeyRepository(session).by_hash(digest)
            if record is None or record.revoked_at is not None:
                self._owners.pop(digest, None)
                return None
            if len(self._owners) >= self.max_cached:
                self._owners.clear()
            self._owners[digest] = (now, record.id)
            return record.id

        return await self._key_lookups.run(digest, read)


def keyless_client_allowed(host: str | None) -> bool:
    """Without keys, only a client on this machine is served (whatever address the server
    listens on: ``serve`` refuses a public one without keys, but a running server whose
    last key is deleted is still listening there)."""
    if host in ("localhost", "testclient"):  # Starlette's TestClient names itself so
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


_KEYLESS_REMOTE = (
    "this server has no API key and answers only clients on its own machine; "
    "create a key with 'scrape-docs keys create NAME' and send it in X-API-Key"
)


def client_identity(request: HTTPConnection) -> str:
    # The connection's peer: uvicorn rewrites it from X-Forwarded-For only for the proxies
    # in SCRAPER_TRUSTED_PROXIES (``scrape-docs serve`` passes them; none by default).
    return f"ip:{request.client.host if request.client else '?'}"


def _rate_limited(quota: Quota) -> APIError:
    retry = quota.retry_after
    return APIError(
        429,
        "RATE_LIMIT_EXCEEDED",
        f"too many requests; retry in {retry} s",
        details={"retry_after": retry},
        headers={"Retry-After": str(retry)},
    )


async def _spend(request: HTTPConnection, identity: str) -> None:
    """Counts the request against ``identity``'s budget; 429 past it. The quota stays on
    the request, for the ``X-RateLimit-*`` headers of its answer."""
    limits: RequestLimits = request.app.state.limiter
    quota = await limits.consume(identity)
    request.state.quota = quota
    if quota.wait:
        raise _rate_limited(quota)


async def identify(request: HTTPConnection, api_key: str | None) -> Caller:
    """The one key lookup of every way in (HTTP requests and WebSockets): keyless
    loopback clients, else the key's owner; a failed attempt spends the client address's
    budget (429 past it), then 401."""
    ctx: JobContext = request.app.state.ctx
    keys: KeyCheck = request.app.state.keys
    if not await keys.keys_configured(ctx):
        if not keyless_client_allowed(request.client.host if request.client else None):
            raise APIError(401, "AUTHENTICATION_FAILED", _KEYLESS_REMOTE)
        return Caller(LOCAL_OWNER, False)
    owner = await keys.owner_of(ctx, api_key) if api_key else None
    if owner is None:
        # Failed attempts spend the client address's budget, so keys cannot be guessed
        # at full speed; within it, missing, unknown and revoked keys get the same answer.
        await _spend(request, client_identity(request))
        raise APIError(
            401, "AUTHENTICATION_FAILED", _BAD_KEY, headers={"WWW-Authenticate": "X-API-Key"}
        )
    return Caller(owner, True)


async def admit(request: Request) -> Caller:
    """The authenticated caller, within its request budget (per key, or per client
    address without keys); checked once per request, from headers alone."""
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    who = await identify(request, request.headers.get(API_KEY_HEADER))
    await _spend(request, f"key:{who.owner}" if who.authenticated else client_identity(request))
    request.state.caller = who
    return who


async def caller(
    request: Request, api_key: Annotated[str | None, Security(api_key_header)] = None
) -> Caller:
    """The caller, as ``KeyedRoute`` admitted it before the body was read (``api_key`` is
    declared for the OpenAPI security scheme)."""
    return await admit(request)


def _needs_caller(dependant: Dependant) -> bool:
    return any(d.call is caller or _needs_caller(d) for d in dependant.dependencies)


class KeyedRoute(APIRoute):
    """A route whose endpoint takes the caller admits it (key, then request budget)
    before FastAPI reads and parses the body: without a valid key, a request gets 401
    whatever its body, and no body is read for it. Successful answers carry the
    ``X-RateLimit-*`` headers (error answers get them from the envelope)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not _needs_caller(self.dependant):
            return handler

        async def admitted(request: Request) -> Response:
            await admit(request)
            response = await handler(request)
            quota: Quota | None = getattr(request.state, "quota", None)
            if quota is not None:
                response.headers.update(quota.headers())
            return response

        return admitted


CallerDep = Annotated[Caller, Depends(caller)]
ServiceDep = Annotated[JobService, Depends(service)]
ContextDep = Annotated[JobContext, Depends(context)]
RunnerDep = Annotated[JobRunner, Depends(runner)]

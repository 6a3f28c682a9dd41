"""The SSRF guard: which URLs may be fetched and which addresses may be connected to.

A docs crawler follows links and redirects written by strangers, so any URL can point at
``localhost``, the office network or a cloud metadata service. Checking the URL text is
not enough: a name can resolve to a private address, and resolve differently a second
later (DNS rebinding). So the check happens twice:

* ``check_url`` refuses what is wrong on its face (schemes, loopback names, IP literals
  in refused ranges, IP spellings that parsers disagree on), with no DNS;
* ``network_backend`` resolves every host itself, checks *all* its addresses, and
  connects only to those checked addresses. The OS never resolves a name behind our back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import idna

# httpcore's default backend (asyncio or trio, whichever is running); not re-exported.
from httpcore._backends.auto import AutoBackend

from scrape_api_docs.errors import InvalidOptionsError, InvalidURLError
from scrape_api_docs.settings import Settings

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)
_FORBIDDEN_HOST_CHARS = frozenset("\\%@/?#[] ")
_PRIVATE_HINT = (
    "set SCRAPER_ALLOW_PRIVATE_NETWORKS=1 (CLI: --allow-private-networks) "
    "or list the host in SCRAPER_ALLOWED_HOSTS"
)
_EXPLICIT_HINT = "list the host or address in SCRAPER_ALLOWED_HOSTS"


@dataclass(frozen=True)
class _Verdict:
    reason: str
    private: bool
    """True for private-network classes that ``allow_private`` lets through."""


# First match wins, so the narrow entries (metadata services) come before broad ones.
_CLASSES: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, _Verdict], ...] = tuple(
    (ipaddress.ip_network(net), _Verdict(reason, private))
    for net, reason, private in (
        ("0.0.0.0/8", "unspecified ('this network')", False),
        ("127.0.0.0/8", "loopback", True),
        ("169.254.0.0/16", "link-local (cloud metadata)", False),
        ("100.100.100.200/32", "cloud metadata", False),
        ("10.0.0.0/8", "private network", True),
        ("172.16.0.0/12", "private network", True),
        ("192.168.0.0/16", "private network", True),
        ("100.64.0.0/10", "carrier-grade NAT", True),
        ("224.0.0.0/4", "multicast", False),
        ("255.255.255.255/32", "broadcast", False),
        ("240.0.0.0/4", "reserved", False),
        ("::/128", "unspecified", False),
        ("::1/128", "loopback", True),
        ("fe80::/10", "link-local", False),
        ("fec0::/10", "site-local (deprecated)", False),
        ("fd00:ec2::254/128", "cloud metadata", False),
        ("fc00::/7", "private network (unique local)", True),
        ("ff00::/8", "multicast", False),
        ("64:ff9b:1::/48", "local-use NAT64", False),
    )
)
# IPv6 forms whose low 32 bits are an IPv4 address the packet really goes to.
_LOW32_WRAPPERS = tuple(
    (ipaddress.IPv6Network(net), name)
    for net, name in (
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("::ffff:0:0:0/96", "IPv4-translated"),
        ("::/96", "IPv4-compatible"),
        ("64:ff9b::/96", "NAT64"),
    )
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 transition form leads to, so they get the IPv4 checks."""
    for net, name in _LOW32_WRAPPERS:
        if ip in net:
            return name, [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return "6to4", [ip.sixtofour]
    if ip.teredo is not None:
        return "Teredo", list(ip.teredo)
    return "", []


def _verdict(ip: IPAddress) -> _Verdict | None:
    """Why ``ip`` is not a public destination, or None when it is."""
    for net, verdict in _CLASSES:
        if ip in net:
            return verdict
    if isinstance(ip, ipaddress.IPv6Address):
        form, inner = _embedded_ipv4(ip)
        if inner:
            # Judge the wrapped address, not the wrapper: 2002:7f00:1:: is 127.0.0.1.
            found = [v for v in map(_verdict, inner) if v is not None]
            return _Verdict(f"{found[0].reason} ({form})", found[0].private) if found else None
    # is_global covers the remaining special-purpose ranges (documentation, benchmarking...).
    if not ip.is_global:
        return _Verdict("special-purpose, not globally routable", False)
    return None


def refusal_reason(address: str) -> str | None:
    """Short reason why ``address`` is not globally routable, or None when it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    verdict = _verdict(ip)
    return verdict.reason if verdict else None


def _parse_ip(host: str) -> IPAddress | None:
    """The address when ``host`` is a canonical IP literal (dotted quad or IPv6), else None."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    # ipaddress already refuses '127.1', '0x7f000001' and leading zeros; this keeps it so.
    return ip if ip.version == 6 or str(ip) == host else None


def _is_alternate_ip_spelling(host: str) -> bool:
    """True for a host some parser reads as IPv4 although it is not a canonical dotted quad.

    URL parsers (WHATWG) treat a host whose last label is a number as IPv4; inet_aton
    accepts '127.1', '2130706433', '0x7f000001', '0177.0.0.1'. Parsers disagree on these,
    so whatever we conclude could differ from where the connection goes: refuse them all.
    """
    if _parse_ip(host) is not None:
        return False
    return bool(_NUMERIC_LABEL.fullmatch(host.removesuffix(".").rsplit(".", 1)[-1]))


def _is_localhost_name(name: str) -> bool:
    return name == "localhost" or name.endswith(".localhost")


def _normalise_name(host: str) -> str:
    return host.strip("[]").lower().removesuffix(".")


def _host_syntax_problem(host: str) -> str | None:
    """What is wrong with ``host`` on its face (before any policy), or None."""
    if not host:
        return "URL has no host; use a URL like https://docs.example.com/"
    if any(ch in _FORBIDDEN_HOST_CHARS or not ch.isprintable() for ch in host):
        return f"host {host!r} contains characters not allowed in a host name"
    if ":" in host and _parse_ip(host) is None:
        return f"host {host!r} is not a valid IPv6 address"
    if _is_alternate_ip_spelling(host):
        return (
            f"non-standard IP address spelling {host!r} is refused; "
            "write the address as a dotted quad"
        )
    if host.endswith(".") and _is_localhost_name(host[:-1].lower()):
        return f"host {host!r} is an alternate spelling of a loopback name and is refused"
    return None


def url_host_problem(url: str) -> str | None:
    """What is wrong on its face with the host of ``url`` as written, or None.

    For the entry points whose URL parser normalises hosts (the API's request models turn
    ``http://2130706433/`` into ``http://127.0.0.1/``): call this on the raw text first, so
    alternate IP spellings are refused everywhere, whatever the policy allows.
    """
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return None  # malformed: the URL parser that follows says why
    return _host_syntax_problem(host) if host else None


def _ascii_hosts(host: str) -> list[str]:
    """The ASCII forms a host name is checked in: the one the fetcher sends (IDNA 2008, as
    httpx encodes it) and, where it differs, the one an IDNA 2003 resolver would look up
    ('ｌocalhost' is localhost there). A name the fetcher cannot encode is refused here,
    not left to fail inside a fetch."""
    try:
        if host.isascii():
            if "xn--" in host.lower():
                idna.decode(host)  # httpx decodes such labels: they must be valid IDNA 2008
            return [host]
        fetched = idna.encode(host.lower()).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidURLError(
            f"host {host!r} is not a valid international domain name; "
            "check its spelling, or write it in its ASCII (xn--) form",
            details={"host": host},
        ) from exc
    try:
        looked_up = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return [fetched]
    return [fetched] if looked_up == fetched else [fetched, looked_up]


async def default_resolver(host: str, port: int) -> list[str]:
    """Every A/AAAA address of ``host`` via the OS resolver, deduplicated, order kept."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# The name does not exist (as opposed to a resolver that is unreachable or busy, which
# may answer on a retry).
_NO_SUCH_NAME = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)


class UnresolvableHost(httpcore.ConnectError):
    """The host name does not exist: retrying cannot help."""


class NetworkPolicy:
    """Decides which URLs and addresses the crawler may reach; see the module docstring."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allowed_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolver: Resolver = resolver or default_resolver
        self._names: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in (e.strip() for e in allowed_hosts):
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if "/" in entry or ":" in entry:
                    raise InvalidOptionsError(
                        f"allowed host {entry!r} is neither a host name nor a CIDR network"
                    ) from None
                if entry:
                    self._names.add(_normalise_name(entry))

    @classmethod
    def from_settings(cls, settings: Settings) -> NetworkPolicy:
        return cls(
            allow_private=settings.allow_private_networks, allowed_hosts=settings.allowed_hosts
        )

    def check_url(self, url: str) -> str:
        """Syntax-level check, no DNS: return ``url`` unchanged or raise InvalidURLError."""
        if any(not ch.isprintable() for ch in url):
            raise InvalidURLError(f"URL {url!r} contains control characters or line breaks")
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError on a malformed or out-of-range port
        except ValueError as exc:
            raise InvalidURLError(f"URL {url!r} is malformed: {exc}") from exc
        scheme = parts.scheme.lower()
        if not scheme:
            raise InvalidURLError(f"URL {url!r} has no scheme; write it as https://...")
        if scheme not in ALLOWED_SCHEMES:
            raise InvalidURLError(
                f"URL scheme {scheme!r} is not allowed; only http and https URLs can be fetched"
            )
        if parts.netloc.count("@") > 1 or "\\" in parts.netloc:
            raise InvalidURLError(f"URL {url!r} has an ambiguous host part; parsers disagree")
        for host in _ascii_hosts(parts.hostname or ""):
            self._check_host(host)
        return url

    def _check_host(self, host: str) -> str:
        """Raise for a host refused without DNS (syntax, loopback names, IP literals)."""
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        problem = _host_syntax_problem(host)
        if problem:
            raise InvalidURLError(problem, details={"host": host})
        name = _normalise_name(host)
        if _parse_ip(host) is not None:
            self._check_address(host, host)
        elif _is_localhost_name(name) and not (self.allow_private or name in self._names):
            raise InvalidURLError(
                f"host {host!r} is a loopback name and is refused; "
                f"if this is intended, {_PRIVATE_HINT}",
                details={"host": host, "reason": "loopback"},
            )
        return host

    def _refusal(self, host: str, address: str) -> _Verdict | None:
        if _normalise_name(host) in self._names:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return _Verdict("not an IP address", False)
        candidates = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if any(c in net for c in candidates for net in self._networks):
            return None
        verdict = _verdict(ip)
        if verdict is None or (verdict.private and self.allow_private):
            return None
        return verdict

    def is_address_allowed(self, host: str, address: str) -> bool:
        """May a connection for ``host`` go to ``address``?

        A host name listed in allowed_hosts exempts all its addresses (the operator vouched
        for that name); a listed network exempts the addresses inside it, whatever the name.
        """
        return self._refusal(host, address) is None

    def _check_address(self, host: str, address: str) -> None:
        verdict = self._refusal(host, address)
        if verdict is not None:
            hint = _PRIVATE_HINT if verdict.private else _EXPLICIT_HINT
            what = f"address {address}" if host == address else f"{host!r} resolves to {address}"
            raise InvalidURLError(
                f"{what} is refused ({verdict.reason}); if this is intended, {hint}",
                details={"host": host, "address": address, "reason": verdict.reason},
            )

    async def resolve(self, host: str, port: int) -> list[str]:
        """Resolve ALL addresses; raise InvalidURLError if ANY is refused; return them all.

        One bad address refuses the host: we could skip it, but a name that mixes public
        and private answers is exactly what a rebinding attack looks like.
        """
        host = self._check_host(host)
        ip = _parse_ip(host)
        if ip is not None:
            return [str(ip)]
        addresses = await self._resolver(host, port)
        if not addresses:
            raise OSError(f"{host!r} has no addresses")
        for address in addresses:
            self._check_address(host, address)
        return list(addresses)

    def network_backend(self) -> httpcore.AsyncNetworkBackend:
        """An httpcore backend that resolves via ``resolve`` and dials only checked IPs."""
        return _PolicyBackend(self)

    def transport(self, **kwargs: Any) -> httpx.AsyncBaseTransport:
        """An httpx transport whose every connection goes through ``network_backend()``.

        InvalidURLError raised while connecting is not an httpcore exception, so httpx
        re-raises it unchanged: callers of ``client.get``/``send`` catch InvalidURLError
        (tests pin this, so an httpx upgrade that starts wrapping it will be noticed).
        """
        for bypass in ("proxy", "uds"):
            if kwargs.get(bypass) is not None:
                raise ValueError(f"transport({bypass}=...) would bypass the network policy")
        transport = _PolicyTransport(self, **kwargs)
        built = transport._pool
        # httpx 0.28 has no way to pass a network_backend to AsyncHTTPTransport. Rebuild
        # its pool with exactly what httpx computed from the kwargs (ssl context from
        # verify/cert/trust_env, limits, http1/http2, retries, local address, socket
        # options), adding only our backend; everything else about the transport stays.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=built._ssl_context,
            max_connections=built._max_connections,
            max_keepalive_connections=built._max_keepalive_connections,
            keepalive_expiry=built._keepalive_expiry,
            http1=built._http1,
            http2=built._http2,
            retries=built._retries,
            local_address=built._local_address,
            socket_options=built._socket_options,
            network_backend=self.network_backend(),
        )
        return transport


class _PolicyTransport(httpx.AsyncHTTPTransport):
    """Checks each request URL (redirect hops included) before the pool sees it."""

    def __init__(self, policy: NetworkPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.check_url(str(request.url))
        return await super().handle_async_request(request)


class _PolicyBackend(httpcore.AsyncNetworkBackend):
    """Resolves through the policy and connects only to the addresses it checked.

    httpcore passes the origin host name here and later calls ``start_tls`` with that
    same name, so SNI and certificate checks are unaffected by connecting to an IP.
    """

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner = AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        except OSError as exc:
            if isinstance(exc, socket.gaierror) and exc.errno in _NO_SUCH_NAME:
                raise UnresolvableHost(f"cannot resolve {host!r}: {exc}") from exc
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        failure: Exception = httpcore.ConnectError(f"no address of {host!r} accepted")
        for address in addresses:  # in resolver order, each with the full connect timeout
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise InvalidURLError("Unix sockets bypass the network policy and are refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

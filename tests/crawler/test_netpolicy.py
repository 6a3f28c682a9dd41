"""The SSRF guard: URL checks, address classes, and real connections through httpx.

No test touches the internet: public names are answered by a fake resolver, and the
only real connections go to the test server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest

from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import (
    NetworkPolicy,
    default_resolver,
    refusal_reason,
)
from scrape_api_docs.errors import FetchError, InvalidOptionsError, InvalidURLError
from scrape_api_docs.settings import Settings
from tests.support.server import Reply, TestServer

PUBLIC = "93.184.216.34"


class FakeResolver:
    """Answers from a table; ``then`` gives the answers from the second call on. Records calls."""

    def __init__(
        self, table: Mapping[str, list[str]], *, then: Mapping[str, list[str]] | None = None
    ) -> None:
        self.table = table
        self.then = then or table
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        table = self.then if any(h == host for h, _ in self.calls) else self.table
        self.calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, f"fake resolver: no such host {host!r}")
        return list(table[host])


def policy(resolver: FakeResolver | None = None, **kwargs: Any) -> NetworkPolicy:
    return NetworkPolicy(resolver=resolver or FakeResolver({}), **kwargs)


async def assert_refused(policy: NetworkPolicy, url: str) -> InvalidURLError:
    """The full path a fetch takes: check_url, then resolution of the host it names."""
    with pytest.raises(InvalidURLError) as info:
        policy.check_url(url)
        parts = urlsplit(url)
        default_port = 443 if parts.scheme.lower() == "https" else 80
        await policy.resolve(parts.hostname or "", parts.port or default_port)
    assert info.value.code == "INVALID_URL"
    assert info.value.message
    return info.value


async def assert_allowed(policy: NetworkPolicy, url: str) -> list[str]:
    assert policy.check_url(url) == url
    parts = urlsplit(url)
    return await policy.resolve(parts.hostname or "", parts.port or 80)


# --- the security checklist -------------------------------------------------------------

CHECKLIST = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://localhost./",
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "gopher://x/",
    "ftp://x/",
    "data:text/html,hi",
    "HTTP://169.254.169.254/",
]

MORE_REFUSED = [
    "javascript:alert(1)",
    "example.com/docs",
    "//example.com/docs",
    "http:///docs",
    "http://evil@127.0.0.1/",
    "http://user:pw@169.254.169.254/",
    "http://127.0.1/",
    "http://127.0.0.1./",
    "http://0x7f.0.0.1/",
    "http://1.2.3.4.5/",
    "http://docs.0x10/",
    "http://localhost/",
    "http://LocalHost:8080/",
    "http://api.localhost/",
    "http://api.localhost./",
    "http://ｌocalhost/",
    "http://１２７.０.０.１/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://127.0.0.1\\@docs.example.com/",
    "http://a@b@docs.example.com/",
    "http://docs.example.com:99999/",
    "http://docs.exa mple.com/",
    "http://docs.example.com/\n",
    # Valid for Python's IDNA 2003 codec, refused by the IDNA 2008 encoding httpx sends
    # (schema fuzzing found validate answering 500 for it).
    "https://\u00be.example/",
    "https://\u0106L\u00be\u0166p.None/",
    # ... and its punycode, which pydantic's URL type hands over (httpx decodes it again).
    "https://xn--l34pe34n-z8a77gob6088dfa12770kkjzlndnj.none/",
]


@pytest.mark.parametrize("url", CHECKLIST + MORE_REFUSED)
@pytest.mark.checklist(1, 2, 3, 4, 5)
async def test_default_policy_refuses(url: str) -> None:
    await assert_refused(policy(), url)


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "localhost",
        "localhost.",
        "::1",
        "169.254.169.254",
        "0.0.0.0",
        "[::]",
        "::ffff:127.0.0.1",
    ],
)
@pytest.mark.checklist(1, 2, 3)
async def test_resolve_refuses_without_check_url(host: str) -> None:
    """The connect-time path refuses on its own: httpx passes '127.1' through as a name."""
    resolver = FakeResolver({})
    with pytest.raises(InvalidURLError):
        await policy(resolver).resolve(host, 80)
    assert resolver.calls == []


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://127.1/", "non-standard IP address spelling '127.1'"),
        ("http://169.254.169.254/", "link-local (cloud metadata)"),
        ("file:///etc/passwd", "only http and https"),
        ("docs.example.com", "no scheme"),
        ("http://[::1]/", "SCRAPER_ALLOW_PRIVATE_NETWORKS"),
        ("http://localhost/", "loopback"),
    ],
)
async def test_messages_say_what_and_what_to_do(url: str, needle: str) -> None:
    error = await assert_refused(policy(), url)
    assert needle in error.message


@pytest.mark.parametrize(
    "url",
    [
        "http://docs.example.com/",
        "HTTPS://Docs.Example.com./a?b#c",
        "http://docs.example.com:8080/",
    ],
)
async def test_public_urls_pass_and_are_returned_unchanged(url: str) -> None:
    resolver = FakeResolver({"docs.example.com": [PUBLIC], "docs.example.com.": [PUBLIC]})
    assert await assert_allowed(policy(resolver), url) == [PUBLIC]


@pytest.mark.parametrize("url", ["http://8.8.8.8/", "http://[2001:4860:4860::8888]/"])
async def test_ip_literals_are_checked_without_dns(url: str) -> None:
    resolver = FakeResolver({})
    assert len(await assert_allowed(policy(resolver), url)) == 1
    assert resolver.calls == []


async def test_cafe_style_names_are_not_mistaken_for_numbers() -> None:
    resolver = FakeResolver({"cafe.be": [PUBLIC], "0x10.example.com": [PUBLIC]})
    assert await assert_allowed(policy(resolver), "http://cafe.be/") == [PUBLIC]
    assert await assert_allowed(policy(resolver), "http://0x10.example.com/") == [PUBLIC]


# --- DNS answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("private", ["10.0.0.7", "127.0.0.1", "169.254.169.254", "::1"])
@pytest.mark.checklist(6)
async def test_one_private_address_among_public_ones_refuses_the_host(private: str) -> None:
    resolver = FakeResolver({"docs.example.com": [PUBLIC, private]})
    error = await assert_refused(policy(resolver), "http://docs.example.com/")
    assert error.details["address"] == private


async def test_resolve_returns_every_checked_address_in_order() -> None:
    answer = [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]
    resolver = FakeResolver({"docs.example.com": answer})
    assert await policy(resolver).resolve("docs.example.com", 443) == answer
    assert resolver.calls == [("docs.example.com", 443)]


async def test_a_name_without_addresses_is_a_connection_problem_not_a_policy_one() -> None:
    resolver = FakeResolver({"empty.example.com": []})
    with pytest.raises(OSError):
        await policy(resolver).resolve("empty.example.com", 80)


async def test_a_resolver_answering_garbage_is_refused() -> None:
    resolver = FakeResolver({"docs.example.com": ["not-an-ip"]})
    await assert_refused(policy(resolver), "http://docs.example.com/")


# --- address classes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (PUBLIC, None),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private network"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("fd12:3456::1", "private network (unique local)"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("0.0.0.0", "unspecified ('this network')"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "special-purpose, not globally routable"),
        ("nonsense", "not an IP address"),
        # IPv6 transition forms are judged by the IPv4 address they lead to.
        ("::ffff:127.0.0.1", "loopback (IPv4-mapped)"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata) (IPv4-mapped)"),
        ("::ffff:8.8.8.8", None),
        ("::127.0.0.1", "loopback (IPv4-compatible)"),
        ("64:ff9b::7f00:1", "loopback (NAT64)"),
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata) (NAT64)"),
        ("64:ff9b::808:808", None),
        ("64:ff9b:1::808:808", "local-use NAT64"),
        ("2002:7f00:1::", "loopback (6to4)"),
        ("2002:0a00:0001::1", "private network (6to4)"),
        ("2002:808:808::1", None),
        # Teredo: server 65.54.227.120, client 127.0.0.1 (stored inverted: 0x80fff7fe).
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (Teredo)"),
    ],
)
def test_refusal_reason(address: str, reason: str | None) -> None:
    assert refusal_reason(address) == reason


def test_teredo_test_vector_is_what_we_think() -> None:
    teredo = ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:80ff:fffe").teredo
    assert teredo is not None
    assert str(teredo[1]) == "127.0.0.1"


# --- allow_private and allowed_hosts ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://192.168.0.10/",
        "http://100.64.3.4/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_allow_private_lets_private_networks_through(url: str) -> None:
    await assert_allowed(policy(allow_private=True), url)


async def test_allow_private_lets_localhost_names_through() -> None:
    resolver = FakeResolver({"localhost": ["127.0.0.1", "::1"]})
    assert await assert_allowed(policy(resolver, allow_private=True), "http://localhost/") == [
        "127.0.0.1",
        "::1",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://[fd00:ec2::254]/",
        "http://2130706433/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://localhost./",
        "http://[::ffff:169.254.169.254]/",
    ],
)
@pytest.mark.checklist(1, 2, 3)
async def test_allow_private_still_refuses_metadata_unspecified_and_spellings(url: str) -> None:
    await assert_refused(policy(allow_private=True), url)


async def test_allow_private_still_refuses_a_name_resolving_to_metadata() -> None:
    resolver = FakeResolver({"intranet.test": ["10.0.0.2", "169.254.169.254"]})
    await assert_refused(policy(resolver, allow_private=True), "http://intranet.test/")


async def test_allowed_host_name_skips_the_address_checks() -> None:
    resolver = FakeResolver({"wiki.corp": ["10.0.0.5"], "wiki.corp.": ["10.0.0.5"]})
    allowed = policy(resolver, allowed_hosts=["Wiki.Corp."])
    assert await assert_allowed(allowed, "http://wiki.corp/") == ["10.0.0.5"]
    assert await assert_allowed(allowed, "http://WIKI.corp./") == ["10.0.0.5"]
    assert allowed.is_address_allowed("wiki.corp", "10.0.0.5")
    assert not allowed.is_address_allowed("other.corp", "10.0.0.5")


async def test_allowed_host_name_does_not_rescue_alternate_spellings() -> None:
    await assert_refused(policy(allowed_hosts=["127.1", "localhost"]), "http://127.1/")
    await assert_refused(policy(allowed_hosts=["localhost"]), "http://localhost./")


async def test_allowed_localhost_name_without_allow_private() -> None:
    resolver = FakeResolver({"localhost": ["127.0.0.1"]})
    await assert_allowed(policy(resolver, allowed_hosts=["localhost"]), "http://localhost/")


async def test_allowed_cidr_allows_only_its_addresses() -> None:
    resolver = FakeResolver({"a.corp": ["10.1.2.3"], "b.corp": ["10.2.0.1"]})
    allowed = policy(resolver, allowed_hosts=["10.1.0.0/16"])
    assert await assert_allowed(allowed, "http://a.corp/") == ["10.1.2.3"]
    await assert_refused(allowed, "http://b.corp/")
    assert allowed.is_address_allowed("anything", "::ffff:10.1.9.9")


async def test_allowed_single_ip_and_metadata_opt_in() -> None:
    allowed = policy(allowed_hosts=["127.0.0.1", "169.254.169.254", "[::1]"])
    await assert_allowed(allowed, "http://127.0.0.1/")
    await assert_allowed(allowed, "http://169.254.169.254/latest/")
    await assert_allowed(allowed, "http://[::1]/")
    await assert_refused(allowed, "http://127.0.0.2/")


def test_malformed_allowed_host_entries_are_reported() -> None:
    with pytest.raises(InvalidOptionsError):
        NetworkPolicy(allowed_hosts=["10.0.0.0/33"])


def test_from_settings() -> None:
    settings = Settings(allow_private_networks=True, allowed_hosts=["wiki.corp", "10.9.0.0/16"])
    built = NetworkPolicy.from_settings(settings)
    assert built.allow_private
    assert built.is_address_allowed("wiki.corp", "169.254.169.254")
    assert built.is_address_allowed("x", "10.9.1.1")
    assert built.is_address_allowed("x", "127.0.0.1")
    assert not built.is_address_allowed("x", "169.254.169.254")


# --- the real resolver ---------------------------------------------------------------------


async def test_default_resolver_deduplicates_and_keeps_order() -> None:
    assert await default_resolver("127.0.0.1", 80) == ["127.0.0.1"]
    answer = await default_resolver("localhost", 80)
    assert "127.0.0.1" in answer or "::1" in answer
    assert len(answer) == len(set(answer))


# --- real connections through httpx ----------------------------------------------------------


@pytest.fixture
def os_resolver_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every host the OS resolver is asked about during the test."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    yield calls


def only_ip_literals(hosts: list[str]) -> bool:
    try:
        for host in hosts:
            ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@pytest.mark.checklist(1, 3)
async def test_default_policy_refuses_the_test_server_with_zero_hits(server: TestServer) -> None:
    server.route("/page", Reply(body="secret"))
    async with httpx.AsyncClient(transport=policy().transport()) as client:
        with pytest.raises(InvalidURLError):
            await client.get(server.url("/page"))
    assert server.hits_for("/page") == []


async def test_refusal_at_connect_time_surfaces_as_invalid_url_error(server: TestServer) -> None:
    """A name that passes check_url but resolves to loopback: refused inside the backend,
    and httpx lets our exception through unchanged (it only maps httpcore's own)."""
    server.route("/page", Reply(body="secret"))
    resolver = FakeResolver({"docs.test": ["127.0.0.1"]})
    refusing = policy(resolver)
    url = f"http://docs.test:{server.port}/page"
    assert refusing.check_url(url) == url
    async with httpx.AsyncClient(transport=refusing.transport()) as client:
        with pytest.raises(InvalidURLError) as info:
            await client.get(url)
        with pytest.raises(InvalidURLError):  # the pool is left clean: refused again
            await client.get(url)
    assert info.value.details["address"] == "127.0.0.1"
    assert resolver.calls == [("docs.test", server.port)] * 2
    assert server.hits_for("/page") == []


@pytest.mark.checklist(8)
async def test_redirect_to_a_refused_address_is_refused(server: TestServer) -> None:
    server.route("/jump", Reply(302, headers={"Location": "http://169.254.169.254/"}))
    resolver = FakeResolver({"docs.test": ["127.0.0.1"]})
    allowed = policy(resolver, allowed_hosts=["docs.test"])
    async with httpx.AsyncClient(transport=allowed.transport(), follow_redirects=True) as client:
        with pytest.raises(InvalidURLError):
            await client.get(f"http://docs.test:{server.port}/jump")
    assert len(server.hits_for("/jump")) == 1


async def test_allow_private_reaches_the_test_server(server: TestServer) -> None:
    server.route("/page", Reply(body="hello"))
    async with httpx.AsyncClient(transport=policy(allow_private=True).transport()) as client:
        response = await client.get(server.url("/page"))
    assert response.status_code == 200
    assert response.text == "hello"
    assert len(server.hits_for("/page")) == 1


@pytest.mark.checklist(7)
async def test_dns_rebinding_connects_only_to_the_checked_address(
    server: TestServer, os_resolver_calls: list[str]
) -> None:
    """First answer 127.0.0.1 (allowed by CIDR), later answers 10.0.0.1 (refused).

    Each new connection resolves once through the policy and goes to the address it
    checked; 'docs.test' does not exist in real DNS, so success also proves the OS
    resolver never looked the name up.
    """
    server.route("/page", Reply(body="ok"))
    server.route("/bye", Reply(body="bye", headers={"Connection": "close"}))
    resolver = FakeResolver({"docs.test": ["127.0.0.1"]}, then={"docs.test": ["10.0.0.1"]})
    guarded = policy(resolver, allowed_hosts=["127.0.0.1/32"])
    base = f"http://docs.test:{server.port}"
    async with httpx.AsyncClient(transport=guarded.transport()) as client:
        assert (await client.get(base + "/page")).text == "ok"
        assert (await client.get(base + "/page")).text == "ok"  # same connection
        assert len(resolver.calls) == 1
        assert (await client.get(base + "/bye")).text == "bye"  # server closes it
        assert len(resolver.calls) == 1
        with pytest.raises(InvalidURLError) as info:
            await client.get(base + "/page")  # new connection: resolved again, rebound
    assert info.value.details["address"] == "10.0.0.1"
    assert len(resolver.calls) == 2
    assert len(server.hits_for("/page")) == 2
    assert server.hits_for("/page")[0].headers["host"] == f"docs.test:{server.port}"
    assert only_ip_literals(os_resolver_calls)


async def test_backend_tries_each_checked_address_in_order(
    server: TestServer, os_resolver_calls: list[str]
) -> None:
    """127.0.0.2 is loopback too but nothing listens there: the backend moves on."""
    server.route("/page", Reply(body="ok"))
    resolver = FakeResolver({"docs.test": ["127.0.0.2", "127.0.0.1"]})
    guarded = policy(resolver, allowed_hosts=["127.0.0.0/8"])
    async with httpx.AsyncClient(transport=guarded.transport()) as client:
        response = await client.get(f"http://docs.test:{server.port}/page")
    assert response.status_code == 200
    assert only_ip_literals(os_resolver_calls)


async def test_tls_keeps_the_host_name_for_sni(server: TestServer) -> None:
    """The socket goes to the checked IP, but TLS is started for the origin's name.

    The test server speaks plain HTTP, so the handshake fails; httpcore's trace shows
    what it was attempted with.
    """
    events: list[tuple[str, dict[str, Any]]] = []

    async def trace(name: str, info: dict[str, Any]) -> None:
        events.append((name, info))

    resolver = FakeResolver({"docs.test": ["127.0.0.1"]})
    guarded = policy(resolver, allowed_hosts=["docs.test"])
    async with httpx.AsyncClient(transport=guarded.transport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"https://docs.test:{server.port}/", extensions={"trace": trace})
    started = dict(events)
    assert started["connection.connect_tcp.started"]["host"] == "docs.test"
    assert started["connection.start_tls.started"]["server_hostname"] == "docs.test"
    assert resolver.calls == [("docs.test", server.port)]


async def test_unresolvable_names_are_connect_errors(server: TestServer) -> None:
    async with httpx.AsyncClient(transport=policy().transport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://nowhere.test/")


async def test_backend_connects_directly(server: TestServer) -> None:
    resolver = FakeResolver({"docs.test": ["127.0.0.1"]})
    backend = policy(resolver, allowed_hosts=["docs.test"]).network_backend()
    stream = await backend.connect_tcp("docs.test", server.port, timeout=5)
    await stream.write(b"GET /raw HTTP/1.1\r\nHost: docs.test\r\nConnection: close\r\n\r\n")
    assert (await stream.read(1024)).startswith(b"HTTP/1.1 404")
    await stream.aclose()
    with pytest.raises(InvalidURLError):
        await backend.connect_unix_socket("/tmp/x.sock")


def test_transport_passes_options_through_and_refuses_bypasses() -> None:
    transport = policy().transport(
        limits=httpx.Limits(max_connections=3, max_keepalive_connections=2),
        http2=False,
        retries=0,
        verify=False,
    )
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert pool._max_connections == 3
    assert pool._max_keepalive_connections == 2
    assert pool._network_backend.__class__.__name__ == "_PolicyBackend"
    with pytest.raises(ValueError, match="bypass"):
        policy().transport(proxy="http://proxy.test:3128")
    with pytest.raises(ValueError, match="bypass"):
        policy().transport(uds="/tmp/x.sock")


async def test_a_name_that_does_not_exist_fails_once_without_retries() -> None:
    """NXDOMAIN is final: the fetch says "unknown host" and the retry policy gives up at
    once; a resolver that cannot answer right now stays a retryable connection error."""
    resolver = FakeResolver({})
    async with HttpFetcher(policy(resolver), FetcherOptions(timeout=5)) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.get("http://no-such-host.example/")
    assert info.value.reason == "unknown host" and not info.value.retryable
    assert "no-such-host.example" in info.value.message

    async def busy(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "temporary failure in name resolution")

    async with HttpFetcher(NetworkPolicy(resolver=busy), FetcherOptions(timeout=5)) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.get("http://busy.example/")
    assert info.value.reason == "connection error" and info.value.retryable

from __future__ import annotations

import random

import pytest

from scrape_api_docs.crawler.frontier import Frontier, QueuedURL
from scrape_api_docs.crawler.scope import Scope
from scrape_api_docs.urls import Joiner, absolute, canonical, host_key, scope_folder


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTP://Docs.Example.COM/guide/", "http://docs.example.com/guide"),
        ("http://docs.example.com:80/guide/index.html", "http://docs.example.com/guide/"),
        ("https://docs.example.com:443/a.html#frag", "https://docs.example.com/a.html"),
        ("http://x.org/p?b=2&a=1", "http://x.org/p?a=1&b=2"),
        ("http://x.org", "http://x.org/"),
        ("http://x.org/index.htm", "http://x.org/"),
        ("http://x.org./a", "http://x.org/a"),
    ],
)
def test_one_page_one_key(a: str, b: str) -> None:
    assert canonical(a) == canonical(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://x.org/a", "https://x.org/a"),
        ("http://x.org:8080/a", "http://x.org/a"),
        ("http://x.org/a?page=2", "http://x.org/a?page=3"),
        ("http://x.org/A", "http://x.org/a"),
    ],
)
def test_different_pages_different_keys(a: str, b: str) -> None:
    assert canonical(a) != canonical(b)


@pytest.mark.parametrize(
    ("start", "folder"),
    [
        ("http://x.org/docs/", "/docs/"),
        ("http://x.org/docs/index.html", "/docs/"),
        ("http://x.org/docs", "/docs/"),
        ("http://x.org/3/library/os.html", "/3/library/"),
        ("http://x.org", "/"),
    ],
)
def test_scope_folder(start: str, folder: str) -> None:
    assert scope_folder(start) == folder


def test_absolute_links() -> None:
    base = "http://x.org/docs/a/page.html"
    assert absolute(base, "../b.html#s") == "http://x.org/docs/b.html#s"
    assert absolute(base, "//cdn.x.org/y") == "http://cdn.x.org/y"
    for junk in (
        "mailto:a@b.c",
        "javascript:alert(1)",
        "tel:123",
        "data:text/html,x",
        "ftp://x/",
        "",
    ):
        assert absolute(base, junk) is None


JOIN_BASES = [
    "http://x.org/docs/a/page.html",
    "https://x.org/docs/a/",
    "http://x.org",
    "http://x.org/",
    "http://X.org:8080/docs/a/page.html?q=1#frag",
    "HTTP://x.org/a//b/./c/../page.html",
    "http://x.org/docs/a/page.html;params",
    "http://x.org/#/guide",
    "file:///docs/page.html",
]


def test_joiner_joins_as_absolute_does() -> None:
    """The fast path for plain relative paths gives the URL ``absolute`` (urljoin) gives,
    whatever the dot segments, slashes and characters: thousands of random references
    against bases with and without a folder, a query, a port, parameters."""
    rng = random.Random(12)
    pieces = ["..", ".", "", "a", "b.html", "%20x", "c~d", "(e)", "f;g", "h:i", "?q", "#f", "\\"]
    for base in JOIN_BASES:
        join = Joiner(base)
        for _ in range(2000):
            href = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
            if rng.random() < 0.2:
                href = "/" + href
            assert join(href) == absolute(base, href), (base, href)
        for href in ("..", "../..", "./", "/", "//h/x", "a//b", " a/b ", "", "#x", "?y", "é"):
            assert join(href) == absolute(base, href), (base, href)


def test_host_key_keeps_non_default_ports() -> None:
    assert host_key("http://x.org:80/a") == "x.org"
    assert host_key("http://x.org:8080/a") == "x.org:8080"


def test_scope_rules() -> None:
    scope = Scope("http://x.org/docs/")
    assert scope.reason_out("http://x.org/docs/a.html") is None
    assert scope.reason_out("http://x.org/docs") is None
    assert scope.reason_out("http://x.org/blog/") == "outside start folder"
    assert scope.reason_out("http://y.org/docs/") == "other host"
    assert scope.reason_out("http://x.org:8080/docs/") == "other host"
    globs = Scope("http://x.org/", ("*/docs/*",), ("*/docs/old/*",))
    assert globs.reason_out("http://x.org/v2/docs/a") is None
    assert globs.reason_out("http://x.org/docs/old/a") == "excluded by pattern"
    assert globs.reason_out("http://x.org/blog/a") == "not matched by include patterns"


def test_frontier_depth_budget_and_dedup() -> None:
    frontier = Frontier(Scope("http://x.org/"), max_depth=2, max_pages=3)
    first = frontier.admit("http://x.org/", 0)
    assert isinstance(first, QueuedURL) and first.depth == 0
    assert frontier.admit("http://x.org/index.html#top", 1) == "seen"
    assert frontier.admit("http://x.org/deep", 3) == "max depth"
    assert isinstance(frontier.admit("http://x.org/a", 1), QueuedURL)
    assert isinstance(frontier.admit("http://x.org/b", 2), QueuedURL)
    assert frontier.admit("http://x.org/c", 1) == "page budget"
    assert frontier.skipped == {"max depth": 1, "page budget": 1}

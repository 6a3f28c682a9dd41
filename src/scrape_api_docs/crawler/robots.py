"""robots.txt per RFC 9309: decisions from a fetch outcome, then per-URL checks.

2xx: parse the rules. 4xx ("unavailable"): everything allowed. 5xx or no answer
("unreachable"): everything disallowed. Redirects are followed by the fetcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from protego import Protego


@dataclass
class RobotsRules:
    status: str
    """"parsed", "allow-all (HTTP 404)", "disallow-all (HTTP 503)", ..."""
    parser: Protego | None = None
    allow_all: bool = False
    sitemaps: list[str] = field(default_factory=list)
    unreachable: str = ""
    """Why robots.txt could not be fetched at all (network failure), if it could not."""

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None


def rules_from_response(status: int | None, body: bytes | None, reason: str = "") -> RobotsRules:
    """The RFC 9309 decision table, as a pure function.

    ``status`` None means the file could not be fetched at all (network failure,
    timeout, refused redirect): treated like a server error, i.e. disallow everything.
    """
    if status is None:
        reason = reason or "no answer"
        return RobotsRules(f"disallow-all (unreachable: {reason})", unreachable=reason)
    if 200 <= status < 300:
        text = (body or b"").decode("utf-8", errors="replace")
        parser = Protego.parse(text)
        return RobotsRules("parsed", parser, sitemaps=list(parser.sitemaps))
    if 400 <= status < 500:
        return RobotsRules(f"allow-all (HTTP {status})", allow_all=True)
    return RobotsRules(f"disallow-all (HTTP {status})")


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))

"""Which URLs belong to a crawl: same host, the start folder, include/exclude globs."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from scrape_api_docs.urls import origin, scope_folder


@dataclass(frozen=True)
class Scope:
    start_url: str
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()

    def reason_out(self, url: str) -> str | None:
        """None when ``url`` is in scope, else the reason it is not (counted in reports).

        The host is always the start URL's. Include globs, when given, replace the default
        start-folder rule; exclude globs win over everything.
        """
        scheme, host, port = origin(url)
        _, s_host, s_port = origin(self.start_url)
        if scheme not in ("http", "https"):
            return "not http(s)"
        if host != s_host or port != s_port:
            return "other host"
        if any(fnmatchcase(url, pattern) for pattern in self.exclude_patterns):
            return "excluded by pattern"
        if self.include_patterns:
            if not any(fnmatchcase(url, pattern) for pattern in self.include_patterns):
                return "not matched by include patterns"
            return None
        folder = scope_folder(self.start_url)
        path = urlsplit(url).path or "/"
        if not (path.startswith(folder) or path == folder.rstrip("/")):
            return "outside start folder"
        return None

"""What a string must be to go into an HTTP request header: the one rule for the user
agent, credential values and cookies, used by the API models, the job service, the CLI and
the settings alike (a shared basic: no imports from the rest of the package)."""

from __future__ import annotations

import re

# Visible ASCII plus space and tab: what a header value sent by the crawler may hold.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def header_value_problem(value: str, *, allow_tab: bool = True) -> str | None:
    """Why ``value`` cannot be sent as an HTTP header value, or None when it can.

    The one rule for every string that ends up in a request header (user agent, credential
    values, cookies), used by the API models, the job service and the CLI alike. The
    answer never quotes the value: it may be a secret.
    """
    if not allow_tab and "\t" in value:
        return "contains a tab, which this header cannot hold"
    if _HEADER_VALUE.fullmatch(value):
        return None
    if any(ch in "\r\n" for ch in value):
        return "contains a line break, which cannot be sent in an HTTP header"
    if not value.isascii():
        return (
            "contains non-ASCII characters, which cannot be sent in an HTTP header; "
            "use plain ASCII letters, digits and punctuation"
        )
    return "contains control characters, which cannot be sent in an HTTP header"


def header_safe_user_agent(value: str) -> str:
    """A User-Agent goes into an HTTP header: printable ASCII only (no accents, emoji, tabs
    or line breaks). The one check for the API, the CLI and ``SCRAPER_USER_AGENT``."""
    problem = header_value_problem(value, allow_tab=False)
    if problem:
        raise ValueError(f"the user agent must be printable ASCII: it {problem}")
    return value

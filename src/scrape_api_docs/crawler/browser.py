"""Finding and launching the real Chromium that JavaScript rendering and PDF export drive.

Playwright drives the system's Chromium; it cannot download its own on machines without
internet, but one it did download elsewhere is used when the system has none. The
headless shell (Debian's ``chromium-headless-shell``, Playwright's own choice for
headless) comes first: the same engine without the desktop browser's compositing, it
rendered large docs pages for about half the CPU of ``chromium --headless`` (bench/README).
The full browser (Debian's ``chromium``) is the fallback. One place decides which binary
and which flags, so the renderer, the PDF exporter and the health check agree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

BROWSER_NAMES = (
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)


class BrowserUnavailable(RuntimeError):
    """No usable Chromium: the message says what was looked for and how to install one."""


class BrowserGone(Exception):
    """The browser went away while a page was being rendered."""


# Where ``playwright install chromium`` puts its browsers, newest first when sorted down.
PLAYWRIGHT_BUILDS = (
    "chromium_headless_shell-*/chrome-*/chrome-headless-shell",
    "chromium_headless_shell-*/chrome-linux/headless_shell",
    "chromium-*/chrome-linux*/chrome",
    "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
    "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "chromium-*/chrome-win*/chrome.exe",
)


def find_browser(configured: str | None = None) -> str | None:
    """The Chromium executable: the configured path if it is executable, else the first on
    PATH, else one Playwright downloaded (``playwright install chromium``, where that is
    possible)."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return _playwright_build()


def _playwright_build() -> str | None:
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or {
        "darwin": "~/Library/Caches/ms-playwright",
        "win32": "~/AppData/Local/ms-playwright",
    }.get(sys.platform, "~/.cache/ms-playwright")
    if root == "0":  # Playwright's "inside the package" setting
        return None
    folder = Path(root).expanduser()
    for pattern in PLAYWRIGHT_BUILDS:
        for found in sorted(folder.glob(pattern), key=_build_number, reverse=True):
            if os.access(found, os.X_OK):
                return str(found)
    return None


def _build_number(path: Path) -> int:
    """``chromium-1187`` -> 1187 (so build 1187 sorts after build 999)."""
    for part in path.parts:
        number = part.removeprefix("chromium_headless_shell-").removeprefix("chromium-")
        if number != part and number.isdigit():
            return int(number)
    return -1


def require_browser(configured: str | None = None) -> str:
    path = find_browser(configured)
    if path is None:
        where = (
            f"SCRAPER_BROWSER_PATH={configured} is not executable"
            if configured
            else ("no chromium on PATH")
        )
        raise BrowserUnavailable(
            f"Chromium is not available ({where}); install it (Debian: apt-get install "
            "chromium-headless-shell, or chromium) or set SCRAPER_BROWSER_PATH"
        )
    return path


def launch_args() -> list[str]:
    """Headless flags: no background networking (it would reach Google's hosts), no sandbox
    only when running as root (Chromium refuses to start sandboxed as root)."""
    args = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-quic",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--metrics-recording-only",
        "--mute-audio",
        "--disable-dev-shm-usage",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


class ClosedPort:
    """A loopback port we hold bound but never listen on: connecting to it is refused.

    Given to Chromium as its proxy, it leaves the browser no network of its own: every
    request a page makes is either answered by our request interception (through the
    crawler's policy-checked fetcher) or fails at this port. That covers what
    interception never sees: preconnects, DNS prefetch, WebSockets from workers, WebRTC
    (with the UDP policy below). Holding the port keeps anyone else from listening on it.
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]

    @property
    def proxy_server(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._socket.close()


# WebRTC would otherwise send UDP (STUN/TURN) straight from the browser, past any proxy.
# The full browser reads the first switch, the headless shell only the second (without
# it, a probe page's STUN packets reached a refused address: test_render_network).
OFFLINE_ARGS = (
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)


async def launch(
    playwright: Playwright,
    configured: str | None = None,
    *,
    proxy_server: str | None = None,
    extra_args: Sequence[str] = (),
) -> Browser:
    """Start headless Chromium; BrowserUnavailable with the reason when it cannot start.

    ``proxy_server``: every connection the browser makes itself goes there, loopback
    included (Playwright adds ``<-loopback>``); pass ``ClosedPort().proxy_server`` to give
    it no network at all (the renderer answers every request itself).
    """
    path = require_browser(configured)
    args = launch_args() + list(extra_args)
    if proxy_server is not None:
        args.extend(OFFLINE_ARGS)
    try:
        return await playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=args,
            timeout=30_000,
            proxy={"server": proxy_server} if proxy_server else None,
        )
    except Exception as exc:  # Playwright raises its own Error for any launch failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserUnavailable(f"Chromium at {path} failed to start: {first}") from exc


def memory_of(pids: list[int]) -> int | None:
    """Summed proportional set size (bytes) of ``pids``: shared pages counted once overall,
    unlike summed RSS. None where /proc cannot tell (not Linux); a process that is gone
    counts 0."""
    if not Path("/proc/self/smaps_rollup").exists():
        return None
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            total += _pss(pid)
    return total


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0

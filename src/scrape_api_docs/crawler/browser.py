"""Finding and launching the real Chromium that JavaScript rendering and PDF export drive.

Playwright drives the system's Chromium (Debian's ``/usr/bin/chromium``); it cannot
download its own on machines without internet. One place decides which binary and which
flags, so the renderer, the PDF exporter and the health check agree.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class BrowserUnavailable(RuntimeError):
    """No usable Chromium: the message says what was looked for and how to install one."""


def find_browser(configured: str | None = None) -> str | None:
    """The Chromium executable: the configured path if it is executable, else the first on PATH."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


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
            "chromium) or set SCRAPER_BROWSER_PATH"
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


async def launch(playwright: Playwright, configured: str | None = None) -> Browser:
    """Start headless Chromium; BrowserUnavailable with the reason when it cannot start."""
    path = require_browser(configured)
    try:
        return await playwright.chromium.launch(
            executable_path=path, headless=True, args=launch_args(), timeout=30_000
        )
    except Exception as exc:  # Playwright raises its own Error for any launch failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserUnavailable(f"Chromium at {path} failed to start: {first}") from exc

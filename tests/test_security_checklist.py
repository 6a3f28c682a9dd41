"""Every case of the security checklist has a test: each test that covers one says so with
``@pytest.mark.checklist(N, ...)``, and this test fails naming every case no test claims.

The checklist itself is shared/design/security-checklist.md (beside the repository, not in
it, so its case titles are copied here, one line each). ``pytest -m checklist`` runs every
marked test.

The marks are read from the collected tests: from this session's own collection when it
holds the whole suite (``make test``), otherwise from a ``pytest --collect-only`` run of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import checklist

TESTS = Path(__file__).parent

CHECKLIST: dict[int, str] = {
    # Outbound requests (crawler, browser, webhooks, export renderers)
    1: "cloud metadata address refused, no connection made",
    2: "alternate IPv4 spellings (decimal, hex, octal, short) refused",
    3: "[::1], [::ffff:127.0.0.1], 0.0.0.0, [::], localhost. refused",
    4: "file:, gopher:, ftp:, data: refused before any fetcher or browser",
    5: "upper-case scheme to the metadata address refused",
    6: "a host with one public and one private address refused",
    7: "DNS rebinding: the connection goes only to the checked address",
    8: "a redirect to a private address stops at that hop",
    9: "a rendered page's requests to private addresses all blocked",
    10: "private webhook refused at submission and at delivery",
    11: "no Authorization or Cookie sent across a cross-origin redirect",
    # Service surface
    12: "export path traversal (../, %2e%2e%2f, NUL) -> 400/404, nothing read",
    13: "key B cannot read, cancel, download or convert key A's job",
    14: "credentials: ciphertext at rest, rotation, wrong key errors, never shown",
    15: "API keys: only a hash stored, identical 401s, never logged",
    16: "every error is the envelope with a request id, nothing internal",
    # Hostile content
    17: "a gzip bomb is stopped at the size cap",
    18: "an endless or trickling response is stopped by the caps",
    19: "a redirect loop or 25 hops stop at the hop limit",
    20: "an endless calendar or session ids stay within the page budget",
    21: "robots.txt: 404 allows, 503 or timeout disallows, 1 MB parsed",
    22: "invalid UTF-8, a lying charset, 100,000 nested tags: text, no 500, no hang",
    23: "scripts, handlers, javascript: stripped from HTML, PDF, EPUB exports",
    # Jobs under faults
    24: "SIGKILL mid-job: taken up again, completes once, one webhook",
    25: "SIGTERM hands back in time; a job crashing every attempt fails; full queue 429",
    # Added after attacking the running service
    26: "secrets never in logs (crashed authenticated job, 500 with a key, ?api_key=)",
    27: "huge bodies -> 413 while streaming, memory flat; key checked before the body",
    28: "X-Forwarded-For from a non-proxy ignored; 429s carry Retry-After, X-RateLimit-*",
    29: "keyless loopback server: foreign CORS preflight and Host refused",
    30: "disk full mid-job: clear failure, partial files removed, 507, degraded health",
    31: "cancel or timeout stops an export; a huge page's PDF within a memory bound",
    32: "/scrape/sync under a full queue: bounded, 429 with Retry-After",
    33: "Markdown and llms.txt exports: hostile titles, links, images made inert",
    34: "HTML site export: refused images become alt text; CSP only the site's files",
    35: "non-ASCII or control characters in header options, opaque redirects: 4xx or skip",
    36: "kill -9 of the server leaves no helper processes behind",
    37: "keys: stats per caller, revoking the last key, IP spellings at every entry",
}


def _collected_marks(config: pytest.Config) -> dict[str, list[object]]:
    """The marks of the whole suite: this session's, if it collected every test file (even
    if it then deselected most), else a collection run's."""
    files = {str(path.relative_to(TESTS.parent)) for path in TESTS.rglob("test_*.py")}
    here = config.stash.get(checklist.COLLECTED, None)
    if here is not None and files <= here.files:
        return here.marks
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"checklist-{os.getpid()}.json"
    try:
        collected = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
            cwd=TESTS.parent,
            env={**os.environ, "CHECKLIST_REPORT": str(report)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert report.exists(), collected.stdout[-2000:] + collected.stderr[-2000:]
        found: dict[str, list[object]] = json.loads(report.read_text())
        return found
    finally:
        report.unlink(missing_ok=True)


def test_every_checklist_case_has_a_test(request: pytest.FixtureRequest) -> None:
    marks = _collected_marks(request.config)
    covered: dict[object, list[str]] = {}
    for test, cases in marks.items():
        for case in cases:
            covered.setdefault(case, []).append(test)
    unknown = {case: tests for case, tests in covered.items() if case not in CHECKLIST}
    assert not unknown, f"checklist marks naming no case of the checklist: {unknown}"
    missing = [f"{n}. {title}" for n, title in CHECKLIST.items() if n not in covered]
    assert not missing, "checklist cases no test is marked with:\n" + "\n".join(missing)

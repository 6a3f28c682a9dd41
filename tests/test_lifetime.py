"""Helper processes end with the process they work for, even when it is SIGKILLed
(security checklist 36; the server-level test is in tests/api/test_live_server.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
time.sleep(120)
"""

CHILDREN = {
    "prctl": "from scrape_api_docs.lifetime import end_with_parent; end_with_parent()",
    "pidfd": "import os; from scrape_api_docs.lifetime import end_with; end_with(os.getppid())",
    "polling": (
        "import os; from scrape_api_docs import lifetime; del os.pidfd_open;"
        "lifetime.POLL_SECONDS = 0.1; lifetime.end_with(os.getppid())"
    ),
}


@pytest.mark.parametrize("how", sorted(CHILDREN))
def test_a_child_ends_when_its_parent_is_killed(how: str) -> None:
    child_code = CHILDREN[how] + "\nimport time\nprint('ready', flush=True)\ntime.sleep(120)\n"
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), child_code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert parent.stdout is not None
        pid, ready = parent.stdout.readline().split()
        assert ready == "ready"
        child = psutil.Process(int(pid))
        assert child.is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"the {how} child outlived its parent"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait(10)

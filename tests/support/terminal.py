"""What a command run on a pseudo-terminal (``pty.fork``) printed, read to its end."""

from __future__ import annotations

import os
import select
import time


def read_until_exit(fd: int, pid: int, seconds: float) -> tuple[int, str]:
    """Everything the child ``pid`` writes to the terminal ``fd`` (for at most
    ``seconds``), then its exit status and the text."""
    output = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status), output.decode(errors="replace")

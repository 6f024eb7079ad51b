"""Small helpers shared by tests: waiting on a condition that must become true, and what
differs between the operating systems the suite runs on."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: Tests that send POSIX stop signals to another process. Windows has no SIGHUP, and
#: another process can only send Ctrl+Break (to a process group) or terminate it outright;
#: tests/unit/test_system.py covers Ctrl+Break there.
posix_signals = pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows delivers no SIGTERM/SIGHUP from another process (Ctrl+Break is tested in "
    "tests/unit/test_system.py)",
)

#: Tests that look for the single-instance socket file: Windows uses a named pipe.
socket_file = pytest.mark.skipif(
    sys.platform == "win32", reason="the single instance listens on a named pipe on Windows"
)


def assert_mode(path: Path, mode: int) -> None:
    """``path`` has exactly these POSIX permission bits. On Windows files have no such
    bits (chmod only sets read-only); the user's profile ACL is what keeps them private."""
    if os.name == "posix":
        got = stat.S_IMODE(path.stat().st_mode)
        assert got == mode, f"{path} is {oct(got)}, not {oct(mode)}"


def short_dir(tmp_path: Path) -> Path:
    """A folder for Unix socket files: ``tmp_path`` itself, except on macOS, where a socket
    path may have 104 bytes and pytest's temporary folders are longer."""
    if sys.platform == "darwin":
        return Path(tempfile.mkdtemp(prefix="vm-", dir="/tmp"))
    return tmp_path


def wait_until(condition: Callable[[], object], timeout: float = 10.0, poll: float = 0.01) -> None:
    """Return once ``condition()`` is true; fail the test if it is not within ``timeout``.

    For state another thread changes where no event announces it (a file, a server's
    store): never a fixed sleep, and never a loop that ends silently at its deadline.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        time.sleep(poll)


def delivered(sandbox: Any) -> Counter[str]:
    """How many emails each address got in the sandbox mailbox of its first sender."""
    address = sandbox.manifest["senders"][0]["email"]
    return Counter(
        r["message"]["toRecipients"][0]["emailAddress"]["address"]
        for r in sandbox.microsoft.graph.sent_messages(address)
    )

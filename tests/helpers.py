"""Small helpers shared by tests: waiting on a condition that must become true."""

from __future__ import annotations

import time
from collections.abc import Callable


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

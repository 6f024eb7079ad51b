"""The ``video-messaging`` GUI entry point (``vmsg gui`` is the same).

A front end of its own: it imports the workflow, never the command line.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Open the desktop app. This version has no window yet: it says so and exits 2."""
    print(
        "video-messaging: the desktop window is not available yet in this version.\n"
        "      Try the whole flow from a terminal: vmsg demo",
        file=sys.stderr,
    )
    return 2

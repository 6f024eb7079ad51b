"""The ``video-messaging`` GUI entry point: the same as ``vmsg gui``."""

from __future__ import annotations

import sys

from app import cli


def main() -> int:
    return cli.main(["gui", *sys.argv[1:]])

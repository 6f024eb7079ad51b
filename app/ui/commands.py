"""``vmsg gui`` (and ``vmsg`` alone): open the desktop app from the command line."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, name: str) -> None:
    summary = "Open the desktop app (default)."
    p = subparsers.add_parser(name, help=summary, description=summary)
    add_arguments(p)
    p.set_defaults(handler=cmd_gui)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick-record",
        action="store_true",
        help="start a quick recording (in the app that is already running, if one is); "
        "bind an OS keyboard shortcut to this",
    )
    p.add_argument("--minimized", action="store_true", help="start in the tray")
    p.add_argument("--first-run", action="store_true", help="show the first-run wizard again")


def cmd_gui(args: argparse.Namespace) -> int:
    from app.ui.entry import run  # noqa: PLC0415 - Qt only when the window opens

    return run(
        profile=getattr(args, "profile", None),
        quick_record=bool(getattr(args, "quick_record", False)),
        minimized=bool(getattr(args, "minimized", False)),
        first_run=bool(getattr(args, "first_run", False)),
    )

"""``vmsg doctor``: the workflow's checks (``app.workflow.doctor``), one line each."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO


def register(subparsers: Any, name: str) -> None:
    p = subparsers.add_parser("doctor", help="Check this machine and the app's setup.")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    return run(args.profile, sys.stdout)


def run(profile: str | None, out: TextIO) -> int:
    from app.workflow import doctor  # noqa: PLC0415 - devices, PyAV

    failed = False
    for check in doctor.checks(profile):
        out.write(f"[{check.status:>4}] {check.name}: {check.value}\n")
        if check.fix:
            for line in check.fix.splitlines():
                out.write(f"       -> {line}\n")
        failed = failed or check.status == doctor.FAIL
    out.write("\nSomething required is missing (FAIL above).\n" if failed else "\nAll good.\n")
    return 1 if failed else 0

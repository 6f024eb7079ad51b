"""The ``vmsg`` command line (``python -m app`` is the same).

Each subcommand is a function taking the parsed arguments and returning an exit code.
Errors the user can act on are :class:`~app.errors.AppError`; they are printed here, in
one place, as "vmsg: <message>" plus the hint. Anything else is a bug and goes to the
crash handler, which logs the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from app import __version__, crash, logsetup
from app.errors import AppError, NotAvailableYet

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

#: Subcommands that are planned, with the issue that builds them.
_PLANNED: dict[str, tuple[str, str]] = {
    "gui": ("Open the desktop app (default).", "the desktop UI"),
    "demo": ("Record 5 s, send to three sandbox recipients, show the results.", "mail"),
    "sandbox": ("Run the local Kaltura, Graph and sign-in servers.", "sandbox"),
    "record": ("Record a take from the camera and microphone.", "recorder"),
    "devices": ("List cameras and microphones (--test: 2 s pre-flight check).", "recorder"),
    "upload": ("Upload a video to Kaltura and print its links.", "Kaltura"),
    "send": ("Send a video message to one or more people.", "mail"),
    "login": ("Sign in to Microsoft 365.", "Microsoft 365"),
    "logout": ("Disconnect the Microsoft 365 account of this profile.", "Microsoft 365"),
    "whoami": ("Show who is signed in for this profile.", "Microsoft 365"),
    "people": ("Search the directory for recipients.", "Microsoft 365"),
}


def _not_available(name: str) -> Handler:
    def run(args: argparse.Namespace) -> int:
        area = _PLANNED[name][1]
        raise NotAvailableYet(
            f"'vmsg {name}' is not available yet: it arrives with the {area} work.",
            hint="Run 'vmsg --help' to see what this version can do.",
        )

    return run


def _cmd_doctor(args: argparse.Namespace) -> int:
    from app import doctor  # noqa: PLC0415 - keeps `vmsg --version` fast

    return doctor.run(profile=args.profile, out=sys.stdout)


def build_parser(handlers: dict[str, Handler] | None = None) -> argparse.ArgumentParser:
    """The argument parser. ``handlers`` replaces subcommand implementations (tests, issues)."""
    handlers = dict(handlers or {})
    parser = argparse.ArgumentParser(
        prog="vmsg",
        description="Video Messaging: record a personal video and send it from your mailbox.",
        epilog="Without a subcommand, the desktop app opens ('vmsg gui').",
    )
    parser.add_argument("--version", action="version", version=f"vmsg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything (DEBUG)")
    parser.add_argument(
        "--profile", metavar="NAME", help="use this profile instead of the active one"
    )
    # No subcommand means the desktop app.
    parser.set_defaults(handler=handlers.get("gui", _not_available("gui")))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = sub.add_parser("doctor", help="Check this machine and the app's setup.")
    doctor.set_defaults(handler=handlers.get("doctor", _cmd_doctor))
    for name, (summary, _area) in _PLANNED.items():
        p = sub.add_parser(name, help=summary, description=summary)
        # Until a subcommand is built, accept its future arguments so the message is useful.
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(handler=handlers.get(name, _not_available(name)))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        logsetup.setup(verbose=args.verbose, console=True)
    except OSError as exc:
        print(f"vmsg: warning: cannot write the log file: {exc}", file=sys.stderr)
    crash.install(gui=False)
    try:
        return int(args.handler(args))
    except AppError as exc:
        log.info("command failed: %s", exc.message)
        print(f"vmsg: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"      {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vmsg: interrupted", file=sys.stderr)
        return 130

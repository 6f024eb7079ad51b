"""The ``vmsg`` command line (``python -m app`` is the same).

Each subcommand is a function taking the parsed arguments and returning an exit code.
Errors the user can act on are :class:`~app.errors.AppError`; they are printed here, in
one place, as "vmsg: <message>" plus the hint. Anything else is a bug and goes to the
crash handler, which logs the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from app import __version__, crash, logsetup
from app.errors import AppError, NotAvailableYet

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

#: Every subcommand, its summary, and the module that implements it. A module provides
#: ``register(subparsers) -> None``, adding its parser(s) with ``handler=`` defaults. Until
#: that module exists, the subcommand says it is not available yet and exits 2.
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("Open the desktop app (default).", "app.ui.commands"),
    "demo": ("Record 5 s, send to three sandbox recipients, show the results.", "app.mail.cli"),
    "sandbox": ("Run the local Kaltura, Graph and sign-in servers.", "app.sandbox.cli"),
    "record": ("Record a take from the camera and microphone.", "app.recorder.cli"),
    "devices": ("List cameras and microphones (--test: 2 s pre-flight check).", "app.recorder.cli"),
    "upload": ("Upload a video to Kaltura and print its links.", "app.kaltura.cli"),
    "send": ("Send a video message to one or more people.", "app.mail.cli"),
    "outbox": ("Show unsent mail; resend or mark as sent what may not have gone.", "app.mail.cli"),
    "login": ("Sign in to Microsoft 365.", "app.microsoft.cli"),
    "logout": ("Disconnect the Microsoft 365 account of this profile.", "app.microsoft.cli"),
    "whoami": ("Show who is signed in for this profile.", "app.microsoft.cli"),
    "people": ("Search the directory for recipients.", "app.microsoft.cli"),
}


def _not_available(name: str) -> Handler:
    def run(args: argparse.Namespace) -> int:
        raise NotAvailableYet(
            f"'vmsg {name}' is not available yet in this version.",
            hint="Run 'vmsg --help' to see what this version can do.",
        )

    return run


def _gui_default(args: argparse.Namespace) -> int:
    """``vmsg`` alone: the desktop app (through whatever registered ``gui``)."""
    parser = build_parser()
    return int(parser.parse_args(["gui"]).handler(args))


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
    parser.set_defaults(handler=handlers.get("gui", _gui_default))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = sub.add_parser("doctor", help="Check this machine and the app's setup.")
    doctor.set_defaults(handler=handlers.get("doctor", _cmd_doctor))
    registered: set[str] = set()
    for name, (summary, module_name) in COMMANDS.items():
        if name in handlers or name in registered:
            continue
        if importlib.util.find_spec(module_name) is not None:
            before = set(sub.choices)
            importlib.import_module(module_name).register(sub)
            registered |= set(sub.choices) - before
            if name in registered:
                continue
        p = sub.add_parser(name, help=summary, description=summary)
        # Accept the future arguments so the "not available yet" message is what users see.
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(handler=_not_available(name))
    for name, handler in handlers.items():
        if name in COMMANDS and name != "doctor":
            p = sub.add_parser(name, help=COMMANDS[name][0])
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(handler=handler)
    return parser


def command_handlers(parser: argparse.ArgumentParser) -> dict[str, Handler]:
    """Each subcommand's handler, as registered (for tests and ``--help`` checks)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {name: p.get_default("handler") for name, p in action.choices.items()}
    return {}


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

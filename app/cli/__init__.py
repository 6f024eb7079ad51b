"""The ``vmsg`` command line (``python -m app`` is the same): a thin front end on the workflow.

One module per command group (``app.cli.record``, ``.upload``, ``.send``, ``.demo``,
``.account``, ``.sandbox``, ``.doctor``); each parses its arguments, calls
``app.workflow`` and prints. Commands are registered lazily: only the chosen command's
module is imported, so ``vmsg --version`` and ``vmsg --help`` load no media or network
library.

Errors the user can act on are :class:`~app.errors.AppError`; they are printed here, in
one place, as "vmsg: <message>", the hint, and the error's next step rendered as the
command to run (:func:`app.cli.output.next_step`). Anything else is a bug and goes to the
crash handler, which logs the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from app import __version__
from app.errors import AppError, NotAvailableYet

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

#: Every subcommand, its summary, and the module that implements it. A module provides
#: ``register(subparsers, name) -> None``, adding the parser for ``name`` with a
#: ``handler=`` default. Until that module exists, the subcommand says it is not available
#: yet and exits 2.
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("Open the desktop app (default).", "app.ui.commands"),
    "demo": ("Record 5 s, send to three sandbox recipients, show the results.", "app.cli.demo"),
    "sandbox": ("Run the local Kaltura, Graph and sign-in servers.", "app.cli.sandbox"),
    "record": ("Record a take from the camera and microphone.", "app.cli.record"),
    "devices": ("List cameras and microphones (--test: 2 s pre-flight check).", "app.cli.record"),
    "upload": ("Upload a video to Kaltura and print its links.", "app.cli.upload"),
    "send": ("Send a video message to one or more people.", "app.cli.send"),
    "outbox": ("Show unsent mail; resend or mark as sent what may not have gone.", "app.cli.send"),
    "login": ("Sign in to Microsoft 365.", "app.cli.account"),
    "logout": ("Disconnect the Microsoft 365 account of this profile.", "app.cli.account"),
    "whoami": ("Show who is signed in for this profile.", "app.cli.account"),
    "secret": ("Store or delete a secret of this profile in the OS keyring.", "app.cli.account"),
    "people": ("Search the directory for recipients.", "app.cli.account"),
    "doctor": ("Check this machine and the app's setup.", "app.cli.doctor"),
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
    return int(handler_for("gui")(args))


def _register(sub: argparse._SubParsersAction, name: str) -> None:  # type: ignore[type-arg]
    summary, module_name = COMMANDS[name]
    if importlib.util.find_spec(module_name) is not None:
        importlib.import_module(module_name).register(sub, name)
        if name in sub.choices:
            return
    p = sub.add_parser(name, help=summary, description=summary)
    # Accept the future arguments so the "not available yet" message is what users see.
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(handler=_not_available(name))


def build_parser(
    command: str | None = None, handlers: dict[str, Handler] | None = None
) -> argparse.ArgumentParser:
    """The parser, with the full parser of ``command`` only; every other command is a
    one-line placeholder, so building it imports nothing heavy. ``handlers`` replaces
    subcommand implementations (tests)."""
    handlers = dict(handlers or {})
    parser = argparse.ArgumentParser(
        prog="vmsg",
        description="Video Messaging: record a personal video and send it from your mailbox.",
        epilog="Without a subcommand, the desktop app opens ('vmsg gui').",
    )
    parser.add_argument("--version", action="version", version=f"vmsg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything (DEBUG)")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (native libraries; record, upload and send to a "
        "throwaway sandbox) and print one JSON line; exit 0 when everything works",
    )
    parser.add_argument(
        "--profile", metavar="NAME", help="use this profile instead of the active one"
    )
    # No subcommand means the desktop app.
    parser.set_defaults(handler=handlers.get("gui", _gui_default))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (summary, _module) in COMMANDS.items():
        if name in handlers:
            p = sub.add_parser(name, help=summary)
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            p.set_defaults(handler=handlers[name])
        elif name == command:
            _register(sub, name)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, if any (skipping the global options)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--profile")
    pre.add_argument("-v", "--verbose", action="store_true")
    pre.add_argument("--version", action="store_true")
    pre.add_argument("-h", "--help", action="store_true")
    try:
        _known, rest = pre.parse_known_args(list(argv))
    except SystemExit:  # a malformed global option: the real parser reports it
        return None
    return rest[0] if rest and rest[0] in COMMANDS else None


def handler_for(name: str) -> Handler:
    """The handler of one subcommand, as registered (tests and ``vmsg`` alone)."""
    parser = build_parser(name)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            handler: Handler = action.choices[name].get_default("handler")
            return handler
    raise KeyError(name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_in(argv))
    args = parser.parse_args(argv)
    from app import crash, logsetup, system  # noqa: PLC0415 - not for --version / --help
    from app.cli import output  # noqa: PLC0415

    system.stop_on_signals()  # SIGTERM and SIGHUP stop as cleanly as Ctrl+C
    system.utf8_stdio()  # JSON on stdout is UTF-8 even on a Windows console or pipe
    if args.self_test:
        from app.workflow.selftest import run_self_test  # noqa: PLC0415

        report = run_self_test()
        output.emit_json(report.to_dict())
        return 0 if report.ok else 1
    try:
        logsetup.setup(verbose=args.verbose, console=True)
    except OSError as exc:
        print(f"vmsg: warning: cannot write the log file: {exc}", file=sys.stderr)
    crash.install(gui=False)
    try:
        return int(args.handler(args))
    except AppError as exc:
        log.info("command failed: %s", exc.message)
        output.print_error(exc, profile=args.profile)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vmsg: interrupted", file=sys.stderr)
        return 130

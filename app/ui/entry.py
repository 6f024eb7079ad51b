"""The ``video-messaging`` GUI entry point (``vmsg gui`` is the same).

A front end of its own: it imports the workflow, never the command line. One app runs per
user: a second launch hands its command line to the running one (which comes to the front,
or starts a quick recording for ``--quick-record``) and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from app import APP_NAME, __version__

log = logging.getLogger(__name__)


def _no_display() -> str:
    """Why no window can open here ("" when one can)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return ""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "There is no display here (no DISPLAY or WAYLAND_DISPLAY)."
    return ""


def run(
    *,
    profile: str | None = None,
    quick_record: bool = False,
    minimized: bool = False,
    first_run: bool = False,
) -> int:
    """Open the app (or hand over to the running one). Returns the exit code."""
    why = _no_display()
    if why:
        print(
            f"video-messaging: {why}\n      Try the whole flow from a terminal: vmsg demo",
            file=sys.stderr,
        )
        return 2
    from PySide6.QtCore import QTimer  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.ui.single_instance import send_to_running  # noqa: PLC0415

    QApplication.setApplicationName(APP_NAME)
    QApplication.setOrganizationName(APP_NAME)
    QApplication.setApplicationVersion(__version__)
    QApplication.setDesktopFileName("video-messaging")
    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    forwarded = ["--quick-record"] if quick_record else []
    if send_to_running(forwarded):
        log.info("handed over to the running app: %s", forwarded)
        return 0
    qapp.setQuitOnLastWindowClosed(False)  # the tray keeps it; the window quits without one

    from app.ui.app import DesktopApp  # noqa: PLC0415

    # The app listens for later launches once its window is up (DesktopApp.start).
    desktop = DesktopApp(
        qapp, profile=profile, single_instance=True, show_wizard=True if first_run else None
    )
    # SIGTERM / SIGHUP / Ctrl+C quit like the Quit menu (the take is kept). Python runs
    # signal handlers only between bytecodes: a timer lets it in while Qt's loop runs.
    from app import system  # noqa: PLC0415

    for signum in system.stop_signals():  # Ctrl+C, TERM, HUP; Ctrl+Break on Windows
        signal.signal(signum, lambda *_a: desktop.quit_now())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    desktop.start(minimized=minimized, quick_record=quick_record)
    code = qapp.exec()
    desktop.shutdown()
    return int(code)


def main(argv: Sequence[str] | None = None) -> int:
    """``video-messaging [--quick-record] [--minimized] [--profile NAME]``."""
    from app import crash, logsetup  # noqa: PLC0415
    from app.ui.commands import add_arguments  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="video-messaging", description="Video Messaging")
    parser.add_argument("--version", action="version", version=f"video-messaging {__version__}")
    parser.add_argument("--profile", metavar="NAME", help="use this profile")
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything")
    add_arguments(parser)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (Qt and the main window, native libraries; record, "
        "upload and send to a throwaway sandbox) and print one JSON line",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.self_test:
        import json  # noqa: PLC0415

        from app import system  # noqa: PLC0415
        from app.ui import selftest  # noqa: PLC0415

        system.utf8_stdio()
        report = selftest.run()
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
        return 0 if report.ok else 1
    try:
        logsetup.setup(verbose=args.verbose)
    except OSError as exc:
        print(f"video-messaging: cannot write the log file: {exc}", file=sys.stderr)
    crash.install(gui=True)
    return run(
        profile=args.profile,
        quick_record=args.quick_record,
        minimized=args.minimized,
        first_run=args.first_run,
    )

"""The one crash handler: unexpected exceptions are logged with their traceback and shown.

The command line prints a short message and the log path. The GUI installs its own
presenter (``app.ui.crash``) through :func:`set_presenter`, which shows a dialog with a
"Copy details" button. Threads are covered too (``threading.excepthook``).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from app import __version__, logsetup, paths

log = logging.getLogger("app.crash")

Presenter = Callable[[str, str], None]
_presenter: Presenter | None = None


def set_presenter(presenter: Presenter | None) -> None:
    """``presenter(summary, details)`` shows a crash to the user (the GUI's dialog)."""
    global _presenter  # noqa: PLW0603 - one process-wide crash handler by design
    _presenter = presenter


def details_text(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> str:
    """What "Copy details" copies: version, platform and the redacted traceback."""
    trace = "".join(traceback.format_exception(exc_type, exc, tb))
    return logsetup.redact(
        f"Video Messaging {__version__}, Python {sys.version.split()[0]}, {sys.platform}\n{trace}"
    )


def handle(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("unexpected error", exc_info=(exc_type, exc, tb))
    summary = f"Something went wrong: {exc_type.__name__}: {logsetup.redact(str(exc))}"
    details = details_text(exc_type, exc, tb)
    if _presenter is not None:
        try:
            _presenter(summary, details)
            return
        except Exception:  # the dialog itself failed: fall back to stderr
            log.exception("crash dialog failed")
    print(
        f"vmsg: {summary}\nThis is a bug. Details are in {paths.log_path()}",
        file=sys.stderr,
    )


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    handle(args.exc_type, args.exc_value, args.exc_traceback)


def install(*, gui: bool) -> None:
    """Route uncaught exceptions (main thread and other threads) to :func:`handle`."""
    sys.excepthook = handle
    threading.excepthook = _thread_hook
    if not gui:
        set_presenter(None)

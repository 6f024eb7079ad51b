"""The one crash handler: unexpected exceptions are logged with their traceback and shown.

The command line prints a short message and the log path. The GUI installs its own
presenter (``app.ui.crash``) through :func:`set_presenter`, which shows a dialog with a
"Copy details" button. Threads are covered too (``threading.excepthook``).

A dialog may only be built on the GUI thread. So a presenter is installed with a ``wake``
callable: a crash in any other thread is queued and ``wake()`` asks the presenter's thread
(by a queued Qt signal) to call :func:`drain_pending`, which presents what is queued there.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from app import __version__, logsetup, paths

log = logging.getLogger("app.crash")

Presenter = Callable[[str, str], None]
_presenter: Presenter | None = None
#: Asks the presenter's thread to call drain_pending() (thread-safe, never blocks).
_wake: Callable[[], None] | None = None
_presenter_thread: int | None = None
_pending: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()


def set_presenter(presenter: Presenter | None, *, wake: Callable[[], None] | None = None) -> None:
    """``presenter(summary, details)`` shows a crash to the user (the GUI's dialog).

    Call it on the thread that may present (the GUI thread). With ``wake``, crashes in
    other threads are queued and ``wake()`` is called from the crashing thread; the
    presenter's thread then calls :func:`drain_pending`. Without it, a crash is presented
    in whatever thread it happens (fine for a presenter that only records or prints).
    """
    global _presenter, _wake, _presenter_thread  # noqa: PLW0603 - one process-wide handler
    _presenter = presenter
    _wake = wake if presenter is not None else None
    _presenter_thread = threading.get_ident() if presenter is not None else None


def drain_pending() -> int:
    """Present every crash queued by other threads (call on the presenter's thread)."""
    shown = 0
    while True:
        try:
            summary, details = _pending.get_nowait()
        except queue.Empty:
            return shown
        _present(summary, details)
        shown += 1


def _present(summary: str, details: str) -> None:
    presenter = _presenter
    if presenter is not None:
        try:
            presenter(summary, details)
            return
        except Exception:  # the dialog itself failed: fall back to stderr
            log.exception("crash dialog failed")
    print(
        f"vmsg: {summary}\nThis is a bug. Details are in {paths.log_path()}",
        file=sys.stderr,
    )


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
    wake = _wake
    if wake is not None and threading.get_ident() != _presenter_thread:
        # Never build a dialog off the GUI thread: queue it and wake that thread.
        _pending.put((summary, details))
        try:
            wake()
            return
        except Exception:  # the GUI is gone: say it here instead
            log.exception("could not hand the crash to the GUI thread")
            drain_pending()
            return
    _present(summary, details)


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

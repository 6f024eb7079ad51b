"""The GUI crash dialog shows the summary and copies the details to the clipboard, and a
crash in a worker thread reaches it on the GUI thread."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app import crash
from app.ui import crash as crash_ui
from app.ui.crash import CrashDialog

ORIGINAL_THREAD_HOOK = threading.excepthook


def test_copy_details_puts_them_on_the_clipboard(qtbot: QtBot) -> None:
    dialog = CrashDialog("Something went wrong: ValueError: x", "Traceback ...\nValueError: x")
    qtbot.addWidget(dialog)
    dialog.show()
    assert "ValueError" in dialog.summary_label.text()
    assert dialog.details_view.toPlainText().startswith("Traceback")
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == "Traceback ...\nValueError: x"
    assert dialog.copy_button.text() == "Copied"
    assert QApplication.instance() is not None


def test_a_crash_in_a_worker_thread_is_shown_on_the_gui_thread(
    qtbot: QtBot, allow_error_log: Callable[[str], None]
) -> None:
    """The dialog is never built off the GUI thread: the crash is queued and the GUI thread
    is woken (a queued signal) to show it."""
    allow_error_log("unexpected error")
    gui_thread = threading.get_ident()
    shown: list[tuple[str, int]] = []
    relay = crash_ui.install(
        lambda summary, details: shown.append((summary, threading.get_ident()))
    )
    try:

        def worker() -> None:
            try:
                raise RuntimeError("in a worker")
            except RuntimeError:
                crash.handle(*sys.exc_info())  # type: ignore[arg-type]

        t = threading.Thread(target=worker)
        t.start()
        t.join(10)
        assert not t.is_alive()
        assert shown == []  # nothing was shown from the worker itself
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
        summary, thread = shown[0]
        assert "RuntimeError: in a worker" in summary
        assert thread == gui_thread
    finally:
        crash.set_presenter(None)
        relay.deleteLater()
        threading.excepthook = ORIGINAL_THREAD_HOOK
        sys.excepthook = sys.__excepthook__

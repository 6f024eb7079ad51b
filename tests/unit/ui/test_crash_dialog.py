"""The GUI crash dialog shows the summary and copies the details to the clipboard."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.ui.crash import CrashDialog


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

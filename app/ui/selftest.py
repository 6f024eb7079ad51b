"""``video-messaging --self-test``: the workflow's self-test (app/workflow/selftest.py) plus
what only the desktop app loads: Qt with its platform plugin and the main window, painted.
A Qt warning on the way fails it, as in the test suite. Runs offscreen unless a platform
is chosen (``QT_QPA_PLATFORM``)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from app.workflow.selftest import Check, SelfTestReport, run_self_test


def run() -> SelfTestReport:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler, qVersion  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    qt_messages: list[str] = []

    def on_qt_message(mode: QtMsgType, _context: Any, message: str) -> None:
        if mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            qt_messages.append(message)

    qInstallMessageHandler(on_qt_message)
    holder: dict[str, QApplication] = {}

    def qt() -> str:
        existing = QApplication.instance()
        app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
        holder["app"] = app
        return f"Qt {qVersion()}, platform plugin {app.platformName()!r}"

    def main_window() -> str:
        from app.ui.app import DesktopApp  # noqa: PLC0415

        app = holder["app"]
        desktop = DesktopApp(app, show_wizard=False, crash_dialogs=False, global_hotkey=False)
        painted: list[bool] = []
        desktop.window.first_paint.connect(lambda: painted.append(True))
        try:
            desktop.window.show()
            deadline = time.monotonic() + 30
            while not painted and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            if not painted:
                raise RuntimeError("the main window did not paint within 30 s")
            return f"painted {desktop.window.width()}x{desktop.window.height()}"
        finally:
            desktop.shutdown()
            desktop.window.close()

    def text() -> str:
        """Qt's text services on ICU's data (the Linux bundle ships a part of it:
        build.spec): Swedish collation sorts Å and Ö after Z, Turkish upper-cases i to İ."""
        from functools import cmp_to_key  # noqa: PLC0415

        from PySide6.QtCore import QCollator, QLocale  # noqa: PLC0415

        collator = QCollator(QLocale("sv_SE"))
        words = sorted(["Öl", "zoe", "Ångström", "apple"], key=cmp_to_key(collator.compare))
        if words != ["apple", "zoe", "Ångström", "Öl"]:
            raise RuntimeError(f"Swedish collation sorted {words}")
        upper = QLocale("tr_TR").toUpper("istanbul")
        if upper != "İSTANBUL":
            raise RuntimeError(f"Turkish upper case gave {upper!r}")
        return "collation and case mapping in other languages"

    report = run_self_test(extra=[("qt", qt), ("main_window", main_window), ("text", text)])
    qInstallMessageHandler(None)
    report.checks.append(
        Check("qt_warnings", not qt_messages, "; ".join(qt_messages[:5]) if qt_messages else "none")
    )
    return report

"""The GUI side of the crash handler: a dialog with the summary and a "Copy details" button."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import crash, paths


class CrashDialog(QDialog):
    """Shows what went wrong, where the log is, and lets the user copy the details."""

    def __init__(self, summary: str, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Video Messaging: something went wrong")
        self.details = details
        layout = QVBoxLayout(self)
        self.summary_label = QLabel(summary)
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        hint = QLabel(
            "Your recordings and messages are kept. The details below are also in "
            f"{paths.log_path()}; please include them when you report this problem."
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.details_view = QPlainTextEdit(details)
        self.details_view.setReadOnly(True)
        layout.addWidget(self.details_view)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.on_copy_button_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(640, 420)

    def on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.details)
        self.copy_button.setText("Copied")


class CrashRelay(QObject):
    """Brings crashes from worker threads to the GUI thread (a queued signal), where
    :func:`app.crash.drain_pending` shows them."""

    pending = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pending.connect(self.on_pending, Qt.ConnectionType.QueuedConnection)

    def on_pending(self) -> None:
        crash.drain_pending()


def show_dialog(summary: str, details: str) -> None:
    CrashDialog(summary, details).exec()


def install(presenter: crash.Presenter = show_dialog) -> CrashRelay:
    """Route unexpected exceptions to :class:`CrashDialog`, always on the GUI thread.

    Call once on the GUI thread, after the QApplication exists; keep the returned relay
    alive as long as the app runs (it is parented to the application).
    """
    relay = CrashRelay(QCoreApplication.instance())
    crash.install(gui=True)
    crash.set_presenter(presenter, wake=relay.pending.emit)
    return relay

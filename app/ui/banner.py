"""Messages in the window: what happened, why, and a button for what to do next.

Every error a person can act on arrives as an :class:`~app.errors.AppError` with a next
step (:class:`~app.errors.Action`); :meth:`Banner.show_error` is the one place the window
turns it into words and buttons: the message, the hint under it, a button for the action
(:data:`ACTION_LABELS`) and, where the work can be tried again, "Try again". The button
asks the app to act (:attr:`Banner.action_requested`), so the banner itself knows no page.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.errors import Action, AppError
from app.ui import icons

#: How the desktop app names each next step (the command line names a command instead).
ACTION_LABELS: dict[Action, str] = {
    Action.SIGN_IN: "Connect to Office 365",
    Action.OPEN_SETTINGS: "Open settings",
    Action.RETRY: "Try again",
    Action.CHECK_DEVICE: "Check camera and microphone",
    Action.CHOOSE_FILE: "Choose another file",
    Action.RECOVER_TAKE: "Recover the recording",
    Action.CHECK_SENT_ITEMS: "Open history",
    Action.CONTACT_ADMIN: "Copy details for your administrator",
    Action.FREE_DISK_SPACE: "Open the recordings folder",
    Action.ALLOW_DEVICE: "Open privacy settings",
}

LEVEL_ICONS = {"info": "check", "warning": "warning", "error": "error"}


class Banner(QFrame):
    """A one-line-or-so message strip with action buttons and a close button."""

    #: (action, error) for the app to perform.
    action_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("banner", "info")
        self.setAccessibleName("Message")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.icon = QLabel()
        self.icon.setFixedSize(20, 20)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.text, 1)
        self.buttons: list[QPushButton] = []
        self._button_row = QHBoxLayout()
        layout.addLayout(self._button_row)
        self.close_button = QToolButton()
        self.close_button.setIcon(icons.icon("close"))
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.error: AppError | None = None
        self.level = "info"
        self.hide()

    # ------------------------------------------------------------------ showing

    def show_message(
        self,
        text: str,
        level: str = "info",
        *,
        detail: str = "",
        actions: list[tuple[str, Callable[[], None]]] | None = None,
        closable: bool = True,
        icon: str = "",
    ) -> None:
        """Show ``text`` (plain), ``detail`` under it, and buttons (label, callback);
        ``icon`` replaces the level's (a check for "info") where it would mislead."""
        self.error = None
        self._show(text, detail, level, actions or [], closable=closable, icon=icon)

    def show_error(
        self, error: AppError, *, retry: Callable[[], None] | None = None, level: str = "error"
    ) -> None:
        """Show an error with its hint and its next step as a button."""
        self.error = error
        actions: list[tuple[str, Callable[[], None]]] = []
        if error.action is not None and error.action is not Action.RETRY:
            action = error.action

            def act() -> None:
                self.action_requested.emit(action, error)

            actions.append((ACTION_LABELS[action], act))
        if retry is not None:
            actions.append((ACTION_LABELS[Action.RETRY], retry))
        self._show(error.message, error.hint, level, actions, closable=True)

    def _show(
        self,
        text: str,
        detail: str,
        level: str,
        actions: list[tuple[str, Callable[[], None]]],
        *,
        closable: bool,
        icon: str = "",
    ) -> None:
        self.level = level
        self.setProperty("banner", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.icon.setPixmap(icons.pixmap(icon or LEVEL_ICONS.get(level, "warning"), 20))
        body = f"<b>{html.escape(text)}</b>" if level == "error" else html.escape(text)
        if detail:
            body += f"<br>{html.escape(detail)}"
        self.text.setText(body)
        self.setAccessibleDescription(f"{text} {detail}".strip())
        for button in self.buttons:
            button.deleteLater()
        self.buttons = []
        for label, callback in actions:
            button = QPushButton(label)
            button.clicked.connect(callback)
            self._button_row.addWidget(button)
            self.buttons.append(button)
        self.close_button.setVisible(closable)
        self.show()

    def plain_text(self) -> str:
        """What the banner says (tests, accessibility)."""
        return self.accessibleDescription()


def copy_details(error: AppError) -> None:
    """Put an error's full text on the clipboard (for the administrator or support)."""
    parts = [error.message, error.hint, error.details]
    QGuiApplication.clipboard().setText("\n".join(p for p in parts if p))

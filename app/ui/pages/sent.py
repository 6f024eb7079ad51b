"""The Sent page: where each person's email stands, the link, and what to do next."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import icons
from app.ui.pages.compose import STATE_ICONS, STATE_WORDS

if TYPE_CHECKING:
    from app.ui.app import DesktopApp


class SentPage(QWidget):
    new_requested = Signal()
    history_requested = Signal()

    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setProperty("heading", True)
        layout.addWidget(self.heading)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setOpenExternalLinks(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.detail)
        self.list = QListWidget()
        self.list.setAccessibleName("Recipients")
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.copy_button = QPushButton(icons.icon("copy"), "Copy link")
        self.copy_button.setAccessibleName("Copy link")
        self.copy_button.clicked.connect(self.copy_link)
        buttons.addWidget(self.copy_button)
        self.history_button = QPushButton(icons.icon("history"), "Open history")
        self.history_button.clicked.connect(self.history_requested)
        buttons.addWidget(self.history_button)
        buttons.addStretch(1)
        self.new_button = QPushButton(icons.icon("record", "#ffffff"), "Record another")
        self.new_button.setProperty("primary", True)
        self.new_button.setToolTip("Record another video (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        buttons.addWidget(self.new_button)
        layout.addLayout(buttons)
        self.link = ""

    def show_result(self, result: Any) -> None:
        messages = result.messages
        sent = sum(1 for m in messages if m.state == "sent")
        total = len(messages)
        if sent == total:
            self.heading.setText(f"Sent to {total} {'person' if total == 1 else 'people'}")
        else:
            self.heading.setText(f"{sent} of {total} sent")
        self.link = self.app.services.landing_url(result.entry_id) if self.app.services else ""
        parts = []
        if result.resumed is not None:
            parts.append(
                "This message was sent before: only those who had not got it were sent it now."
            )
        unknown = [m for m in messages if m.state == "unknown"]
        if unknown:
            parts.append(
                f"{len(unknown)} may have gone out: look in Sent Items, then mark them in "
                "the history."
            )
        failed = [m for m in messages if m.state == "failed"]
        if failed:
            parts.append(
                f"{len(failed)} could not be sent: see why below, and send them again from "
                "the history."
            )
        queued = [m for m in messages if m.state == "queued"]
        if queued:
            parts.append(
                f"{len(queued)} did not go out yet: send them from the "
                "history (Send now), or withdraw them there (Don't send)."
            )
        if self.link:
            parts.append(f'Video: <a href="{html.escape(self.link)}">{html.escape(self.link)}</a>')
        self.detail.setText("<br>".join(parts))
        self.list.clear()
        for m in messages:
            who = m.recipient.display_name or m.recipient.email
            words = STATE_WORDS.get(m.state, m.state)
            text = f"{who} <{m.recipient.email}>: {words}"
            if m.reason and m.state != "sent":
                text += f" ({m.reason})"
            self.list.addItem(
                QListWidgetItem(icons.icon(STATE_ICONS.get(m.state, "unknown")), text)
            )
        self.copy_button.setEnabled(bool(self.link))

    def copy_link(self) -> None:
        if self.link:
            QGuiApplication.clipboard().setText(self.link)
            self.copy_button.setText("Copied")
            QTimer.singleShot(1500, lambda: self.copy_button.setText("Copy link"))

"""Quick record: a small always-on-top recorder that goes straight to Compose on stop.

Opened from the tray, the File menu, the global shortcut, or ``vmsg gui --quick-record``
(a second launch hands it to the running app). It starts recording at once (a short
countdown if one is set), shows the picture, the timer and the link, and has Pause, Stop
and Discard. It can be dragged anywhere by its picture; Esc cancels (after asking once
recording has begun). When the take stops, the main window opens on Compose with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from app.ui import icons
from app.ui.pages.record import clock_text
from app.ui.widgets.preview import PreviewWidget

if TYPE_CHECKING:
    from app.ui.app import DesktopApp


class QuickRecordWindow(QWidget):
    def __init__(self, app: DesktopApp) -> None:
        super().__init__(None, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.app = app
        self.setWindowTitle("Quick record")
        self.setAccessibleName("Quick record")
        self.setWindowIcon(icons.icon("quick-record"))
        self.resize(360, 290)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.preview = PreviewWidget()
        self.preview.setMinimumSize(320, 180)
        self.preview.mirror = app.settings.recording.mirror_preview
        self.preview.placeholder = "Getting ready…"
        self.preview.installEventFilter(self)
        layout.addWidget(self.preview, 1)
        row = QHBoxLayout()
        self.status = QLabel("Getting ready…")
        self.status.setAccessibleName("Recording status")
        row.addWidget(self.status, 1)
        self.pause_button = QPushButton(icons.icon("pause"), "")
        self.pause_button.setToolTip("Pause / resume (Space)")
        self.pause_button.setAccessibleName("Pause")
        self.pause_button.clicked.connect(app.recording.toggle_pause)
        self.stop_button = QPushButton(icons.icon("stop", "#ffffff"), "Stop")
        self.stop_button.setProperty("danger", True)
        self.stop_button.setToolTip("Stop and write the email (Ctrl+R)")
        self.stop_button.setAccessibleName("Stop")
        self.stop_button.clicked.connect(app.recording.stop)
        self.discard_button = QPushButton(icons.icon("discard"), "")
        self.discard_button.setToolTip("Discard (Esc)")
        self.discard_button.setAccessibleName("Discard")
        self.discard_button.clicked.connect(self.cancel)
        for b in (self.pause_button, self.stop_button, self.discard_button):
            row.addWidget(b)
        layout.addLayout(row)
        self.link_label = QLabel()
        self.link_label.setProperty("muted", True)
        self.link_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton(icons.icon("copy"), "Copy link")
        self.copy_button.clicked.connect(self.copy_link)
        self.copy_button.setEnabled(False)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link_label, 1)
        link_row.addWidget(self.copy_button)
        layout.addLayout(link_row)
        for key, slot in (
            ("Ctrl+R", app.recording.stop),
            ("Space", app.recording.toggle_pause),
            ("Esc", self.cancel),
        ):
            QShortcut(QKeySequence(key), self, slot)
        self._drag_from: QPoint | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.update_status)
        rec = app.recording
        rec.state_changed.connect(self.on_recording_state_changed)
        rec.source_changed.connect(self.on_recording_source_changed)
        rec.countdown.connect(lambda n: self.preview.set_overlay(str(n) if n > 0 else ""))
        rec.link_ready.connect(self.on_recording_link_ready)
        rec.finished.connect(self.on_recording_finished)
        rec.failed.connect(self.on_recording_failed)
        self._mine = False

    def open_and_record(self) -> None:
        """Show in the top-right corner of the screen and start a take."""
        screen = QGuiApplication.primaryScreen().availableGeometry()
        self.move(screen.right() - self.width() - 24, screen.top() + 24)
        self.link_label.clear()
        self.copy_button.setEnabled(False)
        self.preview.set_source(None)
        self.show()
        self.raise_()
        self._mine = True
        self.app.start_take(quick=True)

    # ------------------------------------------------------------------ events

    def on_recording_state_changed(self, state: str) -> None:
        if not self.isVisible():
            return
        self._timer.start() if state in ("recording", "paused", "countdown") else self._timer.stop()
        if state != "countdown":
            self.preview.set_overlay("")
        paused = state == "paused"
        self.pause_button.setIcon(icons.icon("play" if paused else "pause"))
        self.pause_button.setAccessibleName("Resume" if paused else "Pause")
        self.pause_button.setEnabled(state in ("recording", "paused"))
        self.stop_button.setEnabled(state in ("countdown", "recording", "paused"))
        if state == "idle" and self._mine:
            self._mine = False
            self.hide()
        self.update_status()

    def on_recording_source_changed(self, source: Any) -> None:
        from app.recorder.preview import LatestFrame  # noqa: PLC0415

        if self.isVisible():
            self.preview.set_source(source if isinstance(source, LatestFrame) else None)

    def on_recording_link_ready(self, link: Any) -> None:
        self.link_label.setText(link.landing_url)
        self.copy_button.setEnabled(True)

    def on_recording_finished(self, take: Any) -> None:
        if not self._mine:
            return
        self._mine = False
        self.preview.set_source(None)
        self.hide()
        window = self.app.window
        window.bring_to_front()
        window.review.take = take  # Back from Compose reviews it
        window.show_compose(take)

    def on_recording_failed(self, error: Any) -> None:
        if self._mine and self.isVisible():
            self._mine = False
            self.hide()
            self.app.window.bring_to_front()
            self.app.window.show_record()
            self.app.window.record.banner.show_error(error)

    def update_status(self) -> None:
        state = self.app.recording.state
        t = clock_text(self.app.recording.elapsed())
        self.status.setText(
            {
                "starting": "Getting ready…",
                "countdown": "Starting…",
                "recording": f'<span style="color:#ea4335">●</span> {t}',
                "paused": f"Paused {t}",
                "finishing": "Saving…",
            }.get(state, "")
        )

    # ------------------------------------------------------------------ actions

    def copy_link(self) -> None:
        link = self.app.recording.link
        if link is not None:
            QGuiApplication.clipboard().setText(link.landing_url)
            self.copy_button.setText("Copied")

    def cancel(self) -> None:
        rec = self.app.recording
        if rec.state == "countdown":
            rec.stop()
            return
        if rec.state in ("recording", "paused"):
            answer = QMessageBox.question(
                self,
                "Discard this take?",
                "The recording and its link are deleted.",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Discard:
                return
            rec.discard()
        self._mine = False
        self.hide()

    def closeEvent(self, event: Any) -> None:
        app = self.app
        if app.recording.active and self._mine and not (app.closing or app.quitting):
            event.ignore()
            self.cancel()
            return
        super().closeEvent(event)

    # ------------------------------------------------------------------ dragging

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            self.move(event.globalPosition().toPoint() - self._drag_from)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None

"""The Record page: see yourself, pick devices, record with a countdown, pause, stop.

Between takes the page shows the live picture and the microphone's level from the device
monitor; during a take the take's own picture, a timer, health warnings with what to do,
and the share link as soon as it exists ("Copy link" works before stop) with the upload's
progress. Keyboard: Ctrl+R records and stops, Space pauses and resumes, Esc cancels the
countdown or discards the take (after asking).
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import icons
from app.ui.banner import Banner
from app.ui.widgets.level_meter import LevelMeter
from app.ui.widgets.preview import PreviewWidget

if TYPE_CHECKING:
    from app.ui.app import DesktopApp

log = logging.getLogger(__name__)

PRESET_LABELS = {"480p": "480p (smaller files)", "720p30": "720p HD", "1080p30": "1080p Full HD"}
COUNTDOWNS = {0: "Off", 3: "3 seconds", 5: "5 seconds"}


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} KB"


def device_label(spec: str) -> str:
    """A device choice that is not among the devices found, in words."""
    from app.recorder import devices  # noqa: PLC0415 - no media library at import

    head, _, options = spec.partition(":")
    if head == "synthetic":
        return f"Test device ({options.replace('=', ' ')})" if options else "Test device"
    if spec.isdigit():
        return f"Camera or microphone {spec}"
    parsed = devices.parse_id(spec)
    return f"{parsed[1]} (not connected)" if parsed else spec


def current_choice(saved: str, found: list[Any]) -> str:
    """The id of the device ``saved`` names among those ``found`` now (found by name when
    the OS numbers its devices differently), else ``saved`` itself."""
    from app.recorder import devices  # noqa: PLC0415

    if not saved or saved.split(":", maxsplit=1)[0] in ("synthetic", "none", "file"):
        return saved
    match = devices.find(saved, found)
    return match.id if match is not None else saved


class DevicePickers(QWidget):
    """Camera, microphone (with its level), quality and countdown; saved as settings."""

    changed = Signal()

    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.camera = QComboBox()
        self.camera.setAccessibleName("Camera")
        self.microphone = QComboBox()
        self.microphone.setAccessibleName("Microphone")
        self.meter = LevelMeter()
        self.preset = QComboBox()
        self.preset.setAccessibleName("Quality")
        for name, label in PRESET_LABELS.items():
            self.preset.addItem(label, name)
        self.countdown = QComboBox()
        self.countdown.setAccessibleName("Countdown")
        for seconds, label in COUNTDOWNS.items():
            self.countdown.addItem(label, seconds)
        form.addRow("&Camera", self.camera)
        form.addRow("&Microphone", self.microphone)
        form.addRow("", self.meter)
        form.addRow("&Quality", self.preset)
        form.addRow("C&ountdown", self.countdown)
        self._loading = False
        self.found: tuple[list[Any], list[Any]] = ([], [])
        self.fill([], [])
        for combo in (self.camera, self.microphone, self.preset, self.countdown):
            combo.currentIndexChanged.connect(self.on_combo_changed)

    def refresh(self) -> None:
        """Show the settings again (they were changed elsewhere)."""
        self.fill(*self.found)

    def fill(self, cameras: list[Any], microphones: list[Any]) -> None:
        """Fill the pickers with the devices found (and the built-in test devices)."""
        self.found = (cameras, microphones)
        rec = self.app.settings.recording
        self._loading = True
        try:
            self.camera.clear()
            self.camera.addItem("Default camera", "")
            for d in cameras:
                self.camera.addItem(d.name or f"Camera {d.id}", str(d.id))
            self.camera.addItem("Test pattern (no camera needed)", "synthetic")
            self.microphone.clear()
            self.microphone.addItem("Default microphone", "")
            for d in microphones:
                self.microphone.addItem(d.name or f"Microphone {d.id}", str(d.id))
            self.microphone.addItem("Test tone (no microphone needed)", "synthetic")
            self.microphone.addItem("No sound", "none")
            for combo, value in (
                (self.camera, current_choice(rec.camera, cameras)),
                (self.microphone, current_choice(rec.microphone, microphones)),
                (self.preset, rec.preset),
                (self.countdown, rec.countdown_seconds),
            ):
                index = combo.findData(value)
                if index < 0 and isinstance(value, str) and value:
                    # A device set elsewhere (the settings file, vmsg): keep it choosable.
                    combo.addItem(device_label(value), value)
                    index = combo.count() - 1
                combo.setCurrentIndex(max(0, index))
        finally:
            self._loading = False
        for combo, dotted in (
            (self.camera, "recording.camera"),
            (self.microphone, "recording.microphone"),
            (self.preset, "recording.preset"),
            (self.countdown, "recording.countdown_seconds"),
        ):
            reason = self.app.locked(dotted)
            combo.setEnabled(not reason)
            combo.setToolTip(reason)

    def on_combo_changed(self, _index: int) -> None:
        if self._loading:
            return
        self.app.save_settings(
            {
                "recording.camera": self.camera.currentData(),
                "recording.microphone": self.microphone.currentData(),
                "recording.preset": self.preset.currentData(),
                "recording.countdown_seconds": self.countdown.currentData(),
            }
        )
        self.changed.emit()


class RecordPage(QWidget):
    """See the module docstring."""

    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.recording = app.recording
        outer = QVBoxLayout(self)
        self.banner = Banner()
        self.banner.action_requested.connect(app.handle_action)
        outer.addWidget(self.banner)
        self.health_banner = Banner()
        self.health_banner.action_requested.connect(app.handle_action)

        body = QHBoxLayout()
        outer.addLayout(body, 1)
        left = QVBoxLayout()
        body.addLayout(left, 3)
        self.preview = PreviewWidget()
        self.preview.mirror = app.settings.recording.mirror_preview
        left.addWidget(self.preview, 1)
        left.addWidget(self.health_banner)

        side = QVBoxLayout()
        body.addLayout(side, 1)
        self.pickers = DevicePickers(app)
        self.pickers.changed.connect(self.on_pickers_changed)
        side.addWidget(self.pickers)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        self.device_note.setProperty("muted", True)
        side.addWidget(self.device_note)
        side.addStretch(1)

        # --- the controls under the picture
        controls = QHBoxLayout()
        left.addLayout(controls)
        self.status = QLabel("Ready")
        self.status.setAccessibleName("Recording status")
        self.status.setMinimumWidth(150)
        controls.addWidget(self.status)
        controls.addStretch(1)
        self.record_button = QPushButton(icons.icon("record", "#ea4335"), "Record")
        self.record_button.setProperty("primary", True)
        self.record_button.setAccessibleName("Record")
        self.record_button.clicked.connect(self.on_record_button_clicked)
        self.pause_button = QPushButton(icons.icon("pause"), "Pause")
        self.pause_button.setAccessibleName("Pause")
        self.pause_button.clicked.connect(self.recording.toggle_pause)
        self.discard_button = QPushButton(icons.icon("discard"), "Discard")
        self.discard_button.setAccessibleName("Discard the take")
        self.discard_button.clicked.connect(self.confirm_discard)
        for b in (self.record_button, self.pause_button, self.discard_button):
            b.setMinimumHeight(34)
            controls.addWidget(b)
        controls.addStretch(1)

        # --- the link, as soon as it exists
        self.link_row = QFrame()
        self.link_row.setProperty("card", True)
        link_layout = QHBoxLayout(self.link_row)
        link_layout.setContentsMargins(10, 4, 6, 4)
        link_icon = QLabel()
        link_icon.setPixmap(icons.pixmap("link", 18))
        link_layout.addWidget(link_icon)
        self.link_label = QLabel()
        self.link_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.link_label.setAccessibleName("Share link")
        link_layout.addWidget(self.link_label, 1)
        self.upload_bar = QProgressBar()
        self.upload_bar.setMaximumWidth(160)
        self.upload_bar.setTextVisible(False)
        self.upload_bar.setMaximumHeight(8)
        self.upload_bar.setAccessibleName("Upload progress")
        link_layout.addWidget(self.upload_bar)
        self.upload_label = QLabel()
        self.upload_label.setProperty("muted", True)
        link_layout.addWidget(self.upload_label)
        self.copy_button = QPushButton(icons.icon("copy"), "Copy link")
        self.copy_button.setAccessibleName("Copy link")
        self.copy_button.clicked.connect(self.copy_link)
        link_layout.addWidget(self.copy_button)
        left.addWidget(self.link_row)
        self.link_row.hide()

        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._devices_listed = False
        self._shown = False  # between activate() and deactivate()

        rec = self.recording
        rec.state_changed.connect(self.on_recording_state_changed)
        rec.countdown.connect(self.on_recording_countdown)
        rec.level.connect(self.pickers.meter.set_level)
        rec.health.connect(self.on_recording_health)
        rec.device_problem.connect(self.on_recording_device_problem)
        rec.device_opened.connect(self.on_recording_device_opened)
        rec.link_ready.connect(self.on_recording_link_ready)
        rec.upload_progress.connect(self.on_recording_upload_progress)
        rec.notice.connect(self.on_recording_notice)
        rec.failed.connect(self.on_recording_failed)
        rec.source_changed.connect(self.on_recording_source_changed)
        self.update_controls()

    # ------------------------------------------------------------------ life

    def activate(self) -> None:
        """The page is shown: list the devices (again: one may have been plugged in since),
        then start the live picture. PortAudio re-reads its list only while no stream is
        open, so the list comes first and the monitor's stream after it."""
        self._shown = True
        idle = not self.recording.active and self.recording.state != "finished"
        if idle and self.recording.monitor is None:
            self._devices_listed = True
            self.app.tasks.run(
                "list devices",
                lambda cancel: _list_devices(cancel, rescan=True),
                on_done=self._devices_found_then_monitor,
            )
        elif not self._devices_listed:
            self._devices_listed = True
            self.app.tasks.run("list devices", _list_devices, on_done=self._devices_found)
        self.update_controls()

    def _devices_found_then_monitor(self, found: tuple[list[Any], list[Any]]) -> None:
        self._devices_found(found)
        idle = not self.recording.active and self.recording.state != "finished"
        if idle and self.recording.monitor is None and self._shown:
            self.start_monitor()

    def reset(self) -> None:
        """A new video: forget the last take's link, warnings and messages."""
        self.link_row.hide()
        self.link_label.clear()
        self.upload_bar.setValue(0)
        self.upload_label.clear()
        self.health_banner.hide()
        self.banner.hide()

    def deactivate(self) -> None:
        self._shown = False
        if not self.recording.active:
            self.recording.stop_monitor()

    def _devices_found(self, found: tuple[list[Any], list[Any]]) -> None:
        self.pickers.fill(*found)

    def start_monitor(self) -> None:
        rec = self.app.settings.recording
        self.device_note.clear()
        self.preview.placeholder = "Opening the camera…"
        self.recording.start_monitor(rec.camera, rec.microphone, rec.preset)

    def on_pickers_changed(self) -> None:
        if not self.recording.active:
            self.start_monitor()

    # ------------------------------------------------------------------ actions

    def on_record_button_clicked(self) -> None:
        self.toggle_record()

    def toggle_record(self) -> None:
        """Ctrl+R: record, or stop the take."""
        state = self.recording.state
        if state in ("countdown", "recording", "paused"):
            self.recording.stop()
        elif state in ("idle", "failed", "finished"):
            self.app.start_take()

    def cancel(self) -> None:
        """Esc: cancel the countdown, or discard the take after asking."""
        state = self.recording.state
        if state == "countdown":
            self.recording.stop()
        elif state in ("recording", "paused"):
            self.confirm_discard()

    def confirm_discard(self) -> None:
        if not self.recording.active and self.recording.take is None:
            return
        answer = QMessageBox.question(
            self,
            "Discard this take?",
            "The recording and its link are deleted. This cannot be undone.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Discard:
            self.recording.discard()
            self.link_row.hide()
            self.health_banner.hide()
            self.start_monitor()

    def copy_link(self) -> None:
        link = self.recording.link
        if link is not None:
            QGuiApplication.clipboard().setText(link.landing_url)
            self.copy_button.setText("Copied")
            QTimer.singleShot(1500, lambda: self.copy_button.setText("Copy link"))

    # ------------------------------------------------------------------ events

    def on_recording_state_changed(self, state: str) -> None:
        if state == "starting":
            self.reset()
            self.preview.placeholder = "Getting ready…"
        if state in ("recording", "paused", "countdown"):
            self._timer.start()
        else:
            self._timer.stop()
        if state != "countdown":
            self.preview.set_overlay("")
        if state == "idle" and self.isVisible():
            self.start_monitor()
        self.update_controls()

    def on_recording_countdown(self, remaining: int) -> None:
        self.preview.set_overlay(str(remaining) if remaining > 0 else "")

    def on_recording_source_changed(self, source: object) -> None:
        from app.recorder.preview import LatestFrame  # noqa: PLC0415

        self.preview.set_source(source if isinstance(source, LatestFrame) else None)

    def on_recording_health(self, event: Any) -> None:
        from app.recorder.events import DiskSpaceLow  # noqa: PLC0415

        level = "error" if isinstance(event, DiskSpaceLow) and event.stopping else "warning"
        actions: list[tuple[str, Any]] = []
        if getattr(event, "denied", False):  # a microphone the OS gives only zeros
            from app.ui import permissions  # noqa: PLC0415

            actions.append(
                ("Open privacy settings", lambda: permissions.open_privacy_settings("microphone"))
            )
        self.health_banner.show_message(event.message or event.kind, level, actions=actions)

    def on_recording_device_problem(self, problem: Any) -> None:
        error = problem.error
        if problem.device_kind == "camera":
            self.preview.placeholder = error.message
            self.preview.update()
        self.banner.show_error(error, retry=self.start_monitor, level="warning")

    def on_recording_device_opened(self, opened: Any) -> None:
        if opened.note:
            self.device_note.setText(opened.note)

    def on_recording_link_ready(self, link: Any) -> None:
        self.link_label.setText(
            f'<a href="{html.escape(link.landing_url)}">{html.escape(link.landing_url)}</a>'
        )
        self.link_label.setOpenExternalLinks(True)
        self.link_label.setToolTip("The link works now; the video plays once it is uploaded")
        self.link_row.show()

    def on_recording_upload_progress(self, event: Any) -> None:
        total = event.total or max(event.available, 1)
        self.upload_bar.setRange(0, 1000)
        self.upload_bar.setValue(int(1000 * min(1.0, event.confirmed / total)) if total else 0)
        if event.kind == "retrying":
            self.upload_label.setText("Connection lost: retrying")
        elif event.kind == "done":
            self.upload_label.setText("Uploaded")
        else:
            self.upload_label.setText(f"{size_text(event.confirmed)} uploaded")

    def on_recording_notice(self, notice: Any) -> None:
        if notice.level == "warning":
            self.banner.show_message(notice.message, "warning")

    def on_recording_failed(self, error: Any) -> None:
        self.banner.show_error(error)
        self.update_controls()

    def on_timer_timeout(self) -> None:
        self.update_status()

    # ------------------------------------------------------------------ look

    def update_status(self) -> None:
        state = self.recording.state
        t = clock_text(self.recording.elapsed())
        text = {
            "idle": "Ready",
            "starting": "Getting ready…",
            "countdown": "Starting…",
            "recording": f'<span style="color:#ea4335">●</span> REC {t}',
            "paused": f"❚❚ Paused {t}",
            "finishing": "Saving…",
            "finished": "Recorded",
            "failed": "Not recording",
        }.get(state, state)
        self.status.setText(text)

    def update_controls(self) -> None:
        state = self.recording.state
        recording = state in ("countdown", "recording", "paused")
        shortcut = self.app.shortcut_text("record")
        if recording:
            self.record_button.setText("Stop")
            self.record_button.setIcon(icons.icon("stop", "#ffffff"))
            self.record_button.setProperty("primary", False)
            self.record_button.setProperty("danger", True)
            self.record_button.setToolTip(f"Stop recording ({shortcut})")
        else:
            self.record_button.setText("Record")
            self.record_button.setIcon(icons.icon("record", "#ffffff"))
            self.record_button.setProperty("danger", False)
            self.record_button.setProperty("primary", True)
            self.record_button.setToolTip(f"Start recording ({shortcut})")
        self.record_button.style().unpolish(self.record_button)
        self.record_button.style().polish(self.record_button)
        self.record_button.setEnabled(state not in ("starting", "finishing"))
        self.pause_button.setEnabled(state in ("recording", "paused"))
        paused = state == "paused"
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(icons.icon("play" if paused else "pause"))
        pause_key = self.app.shortcut_text("pause")
        self.pause_button.setToolTip(f"{'Resume' if paused else 'Pause'} ({pause_key})")
        self.discard_button.setEnabled(recording)
        self.discard_button.setToolTip(f"Discard this take ({self.app.shortcut_text('cancel')})")
        self.pickers.setEnabled(not recording and state not in ("starting", "finishing"))
        self.update_status()


def _list_devices(_cancel: Any, *, rescan: bool = False) -> tuple[list[Any], list[Any]]:
    from app.recorder import devices  # noqa: PLC0415

    cameras, microphones = [], []
    try:
        cameras = devices.list_cameras()
    except Exception:  # a broken driver must not keep the pickers empty
        log.info("listing cameras failed", exc_info=True)
    try:
        microphones = devices.list_microphones(rescan=rescan)
    except Exception:
        log.info("listing microphones failed", exc_info=True)
    return cameras, microphones

"""The first run: try the built-in sandbox or connect the organization, then check the devices.

Four short pages: welcome (sandbox or organization), the organization's settings (typed,
or imported from the administrator's file), the camera and microphone with a live picture,
the level meter and the pre-flight check (where the OS denies access, it says so and opens
the right privacy page), and what to do next. Skipping is fine: the sandbox works as is,
and everything can be changed later in Settings.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app import settings as settings_mod
from app.errors import AppError
from app.ui import icons, permissions
from app.ui.pages.record import DevicePickers
from app.ui.settings_dialog import import_profiles
from app.ui.widgets.preview import PreviewWidget

if TYPE_CHECKING:
    from app.ui.app import DesktopApp

WELCOME, ORGANIZATION, DEVICES, DONE = range(4)


class WelcomePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Welcome to Video Messaging")
        self.setSubTitle("Record a short personal video and send it from your own mailbox.")
        layout = QVBoxLayout(self)
        self.sandbox = QRadioButton("Try it now with the built-in sandbox (no account needed)")
        self.sandbox.setChecked(True)
        self.organization = QRadioButton("Connect my organization (Kaltura and Microsoft 365)")
        for b in (self.sandbox, self.organization):
            layout.addWidget(b)
        note = QLabel(
            "The sandbox runs on this computer: a test mailbox with a directory of people, and "
            "a test video service. Nothing leaves your computer. You can connect your "
            "organization any time in Settings."
        )
        note.setWordWrap(True)
        note.setProperty("muted", True)
        layout.addWidget(note)
        layout.addStretch(1)

    def nextId(self) -> int:
        return ORGANIZATION if self.organization.isChecked() else DEVICES


class OrganizationPage(QWizardPage):
    def __init__(self, app: DesktopApp) -> None:
        super().__init__()
        self.app = app
        self.setTitle("Your organization")
        self.setSubTitle("Import the file your administrator gave you, or enter the settings.")
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.import_button = QPushButton("Import administrator's file…")
        self.import_button.clicked.connect(self.import_file)
        row.addWidget(self.import_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("Contoso")
        self.partner_id = QLineEdit()
        self.app_token_id = QLineEdit()
        self.app_token = QLineEdit()
        self.app_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.client_id = QLineEdit()
        self.tenant = QLineEdit()
        self.tenant.setPlaceholderText("contoso.onmicrosoft.com")
        for label, w in (
            ("Organization name", self.name),
            ("Kaltura partner ID", self.partner_id),
            ("Kaltura app token ID", self.app_token_id),
            ("Kaltura app token", self.app_token),
            ("Microsoft application (client) ID", self.client_id),
            ("Microsoft tenant", self.tenant),
        ):
            w.setAccessibleName(label)
            form.addRow(label, w)
            if isinstance(w, QLineEdit):
                w.textChanged.connect(self.completeChanged)
        layout.addLayout(form)
        self.imported = False

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import settings", str(Path.home()), "Settings (*.json)"
        )
        if not path:
            return
        try:
            names = import_profiles(Path(path))
        except AppError as exc:
            self.status.setText(exc.user_message())
            return
        self.imported = True
        self.status.setText(f"Imported {', '.join(names)}. Press Next.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.imported:
            return True
        return bool(
            self.name.text().strip()
            and self.partner_id.text().strip().isdigit()
            and self.client_id.text().strip()
        )

    def save(self) -> None:
        """Create the typed-in organization profile and make it active."""
        if self.imported:
            return
        from app import secrets  # noqa: PLC0415

        name = self.name.text().strip()
        loaded = settings_mod.load().settings
        profile = settings_mod.Profile(name=name, kind="organization")
        profile.kaltura.partner_id = int(self.partner_id.text().strip())
        profile.kaltura.app_token_id = self.app_token_id.text().strip()
        profile.microsoft.client_id = self.client_id.text().strip()
        profile.microsoft.authority = self.tenant.text().strip() or "organizations"
        loaded.profiles[name] = profile
        loaded.active_profile = name
        settings_mod.save(loaded)
        if self.app_token.text():
            secrets.store(name, secrets.KALTURA_APP_TOKEN, self.app_token.text())

    def validatePage(self) -> bool:
        try:
            self.save()
        except AppError as exc:
            self.status.setText(exc.user_message())
            return False
        return True


class DevicesPage(QWizardPage):
    def __init__(self, app: DesktopApp) -> None:
        super().__init__()
        self.app = app
        self.setTitle("Camera and microphone")
        self.setSubTitle("Check that you can see and hear yourself.")
        layout = QHBoxLayout(self)
        self.preview = PreviewWidget()
        self.preview.mirror = app.settings.recording.mirror_preview
        self.preview.placeholder = "Opening the camera…"
        layout.addWidget(self.preview, 3)
        side = QVBoxLayout()
        self.pickers = DevicePickers(app)
        self.pickers.changed.connect(self.start)
        side.addWidget(self.pickers)
        self.test_button = QPushButton("Run the 2-second check")
        self.test_button.clicked.connect(self.run_check)
        side.addWidget(self.test_button)
        self.result = QLabel()
        self.result.setWordWrap(True)
        side.addWidget(self.result)
        self.privacy_buttons: list[QPushButton] = []
        for kind in ("camera", "microphone"):
            if permissions.privacy_url(kind):
                b = QPushButton(f"Open {kind} privacy settings")
                b.clicked.connect(lambda _c=False, k=kind: permissions.open_privacy_settings(k))
                b.hide()
                side.addWidget(b)
                self.privacy_buttons.append(b)
        side.addStretch(1)
        layout.addLayout(side, 2)
        app.recording.level.connect(self.pickers.meter.set_level)
        app.recording.source_changed.connect(self.on_recording_source_changed)
        app.recording.device_problem.connect(self.on_recording_device_problem)

    def initializePage(self) -> None:
        denied = [k for k in ("camera", "microphone") if permissions.status(k) == "denied"]
        if denied:
            self.result.setText(
                f"Your computer does not let this app use the {' and the '.join(denied)}. "
                "Allow it in the privacy settings, then come back."
            )
            for b in self.privacy_buttons:
                b.show()
        self.app.tasks.run("list devices", _list, on_done=lambda found: self.pickers.fill(*found))
        self.start()

    def start(self) -> None:
        rec = self.app.settings.recording
        self.app.recording.start_monitor(rec.camera, rec.microphone, rec.preset)
        self.preview.set_source(self.app.recording.source())

    def on_recording_source_changed(self, source: Any) -> None:
        from app.recorder.preview import LatestFrame  # noqa: PLC0415

        if self.isVisible():
            self.preview.set_source(source if isinstance(source, LatestFrame) else None)

    def on_recording_device_problem(self, problem: Any) -> None:
        if not self.isVisible():
            return
        self.result.setText(problem.error.user_message())
        for b in self.privacy_buttons:
            b.show()

    def run_check(self) -> None:
        from app.recorder import devices  # noqa: PLC0415
        from app.recorder.preflight import preflight  # noqa: PLC0415

        rec = self.app.settings.recording
        self.app.recording.stop_monitor()
        self.test_button.setEnabled(False)
        self.result.setText("Checking for 2 seconds: say something…")

        def run(cancel: threading.Event) -> Any:
            camera = devices.make_camera(rec.camera or None)
            microphone = devices.make_microphone(rec.microphone or None)
            return preflight(camera, microphone, cancel=cancel)

        def done(report: Any) -> None:
            self.test_button.setEnabled(True)
            if report.ok:
                self.result.setText(
                    f"✓ Camera {report.size} at {report.measured_fps:.0f} fps; "
                    "the microphone hears you."
                )
            else:
                self.result.setText("\n".join(f"⚠ {p}" for p in report.problems))
            self.start()

        def failed(error: AppError | None) -> None:
            self.test_button.setEnabled(True)
            self.result.setText(error.user_message() if error else "The check failed.")
            for b in self.privacy_buttons:
                b.show()
            self.start()

        self.app.tasks.run("device check", run, on_done=done, on_error=failed)

    def cleanupPage(self) -> None:
        self.app.recording.stop_monitor()


class DonePage(QWizardPage):
    def __init__(self, app: DesktopApp) -> None:
        super().__init__()
        self.setTitle("You're ready")
        layout = QVBoxLayout(self)
        hotkey = app.settings.desktop.quick_record_shortcut
        text = QLabel(
            f"<p>Press <b>{app.shortcut_text('record')}</b> to record, and again to stop. "
            "The link is ready the moment you stop.</p>"
            f"<p><b>Quick record</b> from the tray icon or with <b>{hotkey}</b> anywhere on "
            "the desktop records in a small window and goes straight to the email.</p>"
            f"<p>All shortcuts: <b>{app.shortcut_text('help')}</b>.</p>"
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        layout.addStretch(1)


class FirstRunWizard(QWizard):
    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setWindowTitle("Set up Video Messaging")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setPixmap(QWizard.WizardPixmap.LogoPixmap, icons.pixmap("tray-idle", 48))
        self.setMinimumSize(760, 520)
        self.welcome = WelcomePage()
        self.organization = OrganizationPage(app)
        self.devices = DevicesPage(app)
        self.done_page = DonePage(app)
        self.setPage(WELCOME, self.welcome)
        self.setPage(ORGANIZATION, self.organization)
        self.setPage(DEVICES, self.devices)
        self.setPage(DONE, self.done_page)
        self.finished.connect(self.on_finished)

    def on_finished(self, _result: int) -> None:
        self.app.recording.stop_monitor()
        self.app.save_settings({"desktop.first_run_done": True})
        if self.welcome.organization.isChecked():
            self.app.open_services()


def _list(_cancel: Any) -> tuple[list[Any], list[Any]]:
    from app.ui.pages.record import _list_devices  # noqa: PLC0415

    return _list_devices(_cancel)

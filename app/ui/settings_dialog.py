"""Settings: the profile (organization), My Profile > Email Settings, recording, and general.

"Email Settings" has **Connect to Office 365** and **Disconnect**, as the published product
names them, the signature with a live preview, the default template and subject. Settings
the administrator's policy sets are shown locked with the reason (the policy file), and are
never written. Secrets (the Kaltura app token) go to the system's secure storage, never to
the settings file. OK saves; a change of profile or organization settings reopens the
profile's services.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeySequence, QShortcut, QTextCharFormat
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import settings as settings_mod
from app.errors import Action, AppError, SettingsError
from app.ui import icons, permissions
from app.ui.banner import Banner, copy_details

if TYPE_CHECKING:
    from app.ui.app import DesktopApp

log = logging.getLogger(__name__)

PAGES = (("profile", "Organization", "person"), ("email", "Email Settings", "send"),
         ("recording", "Recording", "camera"), ("general", "General", "settings"))  # fmt: skip
#: Shown as the OS has it (its entry, app/autostart.py), not only as settings.json says.
START_AT_LOGIN = "desktop.start_at_login"


class SettingsDialog(QDialog):
    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setWindowTitle("Settings")
        self.setMinimumSize(760, 540)
        self.fields: dict[str, tuple[QWidget, Any]] = {}
        self.locks: dict[str, str] = {}
        self.profile = app.settings.profile()
        self.profile_key = f"profiles.{self.profile.name}"
        outer = QVBoxLayout(self)
        self.banner = Banner()
        self.banner.action_requested.connect(self.on_banner_action_requested)
        outer.addWidget(self.banner)
        body = QHBoxLayout()
        outer.addLayout(body, 1)
        self.nav = QListWidget()
        self.nav.setAccessibleName("Settings pages")
        self.nav.setProperty("nav", True)
        self.nav.setMaximumWidth(190)
        self.stack = QStackedWidget()
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        self.page_index: dict[str, int] = {}
        for key, title, icon in PAGES:
            self.page_index[key] = self.stack.count()
            self.nav.addItem(QListWidgetItem(icons.icon(icon), title))
            self.stack.addWidget(getattr(self, f"_page_{key}")())
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        outer.addWidget(buttons)
        self._sign_in_task: Any = None
        self.refresh_account()

    # ------------------------------------------------------------------ helpers

    def show_page(self, key: str, *, setting: str = "") -> None:
        self.nav.setCurrentRow(self.page_index.get(key, 0))
        widget = self._field_for(setting)
        if widget is not None:
            widget.setFocus()

    def on_banner_action_requested(self, action: Action, error: AppError | None) -> None:
        """The banner's button, here: the settings it names are in this dialog."""
        if action is Action.OPEN_SETTINGS:
            widget = self._field_for(error.setting if error is not None else "")
            if widget is None:
                return
            self.nav.setCurrentRow(self._page_of(widget))
            widget.setFocus()
        elif action is Action.SIGN_IN:
            self.show_page("email")
        elif action is Action.CHECK_DEVICE:
            self.show_page("recording")
        elif action is Action.CONTACT_ADMIN and error is not None:
            copy_details(error)
        else:
            self.app.handle_action(action, error)

    def _page_of(self, widget: QWidget) -> int:
        for index in range(self.stack.count()):
            page = self.stack.widget(index)
            if page is not None and page.isAncestorOf(widget):
                return index
        return 0

    def _field_for(self, setting: str) -> QWidget | None:
        if not setting:
            return None
        for dotted, (widget, _kind) in self.fields.items():
            if dotted.endswith(setting):
                return widget
        return None

    def _bind(self, dotted: str, widget: QWidget, value: Any) -> QWidget:
        """Show ``value`` in ``widget``; lock it if the policy does. Returns the row."""
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentIndex(max(0, widget.findData(value)))
        elif isinstance(widget, QTextEdit):
            widget.setHtml(str(value))
            value = self._read(widget)  # as it comes back out (sanitized), to compare
        elif isinstance(widget, QPlainTextEdit):
            widget.setPlainText(str(value))
        elif isinstance(widget, QKeySequenceEdit):
            widget.setKeySequence(QKeySequence(str(value)))
        elif isinstance(widget, QLineEdit):
            widget.setText("" if value in (None, 0) and widget.property("int") else str(value))
        self.fields[dotted] = (widget, value)
        reason = self.app.locked(dotted)
        if not reason:
            return widget
        self.locks[dotted] = reason
        widget.setEnabled(False)
        widget.setToolTip(reason)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(widget, 1)
        lock = QLabel()
        lock.setPixmap(icons.pixmap("lock", 16))
        lock.setToolTip(reason)
        lock.setAccessibleName("Locked by your administrator")
        layout.addWidget(lock)
        text = QLabel("Set by your administrator")
        text.setProperty("muted", True)
        text.setToolTip(reason)
        layout.addWidget(text)
        return row

    @staticmethod
    def _read(widget: QWidget) -> Any:
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox):
            return widget.value()
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if isinstance(widget, QTextEdit):
            from app.mail.signature import sanitize_signature  # noqa: PLC0415

            if not widget.toPlainText().strip():
                return ""
            return str(sanitize_signature(widget.toHtml()))
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        if isinstance(widget, QKeySequenceEdit):
            return widget.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
        if isinstance(widget, QLineEdit):
            text = widget.text().strip()
            if widget.property("int"):
                return int(text) if text.isdigit() else 0
            return text
        raise TypeError(widget)

    def changes(self) -> dict[str, Any]:
        out = {}
        for dotted, (widget, before) in self.fields.items():
            if dotted in self.locks:
                continue
            value = self._read(widget)
            if value != before:
                out[dotted] = value
        return out

    # ------------------------------------------------------------------ pages

    def _page_profile(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        top = QHBoxLayout()
        self.profile_combo = QComboBox()
        self.profile_combo.setAccessibleName("Profile")
        for name, prof in self.app.settings.profiles.items():
            label = "Built-in sandbox (try it out)" if prof.kind == "sandbox" else name
            self.profile_combo.addItem(label, name)
        top.addWidget(QLabel("Active profile"))
        top.addWidget(
            self._bind("active_profile", self.profile_combo, self.app.settings.active_profile), 1
        )
        add = QPushButton("Add organization…")
        add.clicked.connect(self.add_organization)
        top.addWidget(add)
        imp = QPushButton("Import administrator's file…")
        imp.setToolTip("Settings your administrator gave you, as a .json file")
        imp.clicked.connect(self.import_file)
        top.addWidget(imp)
        layout.addLayout(top)
        p = self.profile
        if p.kind == "sandbox":
            note = QLabel(
                "The built-in sandbox needs no settings: it runs on this computer, with a "
                "test mailbox and a test video service. To use your organization's, add it "
                "above or import the file your administrator gave you."
            )
            note.setWordWrap(True)
            layout.addWidget(note)
            layout.addStretch(1)
            return page
        key = self.profile_key
        kal = QGroupBox("Kaltura (where the videos are kept)")
        form = QFormLayout(kal)
        self.service_url = QLineEdit()
        form.addRow(
            "Service URL",
            self._bind(f"{key}.kaltura.service_url", self.service_url, p.kaltura.service_url),
        )
        self.partner_id = QLineEdit()
        self.partner_id.setProperty("int", True)
        form.addRow(
            "Partner ID",
            self._bind(f"{key}.kaltura.partner_id", self.partner_id, p.kaltura.partner_id),
        )
        self.app_token_id = QLineEdit()
        form.addRow(
            "App token ID",
            self._bind(f"{key}.kaltura.app_token_id", self.app_token_id, p.kaltura.app_token_id),
        )
        self.app_token = QLineEdit()
        self.app_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.app_token.setPlaceholderText("Kept in the system's secure storage")
        self.app_token.setAccessibleName("App token")
        form.addRow("App token", self.app_token)
        # Organizations without app tokens give each person a Kaltura login instead.
        self.login_id = QLineEdit()
        self.login_id.setPlaceholderText("Only if you were given a Kaltura login, not a token")
        form.addRow(
            "Kaltura login",
            self._bind(f"{key}.kaltura.login_id", self.login_id, p.kaltura.login_id),
        )
        self.kaltura_password = self._secret_field("Kaltura password")
        form.addRow("Kaltura password", self.kaltura_password)
        self.player_id = QLineEdit()
        self.player_id.setProperty("int", True)
        form.addRow(
            "Player ID",
            self._bind(
                f"{key}.kaltura.player_uiconf_id", self.player_id, p.kaltura.player_uiconf_id
            ),
        )
        self.category = QLineEdit()
        form.addRow(
            "Category", self._bind(f"{key}.kaltura.category", self.category, p.kaltura.category)
        )
        layout.addWidget(kal)
        ms = QGroupBox("Microsoft 365 (whose mailbox sends)")
        form = QFormLayout(ms)
        self.client_id = QLineEdit()
        form.addRow(
            "Application (client) ID",
            self._bind(f"{key}.microsoft.client_id", self.client_id, p.microsoft.client_id),
        )
        self.authority = QLineEdit()
        form.addRow(
            "Tenant",
            self._bind(f"{key}.microsoft.authority", self.authority, p.microsoft.authority),
        )
        layout.addWidget(ms)
        layout.addStretch(1)
        return page

    def _page_email(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        title = QLabel("My Profile › Email Settings")
        title.setProperty("heading", True)
        layout.addWidget(title)
        account = QHBoxLayout()
        self.account_label = QLabel("Checking…")
        self.account_label.setWordWrap(True)
        self.account_label.setAccessibleName("Office 365 account")
        account.addWidget(self.account_label, 1)
        self.connect_button = QPushButton("Connect to Office 365")
        self.connect_button.setProperty("primary", True)
        self.connect_button.clicked.connect(self.connect_office)
        self.disconnect_button = QPushButton("Disconnect")
        self.disconnect_button.clicked.connect(self.disconnect_office)
        account.addWidget(self.connect_button)
        account.addWidget(self.disconnect_button)
        layout.addLayout(account)
        p, key = self.profile, self.profile_key
        form = QFormLayout()
        self.template_combo = QComboBox()
        from app.mail.templates import TemplateCatalog  # noqa: PLC0415

        catalog = TemplateCatalog()
        for name in catalog.names():
            try:
                self.template_combo.addItem(catalog.info(name).title, name)
            except AppError:
                continue
        form.addRow(
            "Default template",
            self._bind(f"{key}.mail.template", self.template_combo, p.mail.template),
        )
        self.subject_edit = QLineEdit()
        form.addRow(
            "Default subject", self._bind(f"{key}.mail.subject", self.subject_edit, p.mail.subject)
        )
        layout.addLayout(form)
        if p.mail.transport == "smtp":  # set by the administrator's policy, or by hand
            smtp = QGroupBox("Outgoing mail server (SMTP)")
            smtp_form = QFormLayout(smtp)
            self.smtp_host = QLineEdit()
            smtp_form.addRow(
                "Server", self._bind(f"{key}.mail.smtp_host", self.smtp_host, p.mail.smtp_host)
            )
            self.smtp_username = QLineEdit()
            smtp_form.addRow(
                "User name",
                self._bind(f"{key}.mail.smtp_username", self.smtp_username, p.mail.smtp_username),
            )
            self.smtp_password = self._secret_field("SMTP password")
            smtp_form.addRow("Password", self.smtp_password)
            layout.addWidget(smtp)
        sig = QGroupBox("Signature (under every email)")
        sig_layout = QHBoxLayout(sig)
        editor = QVBoxLayout()
        tools = QHBoxLayout()
        self.signature = QTextEdit()
        self.signature.setAccessibleName("Signature")
        self.signature.setPlaceholderText("Your name\nYour title, your company")
        self.signature.setTabChangesFocus(True)
        for label, tip, slot in (
            ("B", "Bold (Ctrl+B)", self.on_bold_clicked),
            ("I", "Italic (Ctrl+I)", self.on_italic_clicked),
            ("Link…", "Make the selected text a link", self.on_link_clicked),
        ):
            b = QToolButton()
            b.setText(label)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            tools.addWidget(b)
        tools.addStretch(1)
        QShortcut(QKeySequence("Ctrl+B"), self.signature, self.on_bold_clicked)
        QShortcut(QKeySequence("Ctrl+I"), self.signature, self.on_italic_clicked)
        editor.addLayout(tools)
        bound = self._bind(f"{key}.mail.signature_html", self.signature, p.mail.signature_html)
        editor.addWidget(bound, 1)
        sig_layout.addLayout(editor, 1)
        preview_box = QVBoxLayout()
        caption = QLabel("In the email:")
        caption.setProperty("muted", True)
        preview_box.addWidget(caption)
        self.signature_preview = QTextBrowser()
        self.signature_preview.setAccessibleName("Signature preview")
        preview_box.addWidget(self.signature_preview, 1)
        sig_layout.addLayout(preview_box, 1)
        self.signature.textChanged.connect(self.on_signature_text_changed)
        self.on_signature_text_changed()
        layout.addWidget(sig, 1)
        return page

    def _page_recording(self) -> QWidget:
        from app.ui.pages.record import (  # noqa: PLC0415
            COUNTDOWNS,
            PRESET_LABELS,
            _list_devices,
            device_label,
        )

        page = QWidget()
        layout = QVBoxLayout(page)
        form = QFormLayout()
        rec = self.app.settings.recording
        self.camera_combo = QComboBox()
        self.camera_combo.setAccessibleName("Camera")
        self.camera_combo.addItem("Default camera", "")
        self.camera_combo.addItem("Test pattern (no camera needed)", "synthetic")
        self.microphone_combo = QComboBox()
        self.microphone_combo.setAccessibleName("Microphone")
        self.microphone_combo.addItem("Default microphone", "")
        self.microphone_combo.addItem("Test tone (no microphone needed)", "synthetic")
        self.microphone_combo.addItem("No sound", "none")
        for combo, value in (
            (self.camera_combo, rec.camera),
            (self.microphone_combo, rec.microphone),
        ):
            if combo.findData(value) < 0:
                combo.addItem(device_label(value), value)
        form.addRow("Camera", self._bind("recording.camera", self.camera_combo, rec.camera))
        form.addRow(
            "Microphone", self._bind("recording.microphone", self.microphone_combo, rec.microphone)
        )
        self.app.tasks.run("list devices", _list_devices, on_done=self._devices_found)
        preset = QComboBox()
        for name, label in PRESET_LABELS.items():
            preset.addItem(label, name)
        form.addRow("Quality", self._bind("recording.preset", preset, rec.preset))
        countdown = QComboBox()
        for seconds, label in COUNTDOWNS.items():
            countdown.addItem(label, seconds)
        form.addRow(
            "Countdown", self._bind("recording.countdown_seconds", countdown, rec.countdown_seconds)
        )
        longest = QSpinBox()
        longest.setRange(10, 3600)
        longest.setSuffix(" s")
        form.addRow(
            "Longest take",
            self._bind("recording.max_duration_seconds", longest, rec.max_duration_seconds),
        )
        mirror = QCheckBox("Show me mirrored, like a mirror (the video is not mirrored)")
        form.addRow("Preview", self._bind("recording.mirror_preview", mirror, rec.mirror_preview))
        layout.addLayout(form)
        check = QGroupBox("Camera and microphone check")
        cl = QVBoxLayout(check)
        row = QHBoxLayout()
        self.test_button = QPushButton(icons.icon("camera"), "Test camera and microphone")
        self.test_button.clicked.connect(self.test_devices)
        row.addWidget(self.test_button)
        row.addStretch(1)
        cl.addLayout(row)
        self.test_result = QLabel("A 2-second check of the chosen camera and microphone.")
        self.test_result.setWordWrap(True)
        cl.addWidget(self.test_result)
        privacy = QHBoxLayout()
        for kind, label in (
            ("camera", "Camera privacy settings"),
            ("microphone", "Microphone privacy settings"),
        ):
            url = permissions.privacy_url(kind)
            if url:
                b = QPushButton(label)
                b.clicked.connect(lambda _c=False, k=kind: permissions.open_privacy_settings(k))
                privacy.addWidget(b)
        privacy.addStretch(1)
        cl.addLayout(privacy)
        layout.addWidget(check)
        layout.addStretch(1)
        return page

    def _start_at_login_now(self, saved: bool) -> bool:
        """Whether the app starts at login, as the OS says: its entry can also be written
        by the Windows installer, or turned off in Task Manager or by removing the
        autostart file. settings.json is brought in step. A policy's value is shown as set;
        an entry that cannot be read is shown as saved, and said."""
        if self.app.locked(START_AT_LOGIN):
            return saved
        from app import autostart  # noqa: PLC0415

        try:
            registered = autostart.is_enabled()
        except SettingsError as exc:
            self.banner.show_error(exc)
            return saved
        if registered != saved:
            log.info("start at login is %s outside the app: saving that", registered)
            self.app.save_settings({START_AT_LOGIN: registered})
        return registered

    def _apply_start_at_login(self, on: bool) -> bool:
        """Write (or remove) the login entry; on failure, the checkbox goes back to what
        is saved and the banner says why. True when it was done."""
        from app import autostart  # noqa: PLC0415

        try:
            if on:
                autostart.enable()
            else:
                autostart.disable()
        except SettingsError as exc:
            log.warning(
                "start at login not turned %s: %s %s", "on" if on else "off", exc, exc.details
            )
            _widget, before = self.fields[START_AT_LOGIN]
            self.start_at_login.setChecked(bool(before))
            self.show_page("general")
            self.banner.show_error(exc)
            return False
        return True

    @staticmethod
    def _secret_field(name: str) -> QLineEdit:
        """A password box: what is typed goes to the system's secure storage on OK, never
        to the settings file; left empty, the stored one stays."""
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText("Kept in the system's secure storage")
        edit.setAccessibleName(name)
        return edit

    def _page_general(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        form = QFormLayout()
        d = self.app.settings.desktop
        self.start_at_login = QCheckBox("Start Video Messaging when I log in (in the tray)")
        form.addRow(
            "",
            self._bind(
                START_AT_LOGIN, self.start_at_login, self._start_at_login_now(d.start_at_login)
            ),
        )
        self.shortcut_edit = QKeySequenceEdit()
        self.shortcut_edit.setMaximumSequenceLength(1)
        self.shortcut_edit.setAccessibleName("Quick record shortcut")
        form.addRow(
            "Quick record shortcut",
            self._bind(
                "desktop.quick_record_shortcut", self.shortcut_edit, d.quick_record_shortcut
            ),
        )
        reason = self.app.hotkey_reason
        hotkey_note = QLabel(
            reason + "\nAlternative: bind a system keyboard shortcut to the command "
            "video-messaging --quick-record"
            if reason
            else "Works anywhere on the desktop, even when the app is in the tray."
        )
        hotkey_note.setWordWrap(True)
        hotkey_note.setProperty("muted", True)
        hotkey_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hotkey_note = hotkey_note
        form.addRow("", hotkey_note)
        watched = QCheckBox("Tell me when someone watches a video I sent")
        form.addRow("", self._bind("desktop.notify_watched", watched, d.notify_watched))
        once = QCheckBox("Exactly-once sending (needs permission to read and write mail)")
        form.addRow(
            "", self._bind("exactly_once_sending", once, self.app.settings.exactly_once_sending)
        )
        layout.addLayout(form)
        layout.addStretch(1)
        return page

    def _devices_found(self, found: tuple[list[Any], list[Any]]) -> None:
        """Add the devices this computer has (after "Default", keeping the choice)."""
        from app.ui.pages.record import current_choice  # noqa: PLC0415

        for combo, devices in zip((self.camera_combo, self.microphone_combo), found, strict=True):
            saved = str(combo.currentData() or "")
            chosen = current_choice(saved, devices)
            for i, d in enumerate(devices):
                if combo.findData(str(d.id)) < 0:
                    combo.insertItem(1 + i, d.name or f"Device {d.id}", str(d.id))
            if chosen != saved and combo.findData(saved) >= 0:
                combo.removeItem(combo.findData(saved))  # "(not connected)": it is, elsewhere
            combo.setCurrentIndex(max(0, combo.findData(chosen)))

    # ------------------------------------------------------------------ email

    def on_signature_text_changed(self) -> None:
        # What the email will carry: the editor's HTML through the same sanitizer.
        self.signature_preview.setHtml(str(self._read(self.signature)))

    def on_bold_clicked(self) -> None:
        fmt = QTextCharFormat()
        bold = self.signature.fontWeight() < QFont.Weight.Bold
        fmt.setFontWeight(QFont.Weight.Bold if bold else QFont.Weight.Normal)
        self.signature.mergeCurrentCharFormat(fmt)

    def on_italic_clicked(self) -> None:
        fmt = QTextCharFormat()
        fmt.setFontItalic(not self.signature.fontItalic())
        self.signature.mergeCurrentCharFormat(fmt)

    def on_link_clicked(self) -> None:
        url, ok = QInputDialog.getText(self, "Link", "Web address (https://…):")
        url = url.strip()
        if not ok or not url:
            return
        if not url.startswith(("https://", "http://", "mailto:")):
            url = "https://" + url
        cursor = self.signature.textCursor()
        text = cursor.selectedText() or url
        cursor.insertHtml(f'<a href="{html.escape(url)}">{html.escape(text)}</a>')

    def refresh_account(self) -> None:
        services = self.app.services
        if services is None:
            self.account_label.setText("The app is still starting.")
            return
        self.app.tasks.run("who is signed in", lambda _c: services.account(), on_done=self._account)

    def _account(self, account: Any) -> None:
        services = self.app.services
        sandbox = services is not None and services.is_sandbox
        if account is None:
            self.account_label.setText(
                "Not connected. Connect to send from your own mailbox."
                if not sandbox
                else "The sandbox's test mailbox connects by itself when you send."
            )
        else:
            self.account_label.setText(
                f"Connected as {account.name or account.username} ({account.username})"
            )
        self.connect_button.setVisible(account is None)
        self.disconnect_button.setVisible(account is not None)

    def connect_office(self) -> None:
        services = self.app.services
        if services is None:
            return
        if self._sign_in_task is not None:  # the button cancels a sign-in in progress
            services.cancel_sign_in()
            return
        self.account_label.setText("Finish signing in in your browser…")
        self.connect_button.setText("Cancel sign-in")

        def sign_in(_cancel: threading.Event) -> Any:
            if services.is_sandbox:
                return services.ensure_account()
            return services.sign_in()

        def done(account: Any) -> None:
            self._sign_in_task = None
            self.connect_button.setText("Connect to Office 365")
            self._account(account)
            self.app.services_changed.emit()

        def failed(error: AppError | None) -> None:
            self._sign_in_task = None
            self.connect_button.setText("Connect to Office 365")
            self.refresh_account()
            if error is not None:
                self.banner.show_error(error)

        self._sign_in_task = self.app.tasks.run("sign in", sign_in, on_done=done, on_error=failed)

    def disconnect_office(self) -> None:
        services = self.app.services
        if services is None:
            return
        answer = QMessageBox.question(
            self,
            "Disconnect from Office 365?",
            "Your account and its stored sign-in are removed from this computer. Your sent "
            "emails and videos stay where they are.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return

        def done(message: str) -> None:
            self.banner.show_message(message, "info")
            self.refresh_account()
            self.app.services_changed.emit()

        def failed(error: AppError | None) -> None:
            if error is not None:
                self.banner.show_error(error)

        self.app.tasks.run(
            "disconnect", lambda _c: services.disconnect(), on_done=done, on_error=failed
        )

    # ------------------------------------------------------------------ recording

    def test_devices(self) -> None:
        from app.recorder import devices  # noqa: PLC0415
        from app.recorder.preflight import preflight  # noqa: PLC0415

        rec = self.app.settings.recording
        monitor_was_on = self.app.recording.monitor is not None
        self.app.recording.stop_monitor()
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing for 2 seconds…")

        def run(cancel: threading.Event) -> Any:
            camera = devices.make_camera(rec.camera or None)
            microphone = devices.make_microphone(rec.microphone or None)
            return preflight(camera, microphone, cancel=cancel)

        def done(report: Any) -> None:
            self.test_button.setEnabled(True)
            lines = [
                f"Camera: {report.camera} ({report.size}, {report.measured_fps:.0f} fps)",
                f"Microphone: {report.microphone} (level {report.peak_dbfs:.0f} dB)",
            ]
            lines += [f"⚠ {p}" for p in report.problems] or ["✓ Both work."]
            self.test_result.setText("\n".join(lines))
            if monitor_was_on:
                self.app.window.record.start_monitor()

        def failed(error: AppError | None) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(error.user_message() if error else "The check failed.")

        self.app.tasks.run("device check", run, on_done=done, on_error=failed)

    # ------------------------------------------------------------------ profiles

    def add_organization(self) -> None:
        name, ok = QInputDialog.getText(self, "Add organization", "A name for this profile:")
        name = name.strip()
        if not ok or not name:
            return
        loaded = settings_mod.load().settings
        if name in loaded.profiles:
            self.banner.show_message(f'There is already a profile named "{name}".', "warning")
            return
        loaded.profiles[name] = settings_mod.Profile(name=name, kind="organization")
        loaded.active_profile = name
        try:
            settings_mod.save(loaded)
        except SettingsError as exc:
            self.banner.show_error(exc)
            return
        self.accept_and_reopen()

    def import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import settings", str(Path.home()), "Settings (*.json)"
        )
        if not path:
            return
        try:
            imported = import_profiles(Path(path))
        except AppError as exc:
            self.banner.show_error(exc)
            return
        self.banner.show_message(f"Imported: {', '.join(imported)}.", "info")
        self.accept_and_reopen()

    def accept_and_reopen(self) -> None:
        self.app.open_services()
        self.accept()

    # ------------------------------------------------------------------ save

    def on_buttons_accepted(self) -> None:
        from app import secrets  # noqa: PLC0415

        changes = self.changes()
        # The entry first: the saved setting says what was done (nothing is saved when it fails).
        if START_AT_LOGIN in changes and not self._apply_start_at_login(changes[START_AT_LOGIN]):
            return
        if changes and not self.app.save_settings(changes):
            return
        stored_secret = False
        for field, name in (
            ("app_token", secrets.KALTURA_APP_TOKEN),
            ("kaltura_password", secrets.KALTURA_PASSWORD),
            ("smtp_password", secrets.SMTP_PASSWORD),
        ):
            edit = getattr(self, field, None)
            if edit is None or not edit.text():
                continue
            try:
                secrets.store(self.profile.name, name, edit.text())
            except AppError as exc:
                self.banner.show_error(exc)
                return
            edit.clear()
            stored_secret = True
        if "desktop.quick_record_shortcut" in changes:
            self.app.register_hotkey()
        if any(k.startswith("recording.") for k in changes):
            record = self.app.window.record
            record.pickers.refresh()
            record.preview.mirror = self.app.settings.recording.mirror_preview
            if not self.app.recording.active and record.isVisible():
                record.start_monitor()
        if stored_secret or any(
            k.startswith(("profiles.", "active_profile", "exactly_once")) for k in changes
        ):
            self.app.open_services()
        self.accept()


def import_profiles(path: Path) -> list[str]:
    """Add the profiles of an administrator's file (the policy's shape) to the settings."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SettingsError(
            f"{path.name} cannot be read as settings: {exc}.",
            hint="Ask your administrator for the file again.",
        ) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("profiles"), dict)
        or not data["profiles"]
    ):
        raise SettingsError(
            f"{path.name} holds no profile.", hint="Ask your administrator for the right file."
        )
    loaded = settings_mod.load().settings
    names = []
    for name, value in data["profiles"].items():
        if not isinstance(value, dict):
            raise SettingsError(f'The profile "{name}" in {path.name} is not an object.')
        try:
            profile = settings_mod.decode_strict(
                settings_mod.Profile, {**value, "name": name}, f'the profile "{name}"'
            )
        except ValueError as exc:
            raise SettingsError(
                f"{path.name}: {exc}.", hint="Ask your administrator for a corrected file."
            ) from None
        if profile.kind == "sandbox":
            continue
        loaded.profiles[str(name)] = profile
        names.append(str(name))
    if not names:
        raise SettingsError(f"{path.name} holds no organization profile.")
    active = data.get("active_profile")
    loaded.active_profile = (
        active if isinstance(active, str) and active in loaded.profiles else names[0]
    )
    settings_mod.save(loaded)
    return names

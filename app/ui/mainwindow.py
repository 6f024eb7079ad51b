"""The main window: the flow Record -> Review -> Compose -> Sent, the history, menus and shortcuts.

Every action is a ``QAction`` in a menu with its shortcut, so each one can be found there
and in the buttons' tooltips: Ctrl+R record/stop, Space pause/resume (on Review: play/pause
the take), Esc cancel, Ctrl+Enter send, Ctrl+N a new video, Ctrl+Shift+R quick record, Ctrl+H
history, Ctrl+, settings, F1 the list of shortcuts. Closing the window keeps the app running
in the tray where there is one (said once); without a tray, closing quits.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import __version__, paths
from app.ui import icons
from app.ui.app import SHORTCUTS
from app.ui.banner import Banner
from app.ui.pages.record import RecordPage

if TYPE_CHECKING:
    from app.ui.app import DesktopApp
    from app.ui.pages.compose import ComposePage
    from app.ui.pages.history import HistoryPage
    from app.ui.pages.review import ReviewPage
    from app.ui.pages.sent import SentPage
    from app.workflow.startup import ReconcileReport
    from app.workflow.take import Take

log = logging.getLogger(__name__)

STEPS = ("Record", "Review", "Compose", "Sent")


class StepBar(QWidget):
    """Record › Review › Compose › Sent, the current step highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.labels: list[QLabel] = []
        for i, name in enumerate(STEPS):
            if i:
                sep = QLabel("›")
                sep.setProperty("muted", True)
                layout.addWidget(sep)
            label = QLabel(f"{i + 1}. {name}")
            self.labels.append(label)
            layout.addWidget(label)
        self.set_step(0)

    def set_step(self, index: int) -> None:
        for i, label in enumerate(self.labels):
            label.setProperty("step", "current" if i == index else "done" if i < index else "todo")
            label.style().unpolish(label)
            label.style().polish(label)
        self.setAccessibleDescription(f"Step {index + 1} of {len(STEPS)}: {STEPS[index]}")


class MainWindow(QMainWindow):
    """See the module docstring."""

    #: The window was painted for the first time (the app opens the rest after it).
    first_paint = Signal()

    def __init__(self, app: DesktopApp) -> None:
        super().__init__()
        self.app = app
        self._painted = False
        self.setWindowTitle("Video Messaging")
        self.setWindowIcon(icons.icon("tray-idle"))
        self.setMinimumSize(880, 600)
        self.resize(1100, 720)

        central = QWidget()
        self.setCentralWidget(central)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(14, 10, 14, 8)
        top = QHBoxLayout()
        self.steps = StepBar()
        top.addWidget(self.steps)
        top.addStretch(1)
        self.nav_new = QPushButton(icons.icon("record"), "New video")
        self.nav_history = QPushButton(icons.icon("history"), "History")
        self.nav_settings = QPushButton(icons.icon("settings"), "Settings")
        for b in (self.nav_new, self.nav_history, self.nav_settings):
            b.setFlat(True)
            top.addWidget(b)
        outer.addLayout(top)
        self.banner = Banner()
        self.banner.action_requested.connect(app.handle_action)
        outer.addWidget(self.banner)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.record = RecordPage(app)
        # The Record page is what the window opens on; the others are built when first
        # shown (their modules load media, mail and network code the first paint does not need).
        self.stack.addWidget(self.record)
        self._review: ReviewPage | None = None
        self._compose: ComposePage | None = None
        self._sent: SentPage | None = None
        self._history: HistoryPage | None = None
        self.stack.currentChanged.connect(self.on_stack_current_changed)
        self._last_page: QWidget | None = None

        self.profile_label = QLabel()
        self.account_label = QLabel()
        self.activity_label = QLabel()
        status = self.statusBar()
        status.addPermanentWidget(self.activity_label)
        status.addPermanentWidget(self.profile_label)
        status.addPermanentWidget(self.account_label)

        self._build_actions()
        self.nav_new.clicked.connect(self.new_video)
        self.nav_history.clicked.connect(self.show_history)
        self.nav_settings.clicked.connect(self.open_settings_dialog)
        rec = app.recording
        rec.finished.connect(self.on_recording_finished)
        rec.state_changed.connect(self.on_recording_state_changed)
        rec.rename_failed.connect(self.on_recording_rename_failed)
        app.services_changed.connect(self.on_app_services_changed)
        app.busy_changed.connect(self.update_activity)
        self.update_profile()
        self.update_actions()

    # ------------------------------------------------------------------ pages

    @property
    def review(self) -> ReviewPage:
        if self._review is None:
            from app.ui.pages.review import ReviewPage  # noqa: PLC0415

            page = ReviewPage(self.app)
            page.next_requested.connect(self.show_compose)
            page.rerecord_requested.connect(self.rerecord)
            self.stack.addWidget(page)
            self._review = page
        return self._review

    @property
    def compose(self) -> ComposePage:
        if self._compose is None:
            from app.ui.pages.compose import ComposePage  # noqa: PLC0415

            page = ComposePage(self.app)
            page.sent.connect(self.show_sent)
            page.back_button.clicked.connect(self.back_to_review)
            self.stack.addWidget(page)
            self._compose = page
        return self._compose

    @property
    def sent(self) -> SentPage:
        if self._sent is None:
            from app.ui.pages.sent import SentPage  # noqa: PLC0415

            page = SentPage(self.app)
            page.new_requested.connect(self.new_video)
            page.history_requested.connect(self.show_history)
            self.stack.addWidget(page)
            self._sent = page
        return self._sent

    @property
    def history(self) -> HistoryPage:
        if self._history is None:
            from app.ui.pages.history import HistoryPage  # noqa: PLC0415

            page = HistoryPage(self.app)
            page.watched.connect(self.on_history_watched)
            self.stack.addWidget(page)
            self._history = page
        return self._history

    def open_preview(self) -> None:
        self.compose.open_in_browser()

    def refresh_history(self) -> None:
        self.history.refresh()

    # ------------------------------------------------------------------ actions

    def _action(self, name: str, text: str, slot: Any, icon: str = "") -> QAction:
        action = QAction(text, self)
        if name in SHORTCUTS:
            action.setShortcut(QKeySequence(SHORTCUTS[name]))
            shown = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{text.replace('&', '')} ({shown})")
        if icon:
            action.setIcon(icons.icon(icon))
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work whatever has the focus
        self.actions_by_name[name] = action
        return action

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        a = self._action
        menu = self.menuBar().addMenu("&File")
        menu.addAction(a("new", "&New video", self.new_video, "record"))
        menu.addAction(a("quick_record", "&Quick record", self.app.quick_record, "quick-record"))
        menu.addSeparator()
        settings = a("settings", "&Settings…", self.open_settings_dialog, "settings")
        settings.setMenuRole(QAction.MenuRole.PreferencesRole)
        menu.addAction(settings)
        menu.addSeparator()
        menu.addAction(a("close", "&Close window", self.close))
        quit_action = a("quit", "&Quit", self.app.quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        menu.addAction(quit_action)

        menu = self.menuBar().addMenu("&Recording")
        menu.addAction(a("record", "&Record / Stop", self.toggle_record, "record"))
        pause = a("pause", "&Pause / Resume", self.toggle_pause, "pause")
        menu.addAction(pause)
        menu.addAction(a("cancel", "&Cancel", self.cancel))

        menu = self.menuBar().addMenu("&Message")
        send = a("send", "&Send", self.send, "send")
        # Ctrl+Enter on the keypad too.
        send.setShortcuts([QKeySequence(SHORTCUTS["send"]), QKeySequence("Ctrl+Enter")])
        menu.addAction(send)
        menu.addAction(a("preview", "Open preview in &browser", self.open_preview, "open"))

        menu = self.menuBar().addMenu("&View")
        menu.addAction(a("history", "&History", self.show_history, "history"))
        menu.addAction(a("refresh", "R&efresh history", self.refresh_history, "refresh"))

        menu = self.menuBar().addMenu("&Help")
        menu.addAction(a("help", "&Keyboard shortcuts", self.show_shortcuts))
        menu.addAction(a("logs", "Open the &log folder", self.open_log_folder))
        about = a("about", "&About Video Messaging", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        menu.addAction(about)

        self.nav_new.setToolTip(self.actions_by_name["new"].toolTip())
        self.nav_history.setToolTip(self.actions_by_name["history"].toolTip())
        self.nav_settings.setToolTip(self.actions_by_name["settings"].toolTip())

    def update_actions(self) -> None:
        state = self.app.recording.state
        page = self.stack.currentWidget()
        acts = self.actions_by_name
        reviewing = page is not None and page is self._review
        acts["pause"].setEnabled(state in ("recording", "paused") or reviewing)
        sending = self._compose is not None and self._compose.send_task is not None
        acts["cancel"].setEnabled(state in ("countdown", "recording", "paused") or sending)
        acts["send"].setEnabled(page is not None and page in (self._compose, self._review))
        acts["record"].setEnabled(state not in ("starting", "finishing"))

    # ------------------------------------------------------------------ navigation

    def _show(self, page: QWidget, step: int | None = None) -> None:
        self.stack.setCurrentWidget(page)
        if step is not None:
            self.steps.set_step(step)
        self.steps.setVisible(page is not self._history)
        self.update_actions()

    def on_stack_current_changed(self, _index: int) -> None:
        page = self.stack.currentWidget()
        last = self._last_page
        self._last_page = page
        if last is self.record and page is not self.record:
            self.record.deactivate()
        if self._review is not None and last is self._review and page is not self._review:
            self._review.deactivate()
        if page is self.record:
            self.record.activate()

    def show_record(self) -> None:
        self._show(self.record, 0)
        self.record.activate()  # also when it already was the page shown (at start)

    def show_review(self, take: Take) -> None:
        self._show(self.review, 1)
        self.review.show_take(take)

    def show_compose(self, take: Take) -> None:
        self._show(self.compose, 2)
        self.compose.start(take)

    def back_to_review(self) -> None:
        if self.review.take is not None:
            self._show(self.review, 1)
            self.review.show_take(self.review.take)

    def show_sent(self, result: Any) -> None:
        self.refresh_account()
        self._show(self.sent, 3)
        self.sent.show_result(result)
        self.app.recording.forget()
        self.review.close_player()
        self.review.take = None
        self.review.title.clear()  # the next video gets its own title (and entry name)
        self.compose.reset()
        self.history.refresh()
        sent = sum(1 for m in result.messages if m.state == "sent")
        problems = len(result.messages) - sent
        if problems:
            self.app.notify(
                "Not everything was sent", f"{sent} sent, {problems} need a look", "warning"
            )
        else:
            self.app.notify(
                "Sent", f"Your video went to {sent} {'person' if sent == 1 else 'people'}"
            )

    def show_history(self) -> None:
        self._show(self.history)
        self.history.refresh()

    def new_video(self) -> None:
        """Ctrl+N: back to Record for a new take (the current one is kept if unsent)."""
        if self.app.recording.active:
            self.show_record()
            return
        if self.review.take is not None and self.stack.currentWidget() in (
            self.review,
            self.compose,
        ):
            answer = QMessageBox.question(
                self,
                "Start a new video?",
                "This video has not been sent. It stays in your recordings folder.",
                QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Ok:
                return
        self.review.close_player()
        self.review.take = None
        self.review.title.clear()
        self.app.recording.forget()
        self.record.reset()
        self.show_record()

    def rerecord(self) -> None:
        self.show_record()
        self.app.start_take()

    def toggle_record(self) -> None:
        """Ctrl+R: record or stop, from any page."""
        if self.app.recording.active:
            self.record.toggle_record()
            return
        if self.stack.currentWidget() is not self.record:
            self.show_record()
        self.record.toggle_record()

    def toggle_pause(self) -> None:
        """Space: pause or resume the take being recorded; on Review, play or pause the take.

        One shortcut for both, so Qt never sees two for Space (it would ignore both); a
        line edit still types its spaces (it takes the key before any shortcut)."""
        rec = self.app.recording
        if rec.state in ("recording", "paused"):
            rec.toggle_pause()
        elif self._review is not None and self.stack.currentWidget() is self._review:
            self._review.toggle_play()

    def cancel(self) -> None:
        if self._compose is not None and self._compose.send_task is not None:
            self._compose.cancel_send()
        else:
            self.record.cancel()

    def send(self) -> None:
        page = self.stack.currentWidget()
        if page is not None and page is self._compose:
            self._compose.send()
        elif page is not None and page is self._review:
            self._review.go_next()

    def on_recording_finished(self, take: Take) -> None:
        quick = self.app.quick is not None and self.app.quick.isVisible()
        if quick:
            return  # the quick recorder goes straight to Compose itself
        self.bring_to_front()
        self.show_review(take)

    def on_recording_state_changed(self, state: str) -> None:
        self.update_actions()
        self.update_activity()
        quick = self.app.quick is not None and self.app.quick.isVisible()
        if (
            state in ("starting", "countdown", "recording")
            and self.stack.currentWidget() is not self.record
            and self.isVisible()
            and not quick
        ):
            self.show_record()

    def on_recording_rename_failed(self, error: Any) -> None:
        """The email has the title anyway; only the video's name in Kaltura stays as it was,
        so a line in the status bar (the person is on Compose by now) is enough."""
        self.statusBar().showMessage(
            f"The video's title in Kaltura was not changed: {error.message}", 10_000
        )

    # ------------------------------------------------------------------ status

    def on_app_services_changed(self) -> None:
        self.update_profile()
        if self._compose is not None:
            self._compose.close_search()
        self.refresh_account()

    def refresh_account(self) -> None:
        services = self.app.services
        if services is None:
            return
        self.app.tasks.run("who is signed in", lambda _c: services.account(), on_done=self._account)

    def _account(self, account: Any) -> None:
        if account is None:
            services = self.app.services
            text = (
                "Sandbox: signs in by itself"
                if services and services.is_sandbox
                else "Not connected to Office 365"
            )
            self.account_label.setText(text)
        else:
            self.account_label.setText(f"Signed in as {account.username}")

    def update_profile(self) -> None:
        services = self.app.services
        name = services.profile_name if services else self.app.settings.active_profile
        sandbox = services.is_sandbox if services else self.app.settings.profile().kind == "sandbox"
        self.profile_label.setText(f"Profile: {name}" + (" (built-in sandbox)" if sandbox else ""))

    def update_activity(self) -> None:
        parts = []
        state = self.app.recording.state
        if state in ("recording", "paused", "countdown"):
            parts.append("Recording")
        if state == "finishing":
            parts.append("Saving the take")
        if "sending" in self.app.busy:
            parts.append("Sending")
        self.activity_label.setText(" · ".join(parts))

    def show_reconcile(self, report: ReconcileReport) -> None:
        """What start-up found, with what can be done about it."""
        from app.workflow.startup import open_recovered  # noqa: PLC0415

        if report.recovered:
            found = report.recovered[-1]
            n = len(report.recovered)
            text = (
                f"A recording that was interrupted was recovered: {found.path.name} "
                f"({found.duration:.0f} s)."
            )
            if n > 1:
                text = (
                    f"{n} interrupted recordings were recovered; the latest is {found.path.name}."
                )

            def offer() -> None:
                self.banner.show_message(
                    text, "warning", detail="It is in your recordings folder.",
                    actions=[("Review and send it", review),
                             ("Open the folder", self.open_recordings)],
                )  # fmt: skip

            def review() -> None:
                services = self.app.services
                if services is None:
                    return
                if not self._may_replace_take():
                    return
                open_now = self.app.recording.take  # what may be replaced (None: nothing)
                agreed = open_now.path if open_now is not None else None
                self.banner.hide()
                self.statusBar().showMessage("Opening the recovered recording…", 5000)
                self.app.tasks.run(
                    "open the recovered take",
                    lambda cancel: open_recovered(services, report, found.path, cancel),
                    on_done=lambda take: self._open_recovered(take, agreed, offer),
                    on_error=self._recovered_failed,
                )  # fmt: skip

            offer()
        elif report.lost:
            path, why = report.lost[-1]
            self.banner.show_message(
                f"An interrupted recording could not be saved: {path.name}.", "error", detail=why
            )
        if report.outbox.get("unknown") and not report.recovered:
            n = report.outbox["unknown"]
            self.banner.show_message(
                f"{n} email{'s' if n != 1 else ''} may or may not have gone out when the app "
                "stopped.",
                "warning",
                detail="Look in Sent Items in Outlook, then mark them in the history.",
                actions=[("Open history", self.show_history)],
            )
        elif report.uploads_blocked and not report.recovered:
            self.banner.show_message(f"Uploads are waiting: {report.uploads_blocked}", "warning")
        elif report.uploads and not report.recovered:
            n = len(report.uploads)
            self.statusBar().showMessage(f"Resuming {n} upload{'s' if n != 1 else ''}", 8000)

    def _may_replace_take(self) -> bool:
        """Before a recovered take is opened: never over a take being recorded; over one
        in Review or Compose only if the person says so (it stays in the folder)."""
        rec = self.app.recording
        if rec.active:
            self.statusBar().showMessage("Stop the recording first.", 10_000)
            return False
        if rec.take is None:
            return True
        answer = QMessageBox.question(
            self,
            "Open the recovered recording?",
            "The video you have open has not been sent. It stays in your recordings folder.",
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Ok

    def _open_recovered(self, take: Any, agreed: Any, offer: Any) -> None:
        """The recovered take is ready: open it, unless a take was started or opened in
        the meantime (the offer comes back, so it can still be sent)."""
        rec = self.app.recording
        now = rec.take.path if rec.take is not None else None
        if rec.active or now != agreed:
            self.statusBar().showMessage(
                "The recovered recording was not opened: another video is open.", 10_000
            )
            offer()
            return
        rec.adopt(take)

    def _recovered_failed(self, error: Any) -> None:
        if error is not None:
            self.banner.show_error(error)

    def open_recordings(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.recordings_dir())))

    def show_device_code(self, prompt: Any) -> None:
        services = self.app.services
        if services is not None and services.is_sandbox:
            self.statusBar().showMessage("Signing in to the sandbox…", 3000)
            return
        QGuiApplication.clipboard().setText(str(getattr(prompt, "user_code", "")))
        QMessageBox.information(
            self,
            "Sign in on another device",
            f"Go to {html.escape(str(getattr(prompt, 'verification_uri', '')))} and enter the code "
            f"{html.escape(str(getattr(prompt, 'user_code', '')))} (copied).",
        )

    def on_history_watched(self, watched: list[Any]) -> None:
        if not self.app.settings.desktop.notify_watched:
            return
        for w in watched:
            what = (
                f"{w.new_plays} new play{'s' if w.new_plays != 1 else ''}"
                if w.new_plays
                else "a new view"
            )
            self.app.notify("Your video was watched", f"{w.title or 'Your video'}: {what}")

    # ------------------------------------------------------------------ dialogs

    def open_settings_dialog(self) -> None:
        self.open_settings()

    def open_settings(self, page: str = "", *, setting: str = "") -> None:
        from app.ui.settings_dialog import SettingsDialog  # noqa: PLC0415

        dialog = SettingsDialog(self.app, self)
        if page:
            dialog.show_page(page, setting=setting)
        dialog.exec()

    def show_wizard(self) -> None:
        from app.ui.wizard import FirstRunWizard  # noqa: PLC0415

        wizard = FirstRunWizard(self.app, self)
        wizard.exec()
        self.show_record()

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td>{html.escape(a.text().replace('&', ''))}</td>"
            f"<td><b>{html.escape(a.shortcut().toString(QKeySequence.SequenceFormat.NativeText))}</b></td></tr>"
            for a in self.actions_by_name.values()
            if not a.shortcut().isEmpty()
        )
        hotkey = self.app.settings.desktop.quick_record_shortcut
        extra = (
            f"<p>Anywhere on the desktop: <b>{html.escape(hotkey)}</b> starts a quick "
            "recording.</p>"
            if hotkey and not self.app.hotkey_reason
            else f"<p>{html.escape(self.app.hotkey_reason)}</p>"
        )
        QMessageBox.information(
            self, "Keyboard shortcuts", f"<table cellpadding=4>{rows}</table>{extra}"
        )

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.log_path().parent)))

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Video Messaging",
            f"<b>Video Messaging</b> {__version__}<br>Record a personal video and send it "
            "from your own mailbox.<br>Open source under the Apache License 2.0.",
        )

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def event(self, event: QEvent) -> bool:
        if not self._painted and event.type() == QEvent.Type.Paint:
            self._painted = True
            self.first_paint.emit()
        return super().event(event)

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        app = self.app
        if app.closing or app.quitting:
            event.accept()
            return
        if app.tray.available:
            event.ignore()
            self.hide()
            if not app.settings.desktop.tray_notice_shown:
                app.notify(
                    "Video Messaging is still running",
                    "It stays in the tray; quit it from the tray menu.",
                )
                app.save_settings({"desktop.tray_notice_shown": True})
            return
        if app.confirm_quit():
            event.accept()
            app.quit_now()
        else:
            event.ignore()

    def shutdown(self) -> None:
        if self._review is not None:
            self._review.close_player()
        if self._compose is not None:
            self._compose.close_search()

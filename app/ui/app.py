"""The desktop app: one object that owns the window, the tray, the take, and the profile's services.

Start-up is ordered so the window appears first: the QApplication, the theme and the main
window are built and shown with nothing but Qt loaded; on the first turn of the event loop
the profile's :class:`~app.workflow.services.Services` are opened, and
:func:`~app.workflow.startup.reconcile` runs on the task pool (an interrupted take
recovered, uploads resumed, messages whose fate is unknown) while the person already sees
the window; what it found appears as a banner with actions. Media and network libraries
load on first use, off the GUI thread.

Everything blocking runs on :class:`~app.ui.tasks.Tasks`; quitting stops a running take
(kept, never discarded), cancels and drains the pool, and closes the services (uploads
are suspended and resume at the next start).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from app import paths
from app import policy as policy_mod
from app import settings as settings_mod
from app.errors import Action, AppError, PolicyError
from app.ui.banner import copy_details
from app.ui.recording import Recording, default_title, new_take_path
from app.ui.tasks import EventBridge, Tasks
from app.ui.theme import Theme

if TYPE_CHECKING:
    from app.ui.mainwindow import MainWindow
    from app.ui.quick_record import QuickRecordWindow
    from app.ui.single_instance import SingleInstance
    from app.ui.tray import Tray
    from app.workflow.services import Locations, Services
    from app.workflow.startup import ReconcileReport

log = logging.getLogger(__name__)

SHORTCUTS = {
    "record": "Ctrl+R",
    "pause": "Space",
    "cancel": "Esc",
    "send": "Ctrl+Return",
    "new": "Ctrl+N",
    "quick_record": "Ctrl+Shift+R",
    "history": "Ctrl+H",
    "settings": "Ctrl+,",
    "quit": "Ctrl+Q",
    "close": "Ctrl+W",
    "help": "F1",
    "refresh": "F5",
}


class DesktopApp(QObject):
    """The running app (see the module docstring)."""

    #: The profile's services were opened (or reopened after a settings change).
    services_changed = Signal()
    #: Busy states changed (uploading, sending): the tray shows them.
    busy_changed = Signal()
    #: start-up reconciliation finished (a ReconcileReport).
    reconciled = Signal(object)

    def __init__(
        self,
        qapp: QApplication,
        *,
        profile: str | None = None,
        locations: Locations | None = None,
        single_instance: bool | SingleInstance = False,
        show_wizard: bool | None = None,
        crash_dialogs: bool = True,
        global_hotkey: bool = True,
    ) -> None:
        super().__init__(qapp)
        self.qapp = qapp
        self.theme = Theme(qapp)
        self.tasks = Tasks(self)
        # Tests keep the crash handler of the test run (a modal dialog would wait forever).
        self._crash_dialogs = crash_dialogs
        self.crash_relay: Any = None
        self._global_hotkey = global_hotkey
        self.settings, self.policy = load_effective()
        self.profile_name = profile
        self.locations = locations
        self.services: Services | None = None
        self.bridge = EventBridge(self)
        self.bridge.received.connect(self.on_bridge_event)
        self.recording = Recording(self.tasks, lambda: self.services, self)
        # True: listen for later launches after the first paint (the real app); a
        # SingleInstance: that one; False: none (tests).
        self._single_instance = single_instance
        self.single: SingleInstance | None = None
        self._busy: collections.Counter[str] = collections.Counter()
        self._show_wizard = show_wizard
        self.quick: QuickRecordWindow | None = None
        self.report: ReconcileReport | None = None
        self.closing = False
        self._started = False
        self._first_paint_at = 0.0
        self._quick_record_at_start = False
        #: Quit was asked for (menu, tray, a stop signal): windows close without asking.
        self.quitting = False
        from app.ui.mainwindow import MainWindow  # noqa: PLC0415
        from app.ui.tray import Tray  # noqa: PLC0415

        self.window: MainWindow = MainWindow(self)
        self.tray: Tray = Tray(self)
        self.hotkey: Any = None
        self.hotkey_reason = ""
        qapp.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ start-up

    def start(self, *, minimized: bool = False, quick_record: bool = False) -> None:
        """Show the window (unless started minimized to the tray), then open the rest."""
        if self.tray.available:  # else the window and its menus offer everything
            self.tray.show()
        self._quick_record_at_start = quick_record
        if minimized and self.tray.available:
            QTimer.singleShot(0, self._after_first_paint)
            return
        # The rest waits for the window's first paint: a timer of 0 would run before it.
        self.window.first_paint.connect(self._on_first_paint)
        self.window.first_paint.connect(self._after_first_paint, Qt.ConnectionType.QueuedConnection)
        self.window.show()
        self.window.raise_()

    def _on_first_paint(self) -> None:
        self._first_paint_at = time.time()

    def _after_first_paint(self) -> None:
        if self._started:
            return
        self._started = True
        stamp = os.environ.get("VMSG_FIRST_PAINT_FILE")
        if stamp:  # benchmarks/ui.py times the real launch up to here
            with open(stamp, "w", encoding="ascii") as f:
                f.write(repr(self._first_paint_at))
        quick_record = self._quick_record_at_start
        if self._crash_dialogs:
            from app.ui import crash as crash_ui  # noqa: PLC0415

            self.crash_relay = crash_ui.install()
        self.listen_for_launches()
        self.open_services()
        self.register_hotkey()
        wizard = self._show_wizard
        if wizard is None:
            wizard = not self.settings.desktop.first_run_done
        if wizard and not quick_record:
            self.window.show_wizard()
        elif quick_record:
            self.quick_record()
        else:
            self.window.show_record()

    def listen_for_launches(self) -> None:
        """Later launches hand their command line to this app (focus, quick record)."""
        from app.ui.single_instance import SingleInstance  # noqa: PLC0415 - QtNetwork

        wanted = self._single_instance
        if wanted is False or self.single is not None:
            return
        single = wanted if isinstance(wanted, SingleInstance) else SingleInstance(parent=self)
        if single.listen():
            log.info("listening for later launches on %s", single.name)
        else:
            log.info("single instance: not listening (another app answers on %s)", single.name)
        single.message.connect(self.on_single_message)
        self.single = single

    def open_services(self) -> None:
        """Open the profile's services (again, after a settings change) and reconcile."""
        from app.workflow.services import Services, SignInOptions  # noqa: PLC0415

        old, self.services = self.services, None
        if old is not None:
            self.tasks.run("close the old profile", lambda _c: old.close())
        self.settings, self.policy = load_effective()
        options = SignInOptions(
            parent_window_handle=int(self.window.winId()),
            on_device_code=self.bridge.post,
            interactive=True,
        )
        try:
            self.services = Services(
                self.profile_name, sign_in=options, locations=self.locations,
                on_event=self.bridge.post,
            )  # fmt: skip
        except AppError as exc:
            self.window.banner.show_error(exc)
            return
        self.services_changed.emit()
        services = self.services
        self.tasks.run(
            "start-up checks", lambda cancel: self._reconcile(services, cancel),
            on_done=self._reconciled, on_error=self._reconcile_failed,
        )  # fmt: skip

    @staticmethod
    def _reconcile(services: Services, cancel: threading.Event) -> ReconcileReport:
        from app.workflow.startup import reconcile  # noqa: PLC0415

        return reconcile(services, cancel=cancel)

    def _reconciled(self, report: ReconcileReport) -> None:
        self.report = report
        self.window.show_reconcile(report)
        if report.waiting:
            shown = report.recovered or report.lost or report.uploads_blocked
            if shown or report.outbox.get("unknown"):  # that banner first; this one told
                self.window.statusBar().showMessage(
                    f"{report.waiting} email{'s' if report.waiting != 1 else ''} of an "
                    "earlier send wait to go out: History > Send now.",
                    30_000,
                )
            else:
                self.offer_waiting(report.waiting)
        self.window.refresh_account()
        self.window.history.start_watching()
        self.reconciled.emit(report)

    def offer_waiting(self, count: int) -> None:
        """Emails left waiting by a cancelled or interrupted send: offered, never sent
        behind the person's back (they may have cancelled on purpose)."""
        many = count != 1
        self.window.banner.show_message(
            f"{count} email{'s' if many else ''} of an earlier send {'are' if many else 'is'} "
            "waiting to go out.",
            "info",
            detail="They were not sent because the send was cancelled or the app closed.",
            actions=[("Send now", self.send_waiting), ("Open history", self.window.show_history)],
            icon="send",
        )  # fmt: skip

    def send_waiting(self) -> None:
        """Send every message that is due (each job's own rules: exactly-once checks first)."""
        from app.workflow.send import send_due  # noqa: PLC0415

        services = self.services
        if services is None:
            return
        self.window.banner.hide()
        self.set_busy("sending", True)

        def run(cancel: threading.Event) -> tuple[int, int]:
            result = send_due(services, on_event=self.bridge.post, cancel=cancel)
            return result.sent, result.not_sent

        def done(result: tuple[int, int]) -> None:
            sent, still = result
            self.set_busy("sending", False)
            self.window.refresh_history()
            if still:  # refused, throttled, or the network went away: say so, keep them
                self.window.banner.show_message(
                    f"{sent} sent; {still} did not go out.",
                    "warning",
                    detail="History shows why for each person.",
                    actions=[("Try again", self.send_waiting),
                             ("Open history", self.window.show_history)],
                )  # fmt: skip
            else:
                self.notify(
                    "Video Messaging", f"{sent} waiting email{'s' if sent != 1 else ''} sent."
                )

        def failed(error: AppError | None) -> None:
            self.set_busy("sending", False)
            if error is not None:
                self.window.banner.show_error(error, retry=self.send_waiting)
            self.window.refresh_history()

        self.tasks.run("send the waiting emails", run, on_done=done, on_error=failed)

    def _reconcile_failed(self, error: AppError | None) -> None:
        if error is not None:
            self.window.banner.show_error(error)
        self.window.history.start_watching()

    def register_hotkey(self) -> None:
        """The global quick-record shortcut, where the OS allows one."""
        try:
            from app.ui.hotkey import GlobalHotkey  # noqa: PLC0415
        except ImportError:  # pragma: no cover - the module ships with the app
            return
        if not self._global_hotkey:
            self.hotkey_reason = "The global shortcut is off in this session."
            return
        if self.hotkey is not None:
            self.hotkey.unregister()
        else:
            self.hotkey = GlobalHotkey(self)
            self.hotkey.activated.connect(self.quick_record)
        sequence = self.settings.desktop.quick_record_shortcut
        if not sequence:
            self.hotkey_reason = "No global shortcut is set."
            return
        ok = self.hotkey.register(sequence)
        self.hotkey_reason = "" if ok else str(self.hotkey.reason)

    # ------------------------------------------------------------------ settings

    def locked(self, dotted: str) -> str:
        """Why ``dotted`` cannot be changed ("" when it can)."""
        if self.policy.is_locked(dotted):
            return f"Set by your organization's administrator ({self.policy.path})."
        return ""

    def save_settings(self, values: dict[str, Any]) -> bool:
        """Change settings (dotted names) in the user's file; False (and a message) when
        the administrator's policy locks one or a value is wrong."""
        loaded = settings_mod.load()
        raw = loaded.settings
        try:
            for dotted, value in values.items():
                if self.policy.is_locked(dotted):
                    continue  # shown locked; never written
                policy_mod.set_value(raw, dotted, value, self.policy)
            settings_mod.save(raw)
        except (PolicyError, AppError) as exc:
            self.window.banner.show_error(exc)
            return False
        self.settings = self.policy.apply(raw)
        return True

    # ------------------------------------------------------------------ actions

    def shortcut_text(self, name: str) -> str:
        from PySide6.QtGui import QKeySequence  # noqa: PLC0415

        return QKeySequence(SHORTCUTS[name]).toString(QKeySequence.SequenceFormat.NativeText)

    def start_take(self, *, quick: bool = False) -> None:
        """Record a new take with the saved devices (upload while recording)."""
        from app.workflow.take import TakeOptions  # noqa: PLC0415

        rec = self.settings.recording
        try:
            folder = paths.recordings_dir()
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.window.banner.show_error(
                AppError(
                    f"The recordings folder cannot be created: {exc.strerror or exc}.",
                    action=Action.FREE_DISK_SPACE,
                )
            )
            return
        options = TakeOptions(
            output=new_take_path(folder),
            camera=rec.camera or None,
            microphone=rec.microphone or None,
            preset=rec.preset,
            countdown=0 if quick and rec.countdown_seconds > 3 else rec.countdown_seconds,
            max_seconds=float(rec.max_duration_seconds) if rec.max_duration_seconds else None,
            upload=self.services is not None,
            title=default_title(),
        )
        self.recording.record(options)

    def quick_record(self) -> None:
        """The compact always-on-top recorder; on stop it goes straight to Compose."""
        from app.ui.quick_record import QuickRecordWindow  # noqa: PLC0415

        if self.recording.active:
            (self.quick or self.window).raise_()
            return
        if self.quick is None:
            self.quick = QuickRecordWindow(self)
        self.quick.open_and_record()

    def handle_action(self, action: Action, error: AppError | None = None) -> None:
        """Do the next step an error names (the banner's button)."""
        if action is Action.SIGN_IN:
            self.window.open_settings("email")
        elif action is Action.OPEN_SETTINGS:
            self.window.open_settings("profile", setting=error.setting if error else "")
        elif action is Action.CHECK_DEVICE:
            self.window.open_settings("recording")
        elif action in (Action.CHECK_SENT_ITEMS,):
            self.window.show_history()
        elif action is Action.RECOVER_TAKE:
            self.recover_takes()
        elif action is Action.CONTACT_ADMIN and error is not None:
            copy_details(error)
            self.window.statusBar().showMessage(
                "Details copied: paste them to your administrator", 5000
            )
        elif action is Action.FREE_DISK_SPACE or action is Action.CHOOSE_FILE:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.recordings_dir())))
        elif action is Action.ALLOW_DEVICE:
            from app.ui import permissions  # noqa: PLC0415

            kind = error.target if error is not None and error.target else "camera"
            if not permissions.open_privacy_settings(kind):
                self.window.open_settings("recording")

    def recover_takes(self) -> None:
        services = self.services
        if services is None:
            return
        self.tasks.run(
            "recover takes", lambda cancel: self._reconcile(services, cancel),
            on_done=self._reconciled, on_error=self._reconcile_failed,
        )  # fmt: skip

    def set_busy(self, what: str, busy: bool) -> None:
        """Counted: two sends at once (Compose and the waiting emails) stay "sending"
        until both end."""
        if busy:
            self._busy[what] += 1
        elif self._busy[what] > 0:
            self._busy[what] -= 1
        self.busy_changed.emit()

    @property
    def busy(self) -> set[str]:
        return {what for what, n in self._busy.items() if n > 0}

    def notify(self, title: str, text: str, level: str = "info") -> None:
        """A desktop notification (the tray's), or the status bar without a tray."""
        if not self.tray.notify(title, text, level):
            self.window.statusBar().showMessage(f"{title}: {text}", 8000)

    # ------------------------------------------------------------------ events

    def on_bridge_event(self, event: object) -> None:
        from app.workflow.events import Notice  # noqa: PLC0415

        if type(event).__name__ == "DeviceCodePrompt":
            self.window.show_device_code(event)
        elif isinstance(event, Notice):
            text = event.message[:1].upper() + event.message[1:]
            sandbox = self.services is not None and self.services.is_sandbox
            if event.topic == "token-storage" and sandbox:
                # The sandbox's sign-in opens nothing but this computer's sandbox.
                log.info("%s", text)
            elif event.level == "warning":
                self.window.banner.show_message(text, "warning")
            else:
                self.window.statusBar().showMessage(
                    event.message[:1].upper() + event.message[1:], 5000
                )

    def on_single_message(self, argv: list[str]) -> None:
        """Another launch handed over its command line."""
        if "--quick-record" in argv:
            self.quick_record()
        else:
            self.window.bring_to_front()

    # ------------------------------------------------------------------ quitting

    def confirm_quit(self) -> bool:
        """Ask before quitting in the middle of a take or a send."""
        if not (self.recording.active or "sending" in self.busy):
            return True
        what = "a recording" if self.recording.active else "a send"
        answer = QMessageBox.question(
            self.window,
            "Quit Video Messaging?",
            f"You are in the middle of {what}. The recording is kept, and emails not sent "
            "yet are kept in History; the app offers to send them when you open it again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def quit(self) -> None:
        if self.confirm_quit():
            self.quit_now()

    def quit_now(self) -> None:
        """Quit without asking (a stop signal, or after the person confirmed). Qt closes
        every window first; they let it, and the take is kept by :meth:`shutdown`."""
        self.quitting = True
        self.qapp.quit()

    def shutdown(self) -> None:
        """Stop the take (kept), cancel and drain the work, close the services."""
        if self.closing:
            return
        self.closing = True
        self.recording.close()
        self.window.shutdown()
        if self.hotkey is not None:
            self.hotkey.close()
        services = self.services
        # Cancelled tasks end with the services still open (a history load, a search);
        # what waits on the services themselves (a sign-in, a send) ends when they close.
        self.tasks.cancel_all(timeout=3.0)
        if services is not None:
            services.close()
        self.tasks.shutdown()
        self.tray.hide()
        if self.single is not None:
            self.single.close()


def load_effective() -> tuple[settings_mod.Settings, policy_mod.Policy]:
    """The user's settings with the administrator's policy applied (what
    ``app.endpoints.load_effective`` gives, without loading the network modules the
    endpoints need, so the window can appear first)."""
    pol = policy_mod.load()
    return pol.apply(settings_mod.load().settings), pol

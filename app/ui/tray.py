"""The tray icon: the app's state at a glance, and its menu.

The icon shows idle, recording, uploading or sending, or an error. The menu: Quick record,
Open, the recent links (click to copy), Pause/Resume and Stop while recording, Quit.
Notifications (sent, not sent, watched) go through the tray where the desktop supports them.

Where the desktop has no tray (GNOME without the AppIndicator extension), ``available`` is
False: closing the window then quits, and everything the menu offers stays in the window's
menus, so no feature depends on the tray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.ui import icons

if TYPE_CHECKING:
    from app.ui.app import DesktopApp

RECENT_LINKS = 5


class Tray(QSystemTrayIcon):
    def __init__(self, app: DesktopApp) -> None:
        super().__init__(app)
        self.app = app
        self.state = "idle"
        self.menu = QMenu()
        self.menu.setAccessibleName("Video Messaging")
        self.quick_action = QAction(icons.icon("quick-record"), "Quick record", self.menu)
        self.quick_action.triggered.connect(app.quick_record)
        self.open_action = QAction("Open Video Messaging", self.menu)
        self.open_action.triggered.connect(app.window.bring_to_front)
        self.pause_action = QAction(icons.icon("pause"), "Pause", self.menu)
        self.pause_action.triggered.connect(app.recording.toggle_pause)
        self.stop_action = QAction(icons.icon("stop"), "Stop recording", self.menu)
        self.stop_action.triggered.connect(app.recording.stop)
        self.links_menu = QMenu("Recent links")
        self.links_menu.setIcon(icons.icon("link"))
        self.quit_action = QAction("Quit", self.menu)
        self.quit_action.triggered.connect(app.quit)
        self.menu.addAction(self.quick_action)
        self.menu.addAction(self.open_action)
        self.menu.addSeparator()
        self.menu.addAction(self.pause_action)
        self.menu.addAction(self.stop_action)
        self.menu.addMenu(self.links_menu)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.menu.aboutToShow.connect(self.on_menu_about_to_show)
        self.setContextMenu(self.menu)
        self.activated.connect(self.on_activated)
        app.recording.state_changed.connect(self.update_state)
        app.recording.failed.connect(lambda _e: self.set_state("error"))
        app.busy_changed.connect(self.update_state)
        self.links: list[tuple[str, str]] = []
        self.set_state("idle")
        self.update_menu()

    @property
    def available(self) -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def set_state(self, state: str) -> None:
        self.state = state
        self.setIcon(icons.icon(f"tray-{state}"))
        words = {
            "idle": "Ready",
            "recording": "Recording",
            "uploading": "Uploading / sending",
            "error": "Something needs your attention",
        }
        self.setToolTip(f"Video Messaging: {words.get(state, state)}")

    def update_state(self, *_args: object) -> None:
        rec = self.app.recording.state
        if rec in ("countdown", "recording", "paused"):
            self.set_state("recording")
        elif rec == "finishing" or self.app.busy:
            self.set_state("uploading")
        else:
            self.set_state("idle")
        self.update_menu()

    def update_menu(self) -> None:
        rec = self.app.recording.state
        recording = rec in ("recording", "paused")
        self.pause_action.setVisible(recording)
        self.pause_action.setText("Resume" if rec == "paused" else "Pause")
        self.stop_action.setVisible(rec in ("countdown", "recording", "paused"))
        self.quick_action.setEnabled(not self.app.recording.active)

    def on_menu_about_to_show(self) -> None:
        self.update_menu()
        self.fill_links()

    def fill_links(self) -> None:
        """The latest sent videos' links; a click copies one."""
        self.links_menu.clear()
        history = self.app.window.history
        services = self.app.services
        links: list[tuple[str, str]] = []
        if services is not None:
            for job in history.jobs:
                if job.entry_id and len(links) < RECENT_LINKS:
                    links.append((job.title or "Video", services.landing_url(job.entry_id)))
        self.links = links
        if not links:
            empty = self.links_menu.addAction("Nothing sent yet")
            empty.setEnabled(False)
        for title, url in links:
            action = self.links_menu.addAction(icons.icon("copy"), f"Copy: {title}")
            action.setToolTip(url)
            action.triggered.connect(lambda _c=False, u=url: QGuiApplication.clipboard().setText(u))

    def on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.app.window.bring_to_front()

    def notify(self, title: str, text: str, level: str = "info") -> bool:
        """A desktop notification; False when this desktop cannot show one."""
        if not (self.available and self.supportsMessages() and self.isVisible()):
            return False
        icon = {
            "warning": QSystemTrayIcon.MessageIcon.Warning,
            "error": QSystemTrayIcon.MessageIcon.Critical,
        }.get(level, QSystemTrayIcon.MessageIcon.Information)
        self.showMessage(title, text, icon, 6000)
        return True

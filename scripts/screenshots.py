"""Screenshots of every screen of the desktop app, for docs/screenshots/ and the README.

Run it through ``scripts/screenshots.sh`` (which starts Xvfb, a window manager and a tray
on a private display), or on any X display: ``python scripts/screenshots.py OUT_DIR``.
The app runs against a throwaway sandbox with the synthetic camera and microphone, in a
temporary home, so nothing of the user's is touched. Each screen is captured from the X
server (window frame included); the tray menu from the whole screen.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def isolate(home: Path) -> None:
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(home / sub)
    os.environ["VMSG_SANDBOX_DIR"] = str(home / "sandbox")
    # No keyring: with a display, D-Bus would autolaunch one and it would ask for a new
    # keyring's password on screen. The sandbox's sign-in goes to a 0600 file instead.
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/vmsg-screenshots"
    policy = home / "policy.json"
    # A setting locked by the administrator, to show how the settings present it.
    policy.write_text(json.dumps({"policy_version": 1, "recording": {"max_duration_seconds": 300}}))
    os.environ["VMSG_POLICY"] = str(policy)


def write_settings(
    camera: str = "synthetic", microphone: str = "synthetic", **desktop: Any
) -> None:
    from app import paths

    data = {
        "schema_version": 2,
        "allow_plaintext_token_cache": True,
        "recording": {
            "camera": camera,
            "microphone": microphone,
            "preset": "720p30",
            "countdown_seconds": 0,
        },
        "desktop": {"first_run_done": True, "tray_notice_shown": True, **desktop},
    }
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(json.dumps(data))


class Shooter:
    def __init__(self, out: Path) -> None:
        from PySide6.QtWidgets import QApplication

        self.out = out
        self.qapp = QApplication.instance()
        out.mkdir(parents=True, exist_ok=True)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.qapp.processEvents()
            time.sleep(0.01)

    def wait(self, condition: Callable[[], object], timeout: float = 60, what: str = "") -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"screenshots: timed out waiting for {what or condition}")
            self.qapp.processEvents()
            time.sleep(0.01)

    def window(self, widget: Any, name: str) -> Path:
        """The window with its frame, as the X server shows it."""
        from PySide6.QtGui import QGuiApplication

        self.pump(0.4)
        frame = widget.frameGeometry()
        screen = QGuiApplication.primaryScreen()
        shot = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
        path = self.out / f"{name}.png"
        shot.save(str(path))
        print(f"screenshots: {path}")
        return path

    def screen(self, name: str) -> Path:
        from PySide6.QtGui import QGuiApplication

        self.pump(0.4)
        shot = QGuiApplication.primaryScreen().grabWindow(0)
        path = self.out / f"{name}.png"
        shot.save(str(path))
        print(f"screenshots: {path}")
        return path


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots").resolve()
    home = Path(tempfile.mkdtemp(prefix="vmsg-screenshots-"))
    isolate(home)
    write_settings(microphone="synthetic:level=silent")
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication, QMessageBox

    QApplication.setApplicationName("Video Messaging")
    qapp = QApplication([sys.argv[0]])
    qapp.setQuitOnLastWindowClosed(False)
    from app.sandbox.runner import start_all

    sandbox = start_all(home / "sandbox", directory_size=300, conversion_seconds=0.3)
    from app.ui.app import DesktopApp

    shots = Shooter(out)
    app = DesktopApp(qapp, show_wizard=False, global_hotkey=False)
    # Screens are taken without anyone to answer questions: answer "yes" to any.
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)  # type: ignore[method-assign]
    try:
        window = app.window
        app.start()
        window.resize(1180, 760)
        window.move(40, 30)
        shots.wait(lambda: app.report is not None, what="start-up checks")
        rec = app.recording
        # 1. Record, with the live picture and a health warning (a silent microphone).
        window.actions_by_name["record"].trigger()
        shots.wait(lambda: rec.state == "recording", what="recording")
        shots.wait(window.record.link_row.isVisible, what="the link")
        shots.wait(window.record.health_banner.isVisible, 30, "the silent-mic warning")
        shots.wait(lambda: rec.elapsed() >= 5.0, what="5 s recorded")
        shots.window(window, "record")
        # 2. Review.
        rec.stop()
        shots.wait(lambda: window.stack.currentWidget() is window.review, what="review")
        shots.wait(lambda: window.review.player is not None, what="the player")
        window.review.trim.set_range(0.6, rec.take.duration - 0.4)
        window.review.on_trim_range_changed(window.review.trim.start, window.review.trim.end)
        window.review.player.seek(2.4)
        window.review.title.setText("Quarterly hello")
        shots.wait(lambda: window.review.gif.movie() is not None, what="the preview")
        shots.window(window, "review")
        # 3. Compose, with suggestions open and the email preview.
        window.review.go_next()
        compose = window.compose
        shots.wait(lambda: window.stack.currentWidget() is compose, what="compose")
        senders = {s["email"] for s in sandbox.manifest["senders"]}
        people = [u for u in sandbox.microsoft.directory.users if u.mail not in senders]
        compose.to.add_text(f"{people[0].displayName} <{people[0].mail}>")
        compose.note.setPlainText(
            "Thanks for the call today. Here is the short walkthrough I promised; "
            "the numbers are on the second slide."
        )
        compose.cta_label.setText("Book a follow-up")
        compose.cta_url.setText("https://calendar.example.com/me")
        compose.schedule_preview()
        shots.wait(lambda: compose.preview.message is not None, what="the email preview")
        shots.pump(1.0)
        compose.to.edit.setFocus()
        prefix = people[1].displayName[:3]
        from PySide6.QtTest import QTest

        QTest.keyClicks(compose.to.edit, prefix)
        shots.wait(compose.to.suggestions_visible, 30, "suggestions")
        shots.pump(0.5)
        shots.window(window, "compose")
        # Send to the one recipient, for the history.
        compose.to.hide_suggestions()
        compose.to.edit.clear()
        compose.send()
        shots.wait(lambda: window.stack.currentWidget() is window.sent, 120, "sent")
        shots.window(window, "sent")
        # 4. History, once the "Sent" notification (6 s) has gone from over the window.
        shots.pump(6.5)
        window.show_history()
        shots.wait(lambda: window.history.jobs, what="history")
        top = window.history.tree.topLevelItem(0)
        top.setExpanded(True)
        window.history.tree.setCurrentItem(top.child(0))
        shots.window(window, "history")
        # 5. Settings with a locked item (the policy locks the longest take).
        from app.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(app, window)
        dialog.show_page("recording")
        dialog.show()
        dialog.move(120, 80)
        shots.window(dialog, "settings")
        dialog.show_page("email")
        shots.pump(1.0)
        shots.window(dialog, "settings-email")
        dialog.close()
        # 6. The tray menu.
        if app.tray.available:
            app.tray.fill_links()
            app.tray.menu.popup(QPoint(1000, 30))
            shots.screen("tray-menu")
            app.tray.menu.close()
        else:
            print("screenshots: no system tray on this display (start trayer); skipped")
        # 7. An error in the window: a camera that is not there.
        app.save_settings({"recording.camera": "7"})
        window.new_video()
        shots.wait(window.record.banner.isVisible, 30, "the camera error")
        shots.window(window, "error")
        # 8. The first-run wizard, on its device page.
        app.save_settings({"recording.camera": "synthetic", "recording.microphone": "synthetic"})
        from app.ui.wizard import DEVICES, FirstRunWizard

        wizard = FirstRunWizard(app, window)
        wizard.show()
        wizard.move(160, 90)
        shots.window(wizard, "wizard")
        wizard.next()
        shots.wait(lambda: wizard.currentId() == DEVICES, what="the device page")
        shots.wait(wizard.devices.preview.has_picture, 30, "the camera in the wizard")
        shots.pump(1.5)
        shots.window(wizard, "wizard-devices")
        wizard.reject()
        # 9. Dark, as the system asks (the signal the OS sends when it switches).
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        window.new_video()
        shots.wait(window.record.preview.has_picture, 30, "the live picture")
        shots.pump(1.0)
        shots.window(window, "record-dark")
    finally:
        app.shutdown()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Camera and microphone permission: ask the OS where it asks, and open its privacy page.

macOS asks the person once per app (Qt's ``QCameraPermission`` / ``QMicrophonePermission``
show the prompt; the bundle's usage descriptions are in ``build.spec``). Windows has a
switch "Let desktop apps access your camera"; when it is off, opening a camera fails with
"access denied" and the only remedy is that page (``ms-settings:privacy-webcam``). Linux
desktops have no such switch (the device node's permissions decide).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import (
    QCameraPermission,
    QCoreApplication,
    QMicrophonePermission,
    QObject,
    QPermission,
    Qt,
    QUrl,
)
from PySide6.QtGui import QDesktopServices

from app import system
from app.errors import Action, AppError, DeviceError


def privacy_url(kind: str, platform: str = sys.platform) -> str:
    """The OS page where ``kind`` ("camera" or "microphone") access is granted ("" if none)."""
    return system.privacy_page(kind, platform)[1]


def open_privacy_settings(kind: str) -> bool:
    url = privacy_url(kind)
    return bool(url) and QDesktopServices.openUrl(QUrl(url))


def status(kind: str) -> str:
    """ "granted", "denied" or "undetermined" (Qt's permission API; "granted" where the OS
    has no per-app permission)."""
    app = QCoreApplication.instance()
    if app is None:
        return "undetermined"
    return _status_name(app.checkPermission(_permission(kind)))


def _permission(kind: str) -> QCameraPermission | QMicrophonePermission:
    return QCameraPermission() if kind == "camera" else QMicrophonePermission()


_STATUS_NAMES: dict[Qt.PermissionStatus, str] = {
    Qt.PermissionStatus.Granted: "granted",
    Qt.PermissionStatus.Denied: "denied",
}


def _status_name(result: Qt.PermissionStatus) -> str:
    return _STATUS_NAMES.get(result, "undetermined")


def request(kinds: list[str], context: QObject, then: Callable[[dict[str, str]], None]) -> None:
    """Ask the OS for each of ``kinds`` not decided yet, one after the other, on the GUI
    thread (macOS shows its prompt once per app; OpenCV asking from a worker thread makes
    the first open fail even when the person allows it). ``then`` gets every kind's status
    ("granted", "denied", "undetermined") once all are answered; at once where the OS has
    no per-app permission, or nothing is left to ask.
    """
    app = QCoreApplication.instance()
    statuses = {kind: status(kind) for kind in kinds}
    pending = [kind for kind, value in statuses.items() if value == "undetermined"]
    if app is None or not pending:
        then(statuses)
        return

    def ask(i: int) -> None:
        if i == len(pending):
            then(statuses)
            return
        kind = pending[i]

        def answered(permission: QPermission) -> None:
            statuses[kind] = _status_name(permission.status())
            ask(i + 1)

        app.requestPermission(_permission(kind), context, answered)

    ask(0)


def kinds_needed(camera: str | None, microphone: str | None) -> list[str]:
    """The devices a camera/microphone choice opens that the OS may guard."""
    kinds = []
    if not (camera or "").startswith(("synthetic", "file:")):
        kinds.append("camera")
    if (microphone or "").split(":")[0] not in ("synthetic", "none"):
        kinds.append("microphone")
    return kinds


def denied_error(kind: str) -> AppError:
    """The error for a device the OS does not let the app use."""
    page, _url = system.privacy_page(kind)
    where = f" in {page}" if page else ""
    return DeviceError(
        f"Video Messaging is not allowed to use the {kind}.",
        hint=f"Allow it{where}; then try again.",
        action=Action.ALLOW_DEVICE,
        target=kind,
    )

"""Camera and microphone permission: ask the OS where it asks, and open its privacy page.

macOS asks the person once per app (Qt's ``QCameraPermission`` / ``QMicrophonePermission``
show the prompt; the bundle's usage descriptions are in ``build.spec``). Windows has a
switch "Let desktop apps access your camera"; when it is off, opening a camera fails with
"access denied" and the only remedy is that page (``ms-settings:privacy-webcam``). Linux
desktops have no such switch (the device node's permissions decide).
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, Qt, QUrl
from PySide6.QtGui import QDesktopServices

PRIVACY_URLS = {
    "win32": {
        "camera": "ms-settings:privacy-webcam",
        "microphone": "ms-settings:privacy-microphone",
    },
    "darwin": {
        "camera": "x-apple.systempreferences:com.apple.preference.security?Privacy_Camera",
        "microphone": "x-apple.systempreferences:com.apple.preference.security?Privacy_Microphone",
    },
}


def privacy_url(kind: str, platform: str = sys.platform) -> str:
    """The OS page where ``kind`` ("camera" or "microphone") access is granted ("" if none)."""
    return PRIVACY_URLS.get(platform, {}).get(kind, "")


def open_privacy_settings(kind: str) -> bool:
    url = privacy_url(kind)
    return bool(url) and QDesktopServices.openUrl(QUrl(url))


def status(kind: str) -> str:
    """ "granted", "denied" or "undetermined" (Qt's permission API; "granted" where the OS
    has no per-app permission)."""
    from PySide6.QtCore import QCameraPermission, QMicrophonePermission  # noqa: PLC0415

    app = QCoreApplication.instance()
    if app is None:
        return "undetermined"
    permission = QCameraPermission() if kind == "camera" else QMicrophonePermission()
    result = app.checkPermission(permission)
    return {
        Qt.PermissionStatus.Granted: "granted",
        Qt.PermissionStatus.Denied: "denied",
    }.get(result, "undetermined")

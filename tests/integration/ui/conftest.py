"""The real desktop app against the in-process sandbox, with the synthetic camera and microphone."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import paths

#: Settings for a test run: synthetic devices, no countdown, small takes, no wizard.
SETTINGS: dict[str, Any] = {
    "schema_version": 2,
    "allow_plaintext_token_cache": True,
    "recording": {
        "camera": "synthetic",
        "microphone": "synthetic",
        "preset": "480p",
        "countdown_seconds": 0,
        "mirror_preview": True,
    },
    "desktop": {"first_run_done": True, "tray_notice_shown": True},
}


def write_settings(extra: dict[str, Any] | None = None) -> None:
    data = json.loads(json.dumps(SETTINGS))
    for key, value in (extra or {}).items():
        data[key] = value
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(json.dumps(data))


@pytest.fixture
def desktop_factory(qtbot: Any, sandbox: Any) -> Iterator[Callable[..., Any]]:
    """``desktop_factory()`` starts the app (window shown, services open) and waits until
    its start-up checks are done; every app started is shut down after the test."""
    from PySide6.QtWidgets import QApplication

    from app.ui.app import DesktopApp

    started: list[Any] = []

    def start(*, settings: dict[str, Any] | None = None, wizard: bool = False) -> Any:
        write_settings(settings)
        qapp = QApplication.instance()
        assert isinstance(qapp, QApplication)
        app = DesktopApp(qapp, show_wizard=wizard, crash_dialogs=False, global_hotkey=False)
        started.append(app)
        with qtbot.waitSignal(app.reconciled, timeout=60_000):
            app.start()
        return app

    yield start
    for app in started:
        app.shutdown()
        app.window.close()
        app.window.deleteLater()
        if app.quick is not None:
            app.quick.close()
            app.quick.deleteLater()
        app.deleteLater()
    QApplication.processEvents()

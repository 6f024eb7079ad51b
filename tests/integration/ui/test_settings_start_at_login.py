"""Settings > General > "Start Video Messaging when I log in": the checkbox shows the login
entry the OS has (app/autostart.py), turning it on or off writes or removes that entry on
each OS's branch, and a failure says why and leaves the setting as it was.

Each OS's branch runs here as in tests/unit/test_autostart.py: the XDG entry for real, the
macOS launch agent in a fake home, the Windows Run key in a fake key.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from app import autostart, paths
from tests.integration.ui.conftest import SETTINGS
from tests.unit.test_autostart import FakeRunKey, autostart_file

SETTING = "desktop.start_at_login"


class Branch:
    """One OS's way of starting at login, which the dialog's autostart calls then use."""

    def __init__(self, platform: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.platform = platform
        self.run_key = FakeRunKey()
        self.where: dict[str, Any] = {"platform": platform, "home": home, "run_key": self.run_key}
        # Taken before the dialog's are replaced: these act "outside the app".
        self.enable = functools.partial(autostart.enable, **self.where)
        self.command = functools.partial(autostart.registered_command, **self.where)
        for name in ("enable", "disable", "is_enabled"):
            bound = functools.partial(getattr(autostart, name), **self.where)
            monkeypatch.setattr(autostart, name, bound)

    def default(self) -> list[str]:
        return autostart.default_command(platform=self.platform)

    def location(self) -> str:
        return autostart.describe(**self.where)


@pytest.fixture(params=["linux", "darwin", "win32"])
def branch(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Branch:
    return Branch(request.param, tmp_path / "home", monkeypatch)


def desktop_settings(start_at_login: bool) -> dict[str, Any]:
    return {"desktop": {**SETTINGS["desktop"], "start_at_login": start_at_login}}


def saved() -> bool:
    data = json.loads(paths.settings_path().read_text(encoding="utf-8"))
    return bool(data.get("desktop", {}).get("start_at_login", False))


def open_dialog(qtbot: Any, app: Any) -> Any:
    from app.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(app, app.window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def press_ok(qtbot: Any, dialog: Any, *, accepted: bool) -> None:
    if accepted:
        with qtbot.waitSignal(dialog.accepted, timeout=5_000):
            dialog.on_buttons_accepted()
    else:
        with qtbot.assertNotEmitted(dialog.accepted):
            dialog.on_buttons_accepted()


def test_turning_it_on_then_off_writes_then_removes_the_entry(
    qtbot: Any, desktop_factory: Any, branch: Branch
) -> None:
    app = desktop_factory()
    dialog = open_dialog(qtbot, app)
    assert not dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(True)
    press_ok(qtbot, dialog, accepted=True)
    assert branch.command() == branch.default()
    assert saved() and app.settings.desktop.start_at_login

    dialog = open_dialog(qtbot, app)
    assert dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(False)
    press_ok(qtbot, dialog, accepted=True)
    assert branch.command() is None
    assert not Path(branch.location()).exists()  # a registry path is never a file here
    assert branch.run_key.values == {}
    assert not saved() and not app.settings.desktop.start_at_login


def test_the_checkbox_shows_an_entry_written_outside_the_app(
    qtbot: Any, desktop_factory: Any, branch: Branch
) -> None:
    """The Windows installer's task (or an earlier install) wrote the entry."""
    app = desktop_factory(settings=desktop_settings(False))
    branch.enable()
    dialog = open_dialog(qtbot, app)
    assert dialog.start_at_login.isChecked()
    assert saved() and app.settings.desktop.start_at_login
    press_ok(qtbot, dialog, accepted=True)  # nothing changed: nothing written or removed
    assert branch.command() == branch.default()


def test_the_checkbox_shows_an_entry_removed_outside_the_app(
    qtbot: Any, desktop_factory: Any, branch: Branch
) -> None:
    app = desktop_factory(settings=desktop_settings(True))
    dialog = open_dialog(qtbot, app)
    assert not dialog.start_at_login.isChecked()
    assert not saved() and not app.settings.desktop.start_at_login


def test_an_entry_turned_off_in_task_manager_shows_off_and_on_clears_that(
    qtbot: Any, desktop_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    branch = Branch("win32", tmp_path, monkeypatch)
    app = desktop_factory(settings=desktop_settings(True))
    branch.enable()
    branch.run_key.approved[autostart.RUN_VALUE_NAME] = bytes([3]) + bytes(11)
    dialog = open_dialog(qtbot, app)
    assert not dialog.start_at_login.isChecked()
    assert not saved()
    dialog.start_at_login.setChecked(True)
    press_ok(qtbot, dialog, accepted=True)
    assert branch.command() == branch.default()
    assert branch.run_key.approved == {}
    assert saved()


def refuse(*_args: object) -> None:
    raise PermissionError(13, "Permission denied")


def make_writes_fail(branch: Branch, monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry's place refuses to be written or removed (say, a folder the user cannot
    write, or a Run key a policy protects); reading it still works."""
    if branch.platform == "win32":
        monkeypatch.setattr(branch.run_key, "set", refuse)
        monkeypatch.setattr(branch.run_key, "delete", refuse)
        return
    backend = (
        autostart._DesktopAutostart
        if branch.platform == "linux"
        else autostart._LaunchAgentAutostart
    )
    monkeypatch.setattr(backend, "write", refuse)
    monkeypatch.setattr(backend, "remove", refuse)


def assert_said_why(dialog: Any, text: str) -> None:
    banner = dialog.banner
    assert banner.isVisible() and banner.level == "error"
    assert text in banner.plain_text()
    assert dialog.nav.currentRow() == dialog.page_index["general"]
    # Its button ("Open settings") leads to the checkbox here, not to a new dialog.
    dialog.nav.setCurrentRow(0)
    [button] = banner.buttons
    button.click()
    assert dialog.nav.currentRow() == dialog.page_index["general"]


def test_an_entry_that_cannot_be_written_leaves_the_setting_off_and_says_why(
    qtbot: Any, desktop_factory: Any, branch: Branch, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = desktop_factory()
    make_writes_fail(branch, monkeypatch)
    dialog = open_dialog(qtbot, app)
    dialog.start_at_login.setChecked(True)
    press_ok(qtbot, dialog, accepted=False)
    assert not dialog.start_at_login.isChecked()
    assert not saved() and not app.settings.desktop.start_at_login
    assert branch.command() is None
    assert_said_why(dialog, "Could not turn on starting at login")
    # The rest of the dialog still saves: the next OK has nothing to do at login.
    press_ok(qtbot, dialog, accepted=True)


def test_an_entry_that_cannot_be_removed_leaves_the_setting_on_and_says_why(
    qtbot: Any, desktop_factory: Any, branch: Branch, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = desktop_factory(settings=desktop_settings(True))
    branch.enable()
    make_writes_fail(branch, monkeypatch)
    dialog = open_dialog(qtbot, app)
    assert dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(False)
    press_ok(qtbot, dialog, accepted=False)
    assert dialog.start_at_login.isChecked()
    assert saved() and app.settings.desktop.start_at_login
    assert branch.command() == branch.default()
    assert_said_why(dialog, "Could not turn off starting at login")


def test_an_entry_that_cannot_be_read_is_said_and_the_saved_value_shown(
    qtbot: Any, desktop_factory: Any
) -> None:
    app = desktop_factory(settings=desktop_settings(True))
    path = autostart_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[Desktop Entry]\nExec=\xff\xfe\n")
    dialog = open_dialog(qtbot, app)
    assert dialog.start_at_login.isChecked()
    assert saved()
    assert "Could not read the start-at-login entry" in dialog.banner.plain_text()
    # Off and on again rewrites it, as the message's hint says.
    dialog.start_at_login.setChecked(False)
    press_ok(qtbot, dialog, accepted=True)
    assert not path.exists()

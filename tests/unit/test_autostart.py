"""Starting at login: the XDG desktop entry for real, the Windows Run key with a fake key,
the macOS launch agent in a fake home. Each is read back by its own format's rules."""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from pathlib import Path

import pytest

from app import autostart
from app.errors import SettingsError
from tests.helpers import assert_mode

AWKWARD = [
    "/opt/Video Messaging/bin/video messaging",
    "--name",
    'Ann "the boss" O\'Neil',
    "100% $HOME `id` back\\slash",
    "",
    "tab\there",
    "trailing\\",
]


def autostart_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "autostart" / "video-messaging.desktop"


class FakeRunKey:
    """The Run key and Explorer's StartupApproved record, in dictionaries."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.approved: dict[str, bytes] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, command_line: str) -> None:
        self.values[name] = command_line
        self.approved.pop(name, None)

    def delete(self, name: str) -> None:
        self.values.pop(name, None)
        self.approved.pop(name, None)

    def disabled_by_user(self, name: str) -> bool:
        return bool(self.approved.get(name, b"\x02")[0] & 1)


# --------------------------------------------------------------------------- Linux


def test_linux_enable_writes_an_owner_only_desktop_entry() -> None:
    assert not autostart.is_enabled(platform="linux")
    autostart.enable(["/usr/bin/video-messaging", "--minimized"], platform="linux")
    path = autostart_file()
    assert autostart.is_enabled(platform="linux")
    assert autostart.describe(platform="linux") == str(path)
    assert_mode(path, 0o600)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert "Type=Application" in lines
    assert "Exec=/usr/bin/video-messaging --minimized" in lines
    assert "X-GNOME-Autostart-enabled=true" in lines
    assert "Name=Video Messaging" in lines


def test_linux_command_round_trips_with_spaces_quotes_and_specials() -> None:
    autostart.enable(AWKWARD, platform="linux")
    assert autostart.registered_command(platform="linux") == AWKWARD
    exec_line = next(
        line
        for line in autostart_file().read_text(encoding="utf-8").splitlines()
        if line.startswith("Exec=")
    )
    # Quoted per the Desktop Entry spec: % doubled, " ` $ \ escaped inside quotes, and the
    # string-level backslash escaping applied on top (so one \ in an argument is \\\\).
    assert exec_line.startswith('Exec="/opt/Video Messaging/bin/video messaging" --name ')
    assert "100%% \\\\$HOME \\\\`id\\\\` back\\\\\\\\slash" in exec_line
    assert "\t" not in exec_line and "\\t" in exec_line


def test_desktop_exec_quoting_agrees_with_a_posix_shell_for_plain_arguments() -> None:
    """For arguments without " $ ` \\ or % (which the format escapes its own way), the
    spec's quoting is the shell's double quoting."""
    command = ["/opt/My App/app", "--say", "it's fine", "a;b", "(x)", "a|b&c", "~"]
    assert shlex.split(autostart.desktop_exec(command)) == command


def test_glib_reads_the_entry_back_as_the_same_command() -> None:
    """GNOME starts autostart entries with GLib: its key file reader undoes the string
    escapes, its shell parser the quoting (then field codes: %% is %)."""
    glib = pytest.importorskip("gi.repository.GLib")
    command = [*AWKWARD, "new\nline", "%f", " leading space"]
    autostart.enable(command, platform="linux")
    keys = glib.KeyFile()
    keys.load_from_file(str(autostart_file()), glib.KeyFileFlags.NONE)
    assert keys.get_boolean("Desktop Entry", "X-GNOME-Autostart-enabled")
    _ok, argv = glib.shell_parse_argv(keys.get_string("Desktop Entry", "Exec"))
    assert [arg.replace("%%", "%") for arg in argv] == command
    assert autostart.registered_command(platform="linux") == command


def test_linux_entry_turned_off_by_the_desktop_counts_as_off() -> None:
    autostart.enable(["/usr/bin/video-messaging"], platform="linux")
    path = autostart_file()
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false")
    )
    assert not autostart.is_enabled(platform="linux")
    path.write_text(text + "Hidden=true\n")
    assert not autostart.is_enabled(platform="linux")
    autostart.enable(["/usr/bin/video-messaging"], platform="linux")
    assert autostart.is_enabled(platform="linux")


def test_linux_disable_removes_the_entry_and_is_idempotent() -> None:
    autostart.enable(["/usr/bin/video-messaging"], platform="linux")
    autostart.disable(platform="linux")
    assert not autostart_file().exists()
    assert not autostart.is_enabled(platform="linux")
    autostart.disable(platform="linux")


def test_linux_without_xdg_config_home_uses_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    autostart.enable(["/usr/bin/video-messaging"], platform="linux", home=tmp_path)
    assert (tmp_path / ".config" / "autostart" / "video-messaging.desktop").exists()
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # the spec: ignored
    assert autostart.describe(platform="linux", home=tmp_path) == str(
        tmp_path / ".config" / "autostart" / "video-messaging.desktop"
    )


def test_linux_a_place_that_cannot_be_written_is_a_settings_error() -> None:
    autostart_file().parent.write_text("a file where the autostart folder should be")
    with pytest.raises(SettingsError, match="could not be written") as caught:
        autostart.enable(["/usr/bin/video-messaging"], platform="linux")
    assert str(autostart_file()) in caught.value.message
    assert caught.value.details


def test_a_damaged_entry_is_a_settings_error_naming_it() -> None:
    path = autostart_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"[Desktop Entry]\nExec=\xff\xfe\n")
    with pytest.raises(SettingsError, match="Could not read the start-at-login entry"):
        autostart.is_enabled(platform="linux")


# --------------------------------------------------------------------------- Windows


def test_windows_enable_writes_the_run_value_as_one_command_line() -> None:
    key = FakeRunKey()
    command = [r"C:\Program Files\Video Messaging\video-messaging.exe", "--minimized"]
    autostart.enable(command, platform="win32", run_key=key)
    assert key.values == {
        "Video Messaging": '"C:\\Program Files\\Video Messaging\\video-messaging.exe" --minimized'
    }
    assert autostart.is_enabled(platform="win32", run_key=key)
    assert autostart.registered_command(platform="win32", run_key=key) == command
    assert autostart.describe(platform="win32", run_key=key) == (
        r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\Video Messaging"
    )


def test_windows_command_round_trips_with_spaces_and_quotes() -> None:
    key = FakeRunKey()
    command = [
        r"C:\Users\Ann O'Neil\AppData\Local\Programs\Python\pythonw.exe",
        "-m",
        "app",
        'say "hi"',
        "ends with slash\\",
        r"C:\dir with space\\",
        "",
        "100% $x",
    ]
    autostart.enable(command, platform="win32", run_key=key)
    assert autostart.registered_command(platform="win32", run_key=key) == command


@pytest.mark.parametrize(
    ("line", "args"),
    [
        # Microsoft's examples for parsing C command-line arguments.
        ('"a b c" d e', ["a b c", "d", "e"]),
        ('prog "ab\\"c" "\\\\" d', ["prog", 'ab"c', "\\", "d"]),
        ('prog a\\\\\\b d"e f"g h', ["prog", "a\\\\\\b", "de fg", "h"]),
        ('prog a\\\\\\"b c d', ["prog", 'a\\"b', "c", "d"]),
        ('prog a\\\\\\\\"b c" d e', ["prog", "a\\\\b c", "d", "e"]),
        ('"C:\\Program Files\\x.exe"', ["C:\\Program Files\\x.exe"]),
        ("  ", []),
    ],
)
def test_windows_command_lines_parse_as_the_c_runtime_does(line: str, args: list[str]) -> None:
    assert autostart.parse_windows_command_line(line) == args


def test_windows_entry_turned_off_in_task_manager_counts_as_off_until_enabled() -> None:
    key = FakeRunKey()
    autostart.enable(["C:\\app.exe"], platform="win32", run_key=key)
    key.approved["Video Messaging"] = bytes([3]) + bytes(11)
    assert not autostart.is_enabled(platform="win32", run_key=key)
    autostart.enable(["C:\\app.exe"], platform="win32", run_key=key)
    assert autostart.is_enabled(platform="win32", run_key=key)
    autostart.disable(platform="win32", run_key=key)
    assert key.values == {} and key.approved == {}
    assert not autostart.is_enabled(platform="win32", run_key=key)


def test_windows_a_refused_write_is_a_settings_error() -> None:
    class ReadOnlyKey(FakeRunKey):
        def set(self, name: str, command_line: str) -> None:
            raise PermissionError(5, "Access is denied")

    with pytest.raises(SettingsError, match=r"HKEY_CURRENT_USER\\.*\\Run"):
        autostart.enable(["C:\\app.exe"], platform="win32", run_key=ReadOnlyKey())


# --------------------------------------------------------------------------- macOS


def test_macos_enable_writes_a_launch_agent_that_runs_at_load(tmp_path: Path) -> None:
    autostart.enable(AWKWARD, platform="darwin", home=tmp_path)
    path = tmp_path / "Library" / "LaunchAgents" / f"{autostart.LAUNCH_AGENT_LABEL}.plist"
    assert autostart.describe(platform="darwin", home=tmp_path) == str(path)
    assert_mode(path, 0o600)
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == autostart.LAUNCH_AGENT_LABEL
    assert agent["ProgramArguments"] == AWKWARD
    assert agent["RunAtLoad"] is True
    assert autostart.registered_command(platform="darwin", home=tmp_path) == AWKWARD
    assert autostart.is_enabled(platform="darwin", home=tmp_path)


def test_macos_disabled_agent_counts_as_off_and_disable_removes_it(tmp_path: Path) -> None:
    autostart.enable(
        ["/Applications/Video Messaging.app/Contents/MacOS/app"], platform="darwin", home=tmp_path
    )
    path = Path(autostart.describe(platform="darwin", home=tmp_path))
    agent = plistlib.loads(path.read_bytes())
    path.write_bytes(plistlib.dumps({**agent, "Disabled": True}))
    assert not autostart.is_enabled(platform="darwin", home=tmp_path)
    autostart.disable(platform="darwin", home=tmp_path)
    assert not path.exists()
    autostart.disable(platform="darwin", home=tmp_path)


# --------------------------------------------------------------------------- defaults


def test_default_command_runs_the_desktop_app_minimized() -> None:
    assert autostart.default_command(platform="linux") == [
        sys.executable,
        "-m",
        "app",
        "gui",
        "--minimized",
    ]


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_default_command_of_a_frozen_build_starts_the_executable_in_the_tray(
    platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frozen executable's own arguments are app/ui/entry.py's: --minimized."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    command = autostart.default_command(platform=platform)
    assert command == [sys.executable, "--minimized"]
    from app.ui import entry

    started: dict[str, object] = {}

    def run(**kwargs: object) -> int:
        started.update(kwargs)
        return 0

    monkeypatch.setattr(entry, "run", run)
    monkeypatch.setattr("app.logsetup.setup", lambda **_kwargs: None)
    monkeypatch.setattr("app.crash.install", lambda **_kwargs: None)
    assert entry.main(command[1:]) == 0
    assert started["minimized"] is True
    assert started["quick_record"] is False


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_turning_the_default_entry_on_then_off_removes_it(platform: str, tmp_path: Path) -> None:
    key = FakeRunKey()
    autostart.enable(platform=platform, home=tmp_path, run_key=key)
    assert autostart.registered_command(
        platform=platform, home=tmp_path, run_key=key
    ) == autostart.default_command(platform=platform)
    autostart.disable(platform=platform, home=tmp_path, run_key=key)
    assert not autostart.is_enabled(platform=platform, home=tmp_path, run_key=key)
    assert key.values == {}
    assert not autostart_file().exists()
    assert not any((tmp_path / "Library").rglob("*.plist"))


def test_enable_without_a_command_registers_the_default() -> None:
    autostart.enable(platform="linux")
    assert autostart.registered_command(platform="linux") == autostart.default_command(
        platform="linux"
    )


def test_an_unsupported_system_says_so() -> None:
    assert not autostart.is_enabled(platform="haiku1")
    autostart.disable(platform="haiku1")
    assert "not supported" in autostart.describe(platform="haiku1")
    with pytest.raises(SettingsError, match="not supported on this system"):
        autostart.enable(["x"], platform="haiku1")

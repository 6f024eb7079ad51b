"""Global shortcuts without an X server: parsing, each OS's key codes, and the sessions
where no shortcut can be registered (the X11 backend itself is in tests/integration/ui)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.ui import hotkey
from app.ui.hotkey import Chord, GlobalHotkey, HotkeyError, parse_sequence

MOD = Qt.KeyboardModifier


def test_a_sequence_parses_to_modifiers_and_key() -> None:
    chord = parse_sequence("ctrl+alt+r")
    assert chord == Chord(MOD.ControlModifier | MOD.AltModifier, Qt.Key.Key_R)
    assert chord.portable == "Ctrl+Alt+R"
    assert parse_sequence(" Ctrl+Alt+R ") == chord


def test_a_function_key_needs_no_modifier() -> None:
    assert parse_sequence("F9") == Chord(MOD.NoModifier, Qt.Key.Key_F9)


@pytest.mark.parametrize(
    ("sequence", "says"),
    [
        ("", "not a key combination"),
        ("Ctrl+Banana", "not a key combination"),
        ("Ctrl+Alt", "no key besides the modifiers"),
        ("Ctrl+K, Ctrl+R", "several key presses"),
        ("R", "needs Ctrl or Alt"),
        ("Shift+R", "needs Ctrl or Alt"),
        ("Ctrl+Num+5", "numeric keypad"),
    ],
)
def test_what_cannot_be_a_global_shortcut_says_why(sequence: str, says: str) -> None:
    with pytest.raises(HotkeyError, match=says):
        parse_sequence(sequence)


# Each row: the sequence, then Windows (MOD_*, VK), macOS (Carbon flags, kVK), X11
# (mask, keysym). Qt's Ctrl is Command on macOS and its Meta is Control there.
ROWS = [
    (
        "Ctrl+Alt+R",
        (hotkey.MOD_CONTROL | hotkey.MOD_ALT, 0x52),
        (hotkey.CMD_KEY | hotkey.OPTION_KEY, 0x0F),
        (hotkey.CONTROL_MASK | hotkey.MOD1_MASK, ord("r")),
    ),
    (
        "Meta+Shift+F5",
        (hotkey.MOD_WIN | hotkey.MOD_SHIFT, 0x74),
        (hotkey.CONTROL_KEY | hotkey.SHIFT_KEY, 0x60),
        (hotkey.MOD4_MASK | hotkey.SHIFT_MASK, 0xFFC2),
    ),
    (
        "Ctrl+Alt+0",
        (hotkey.MOD_CONTROL | hotkey.MOD_ALT, 0x30),
        (hotkey.CMD_KEY | hotkey.OPTION_KEY, 0x1D),
        (hotkey.CONTROL_MASK | hotkey.MOD1_MASK, ord("0")),
    ),
    (
        "Alt+Space",
        (hotkey.MOD_ALT, 0x20),
        (hotkey.OPTION_KEY, 0x31),
        (hotkey.MOD1_MASK, 0x20),
    ),
    (
        "Ctrl+Shift+PgDown",
        (hotkey.MOD_CONTROL | hotkey.MOD_SHIFT, 0x22),
        (hotkey.CMD_KEY | hotkey.SHIFT_KEY, 0x79),
        (hotkey.CONTROL_MASK | hotkey.SHIFT_MASK, 0xFF56),
    ),
    (
        "Ctrl+Alt+Left",
        (hotkey.MOD_CONTROL | hotkey.MOD_ALT, 0x25),
        (hotkey.CMD_KEY | hotkey.OPTION_KEY, 0x7B),
        (hotkey.CONTROL_MASK | hotkey.MOD1_MASK, 0xFF51),
    ),
    (
        "Ctrl+Alt+Del",
        (hotkey.MOD_CONTROL | hotkey.MOD_ALT, 0x2E),
        (hotkey.CMD_KEY | hotkey.OPTION_KEY, 0x75),
        (hotkey.CONTROL_MASK | hotkey.MOD1_MASK, 0xFFFF),
    ),
    ("F12", (0, 0x7B), (0, 0x6F), (0, 0xFFC9)),
    ("F1", (0, 0x70), (0, 0x7A), (0, 0xFFBE)),
]


@pytest.mark.parametrize(("sequence", "windows", "macos", "x11"), ROWS)
def test_each_os_gets_its_own_codes(
    sequence: str, windows: tuple[int, int], macos: tuple[int, int], x11: tuple[int, int]
) -> None:
    chord = parse_sequence(sequence)
    assert hotkey.windows_hotkey(chord) == windows
    assert hotkey.macos_hotkey(chord) == macos
    assert hotkey.x11_hotkey(chord) == x11


def test_every_letter_and_digit_has_a_code_on_every_os() -> None:
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        chord = parse_sequence(f"Ctrl+Alt+{char}")
        assert hotkey.windows_hotkey(chord)[1] == ord(char)
        assert hotkey.x11_hotkey(chord)[1] == ord(char.lower())
        hotkey.macos_hotkey(chord)  # raises if missing
    mac_codes = {hotkey.macos_hotkey(parse_sequence(f"Ctrl+{c}"))[1] for c in "ABCDEFGHIJKLM"}
    assert len(mac_codes) == 13  # distinct positions, not a default


@pytest.mark.parametrize(
    ("sequence", "mapping", "system"),
    [
        ("Ctrl+Alt+Ins", hotkey.macos_hotkey, "macOS"),  # Macs have no Insert key
        ("Ctrl+F21", hotkey.macos_hotkey, "macOS"),  # nor F21
        ("Ctrl+F30", hotkey.windows_hotkey, "Windows"),
        ("Ctrl+Alt+=", hotkey.x11_hotkey, "X11"),
    ],
)
def test_a_key_an_os_cannot_use_is_refused_with_a_reason(
    sequence: str, mapping: object, system: str
) -> None:
    assert callable(mapping)
    with pytest.raises(HotkeyError, match=f"cannot be a global shortcut on {system}"):
        mapping(parse_sequence(sequence))


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, "no display here (DISPLAY is not set)"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "Wayland does not let apps"),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "Wayland does not let apps"),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, "Wayland does not let apps"),
    ],
)
def test_without_x11_the_shortcut_is_unavailable_and_says_what_to_do(
    qtbot: QtBot, environ: dict[str, str], says: str
) -> None:
    shortcut = GlobalHotkey(platform="linux", environ=environ)
    assert not shortcut.available
    assert says in shortcut.reason
    assert f"Bind a system shortcut to: {hotkey.QUICK_RECORD_COMMAND}" in shortcut.reason
    assert not shortcut.register("Ctrl+Alt+R")
    assert says in shortcut.reason
    assert shortcut.sequence == ""
    shortcut.unregister()
    shortcut.close()
    shortcut.close()


@pytest.mark.parametrize(
    "platform",
    [
        pytest.param(p, marks=pytest.mark.skipif(
            sys.platform == p, reason="its library loads here: the backend is real"
        ))
        for p in ("win32", "darwin")
    ],
)  # fmt: skip
def test_other_os_backends_fail_softly_where_their_libraries_are_missing(
    qtbot: QtBot, platform: str
) -> None:
    """Their code imports everywhere; on Linux loading user32 or Carbon fails, and that is
    a reason, never an exception."""
    shortcut = GlobalHotkey(platform=platform, environ={})
    assert not shortcut.available
    assert "system library could not be loaded" in shortcut.reason


def test_an_unknown_system_is_unavailable(qtbot: QtBot) -> None:
    shortcut = GlobalHotkey(platform="haiku1", environ={"DISPLAY": ":0"})
    assert not shortcut.available
    assert "not supported on this system" in shortcut.reason

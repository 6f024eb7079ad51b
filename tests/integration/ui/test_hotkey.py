"""The X11 global shortcut on a real (virtual) X server, with the keys pressed by xdotool.

Each module run starts its own Xvfb on a free display (``-displayfd``) and points
``DISPLAY`` at it for each test only. Qt itself stays offscreen: the X11 backend opens its
own Xlib connection and needs nothing but ``DISPLAY``. Every wait is on a signal or on a
result the X server gave; none sleeps.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.ui.hotkey import GlobalHotkey

pytestmark = pytest.mark.needs_display

WAIT_MS = 5000


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    """A private Xvfb for this module, on a display number it picks itself (free)."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed "
            "(sudo apt-get install xvfb xdotool): the X11 shortcut tests need them"
        )
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    try:
        # Xvfb writes the display number once it accepts connections.
        ready, _, _ = select.select([server.stdout], [], [], 20)
        number = server.stdout.readline().strip() if ready else b""
        if not number:
            pytest.fail("Xvfb did not start within 20 s")
        yield f":{number.decode()}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


@pytest.fixture
def on_x_display(x_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test runs on the private Xvfb (and in no Wayland session)."""
    monkeypatch.setenv("DISPLAY", x_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    return x_display


@pytest.fixture
def make_hotkey(on_x_display: str) -> Iterator[Callable[[], GlobalHotkey]]:
    """New GlobalHotkeys, each on its own X connection; all closed before Xvfb stops."""
    made: list[GlobalHotkey] = []

    def make() -> GlobalHotkey:
        hotkey = GlobalHotkey()
        assert hotkey.available, hotkey.reason
        made.append(hotkey)
        return hotkey

    yield make
    for hotkey in made:
        hotkey.close()


@pytest.fixture
def press(on_x_display: str) -> Callable[..., None]:
    """``press("ctrl+alt+r", ...)``: xdotool types the keys and returns once the X server
    has processed them."""

    def run(*keys: str) -> None:
        subprocess.run(
            ["xdotool", "key", *keys],
            env={**os.environ, "DISPLAY": on_x_display},
            check=True,
            timeout=20,
            capture_output=True,
        )

    return run


def counter(hotkey: GlobalHotkey) -> list[int]:
    """The thread each ``activated`` arrived on, one entry per activation."""
    seen: list[int] = []
    hotkey.activated.connect(lambda: seen.append(threading.get_ident()))
    return seen


def test_the_shortcut_emits_activated_on_the_gui_thread(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None]
) -> None:
    hotkey = make_hotkey()
    assert hotkey.register("Ctrl+Alt+R"), hotkey.reason
    assert (hotkey.sequence, hotkey.reason) == ("Ctrl+Alt+R", "")
    seen = counter(hotkey)
    with qtbot.waitSignal(hotkey.activated, timeout=WAIT_MS):
        press("ctrl+alt+r")
    assert seen == [threading.get_ident()]


def test_a_combination_another_client_holds_is_reported_taken(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None]
) -> None:
    first, second = make_hotkey(), make_hotkey()
    assert first.register("Ctrl+Alt+R"), first.reason
    assert not second.register("Ctrl+Alt+R")
    assert "already taken by another application" in second.reason
    assert second.sequence == ""
    # The holder is not disturbed by the failed attempt.
    with qtbot.waitSignal(first.activated, timeout=WAIT_MS):
        press("ctrl+alt+r")


def test_a_taken_combination_leaves_the_previous_one_active(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None]
) -> None:
    holder, hotkey = make_hotkey(), make_hotkey()
    assert holder.register("Ctrl+Alt+R"), holder.reason
    assert hotkey.register("Ctrl+Alt+T"), hotkey.reason
    assert not hotkey.register("Ctrl+Alt+R")
    assert "taken" in hotkey.reason
    assert hotkey.sequence == "Ctrl+Alt+T"
    with qtbot.waitSignal(hotkey.activated, timeout=WAIT_MS):
        press("ctrl+alt+t")


def test_after_unregister_the_old_combination_no_longer_fires(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None]
) -> None:
    """The old combination is pressed first, then the new one on the same connection:
    events arrive in order, so once the new one has fired the old one would have too."""
    hotkey = make_hotkey()
    assert hotkey.register("Ctrl+Alt+R"), hotkey.reason
    hotkey.unregister()
    assert hotkey.sequence == ""
    assert hotkey.register("Ctrl+Alt+T"), hotkey.reason
    seen = counter(hotkey)
    with qtbot.waitSignal(hotkey.activated, timeout=WAIT_MS):
        press("ctrl+alt+r", "ctrl+alt+t")
    assert len(seen) == 1


def test_unregister_and_close_give_the_combination_back_to_the_x_server(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None]
) -> None:
    """Another client can grab the combination afterwards: the X server has no grab left."""
    first, second, third = make_hotkey(), make_hotkey(), make_hotkey()
    assert first.register("Ctrl+Alt+R"), first.reason
    first.unregister()
    assert second.register("Ctrl+Alt+R"), second.reason
    second.close()
    assert not second.available
    assert third.register("Ctrl+Alt+R"), third.reason
    with qtbot.waitSignal(third.activated, timeout=WAIT_MS):
        press("ctrl+alt+r")


@pytest.mark.parametrize("lock", ["Num_Lock", "Caps_Lock"])
def test_the_shortcut_works_with_num_lock_or_caps_lock_on(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None], lock: str
) -> None:
    hotkey = make_hotkey()
    assert hotkey.register("Ctrl+Alt+R"), hotkey.reason
    press(lock)
    try:
        with qtbot.waitSignal(hotkey.activated, timeout=WAIT_MS):
            press("ctrl+alt+r")
    finally:
        press(lock)  # the server is shared by the module's tests: turn it off again


def test_function_key_and_shift_combinations(
    qtbot: QtBot, make_hotkey: Callable[[], GlobalHotkey], press: Callable[..., None]
) -> None:
    hotkey = make_hotkey()
    assert hotkey.register("Ctrl+Shift+F9"), hotkey.reason
    with qtbot.waitSignal(hotkey.activated, timeout=WAIT_MS):
        press("ctrl+shift+F9")


def test_a_display_that_does_not_answer_is_unavailable(
    on_x_display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", ":4095")
    hotkey = GlobalHotkey()
    assert not hotkey.available
    assert "Could not connect to the X display :4095" in hotkey.reason
    assert not hotkey.register("Ctrl+Alt+R")

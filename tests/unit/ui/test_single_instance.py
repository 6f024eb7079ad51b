"""One app per user: a second launch hands its command line over; a crashed app's
socket is reused."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path
from typing import Any

from app.ui.single_instance import SingleInstance, send_to_running, server_name
from tests.helpers import short_dir, socket_file


def _name(tmp_path: Path, file: str = "vmsg.sock") -> str:
    """A server name private to the test: a socket file in a short folder (Unix), or a
    pipe name of its own (Windows pipe names may not contain a backslash)."""
    if sys.platform == "win32":
        return f"vmsg-test-{uuid.uuid4().hex[:12]}"
    return str(short_dir(tmp_path) / file)


def test_a_second_launch_hands_its_arguments_to_the_first(qtbot: Any, tmp_path: Path) -> None:
    name = _name(tmp_path)
    first = SingleInstance(name)
    assert first.listen()
    with qtbot.waitSignal(first.message, timeout=5000) as got:
        assert send_to_running(["--quick-record"], name)
    assert got.args == [["--quick-record"]]
    first.close()


def test_nobody_listening_means_this_launch_is_the_first(qapp: Any, tmp_path: Path) -> None:
    assert not send_to_running([], _name(tmp_path, "nobody.sock"))


@socket_file
def test_a_socket_left_by_a_crashed_app_is_removed_and_reused(qtbot: Any, tmp_path: Path) -> None:
    name = _name(tmp_path)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(name)  # a socket file nobody accepts on: what a killed app leaves
    stale.close()
    assert Path(name).exists()
    app = SingleInstance(name)
    assert app.listen()
    assert app.stale_removed
    with qtbot.waitSignal(app.message, timeout=5000):
        assert send_to_running([], name)
    app.close()


def test_a_live_instance_is_never_taken_over(qapp: Any, tmp_path: Path) -> None:
    name = _name(tmp_path)
    first = SingleInstance(name)
    assert first.listen()
    second = SingleInstance(name)
    assert not second.listen()
    assert not second.stale_removed
    first.close()


def test_malformed_messages_are_ignored(qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtNetwork import QLocalSocket

    name = _name(tmp_path)
    app = SingleInstance(name)
    assert app.listen()
    seen: list[list[str]] = []
    app.message.connect(seen.append)
    client = QLocalSocket()
    client.connectToServer(name)
    assert client.waitForConnected(2000)
    client.write(b'not json\n{"argv": "not a list"}\n')
    client.flush()
    client.waitForBytesWritten(2000)
    with qtbot.waitSignal(app.message, timeout=5000) as got:
        assert send_to_running(["--quick-record"], name)
    assert got.args == [["--quick-record"]] and seen == [["--quick-record"]]
    client.disconnectFromServer()
    app.close()


def test_the_name_is_per_user() -> None:
    assert server_name("ann") != server_name("bob")
    assert server_name("a/b c") == server_name("a_b_c")

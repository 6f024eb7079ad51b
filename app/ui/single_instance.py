"""One running app per user: a second launch hands its arguments to the first and exits.

The first instance listens on a local socket (a named pipe on Windows, a Unix socket
elsewhere) named after the app and the user. A later launch connects, sends its command
line (``{"argv": [...]}`` as one JSON line) and exits, and the running app acts on it:
focus its window, or start a quick recording (``vmsg gui --quick-record``, which an OS
keyboard shortcut can run). A socket left behind by a crashed instance accepts no
connection: it is removed and the new instance listens in its place.
"""

from __future__ import annotations

import getpass
import json
import logging
import re
import socket as socket_mod
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDir, QObject, Signal

from app import APP_ID

if TYPE_CHECKING:  # QtNetwork loads after the window's first paint (listening can wait)
    from PySide6.QtNetwork import QLocalSocket

log = logging.getLogger(__name__)

CONNECT_MS = 500


def server_name(user: str | None = None) -> str:
    """The socket's name: the app and the user (never shared between accounts)."""
    try:
        user = user or getpass.getuser()
    except (OSError, KeyError):
        user = "user"
    return f"{APP_ID}-{re.sub(r'[^A-Za-z0-9_.-]', '_', user)}"


def socket_path(name: str) -> Path | None:
    """The file a local server of ``name`` is on (None on Windows: named pipes are no files)."""
    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform == "win32":
        return None
    path = Path(name)
    return path if path.is_absolute() else Path(QDir.tempPath()) / name


def send_to_running(argv: list[str], name: str | None = None) -> bool:
    """Hand ``argv`` to a running instance; False when none answers.

    On Unix this is a plain socket (the launch must not wait for Qt's network module
    before it knows whether to open a window); on Windows, Qt's named-pipe client."""
    name = name or server_name()
    line = (json.dumps({"argv": argv}) + "\n").encode("utf-8")
    path = socket_path(name)
    if path is None:
        from PySide6.QtNetwork import QLocalSocket  # noqa: PLC0415

        pipe = QLocalSocket()
        pipe.connectToServer(name)
        if not pipe.waitForConnected(CONNECT_MS):
            return False
        pipe.write(line)
        pipe.flush()
        pipe.waitForBytesWritten(CONNECT_MS)
        pipe.disconnectFromServer()
        return True
    family: int = getattr(socket_mod, "AF_UNIX", -1)  # absent on Windows (path is None there)
    with socket_mod.socket(family, socket_mod.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_MS / 1000)
        try:
            sock.connect(str(path))
            sock.sendall(line)
        except OSError:  # no file, or a file nobody listens on (left by a crash)
            return False
    return True


class SingleInstance(QObject):
    """The running instance's listener; ``message(argv)`` for each later launch."""

    message = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        from PySide6.QtNetwork import QLocalServer  # noqa: PLC0415

        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self.on_server_new_connection)
        self.stale_removed = False
        self._clients: set[QLocalSocket] = set()

    def listen(self) -> bool:
        """Start listening; False when a live instance already does.

        A live instance is asked first: on Unix, listening with socket options binds in a
        private folder and renames the socket over the name, so a second app would take
        the name from a running one instead of failing. A socket file nobody answers on
        (left by a crash) is removed first.
        """
        from PySide6.QtNetwork import QLocalServer, QLocalSocket  # noqa: PLC0415

        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(CONNECT_MS):
            probe.abort()
            return False
        path = socket_path(self.name)
        if path is not None and path.exists():
            QLocalServer.removeServer(self.name)
            self.stale_removed = True
        if self.server.listen(self.name):
            return True
        log.warning(
            "single instance: cannot listen on %s: %s", self.name, self.server.errorString()
        )
        return False

    def on_server_new_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._clients.add(socket)
            socket.readyRead.connect(self.on_client_ready_read)
            socket.disconnected.connect(self.on_client_disconnected)
            if socket.bytesAvailable():
                self._read(socket)

    def on_client_ready_read(self) -> None:
        socket = self.sender()
        if socket in self._clients:
            self._read(socket)

    def on_client_disconnected(self) -> None:
        socket = self.sender()
        if socket in self._clients:
            self._read(socket)  # what arrived with the goodbye
            self._forget(socket)

    def _forget(self, socket: QLocalSocket) -> None:
        if socket in self._clients:
            self._clients.discard(socket)
            socket.readyRead.disconnect(self.on_client_ready_read)
            socket.disconnected.disconnect(self.on_client_disconnected)
            socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data()).decode("utf-8", "replace").strip()
            try:
                argv = json.loads(line).get("argv", [])
            except (ValueError, AttributeError):
                log.info("single instance: ignored a malformed message")
                continue
            if isinstance(argv, list):
                self.message.emit([str(a) for a in argv])

    def close(self) -> None:
        """Stop listening and let go of every client (quit; idempotent)."""
        for socket in list(self._clients):
            socket.abort()
            self._forget(socket)
        self.server.close()

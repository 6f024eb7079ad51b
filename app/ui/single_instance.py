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

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

from app import APP_ID

log = logging.getLogger(__name__)

CONNECT_MS = 500


def server_name(user: str | None = None) -> str:
    """The socket's name: the app and the user (never shared between accounts)."""
    try:
        user = user or getpass.getuser()
    except (OSError, KeyError):
        user = "user"
    return f"{APP_ID}-{re.sub(r'[^A-Za-z0-9_.-]', '_', user)}"


def send_to_running(argv: list[str], name: str | None = None) -> bool:
    """Hand ``argv`` to a running instance; False when none answers."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(CONNECT_MS):
        return False
    socket.write((json.dumps({"argv": argv}) + "\n").encode("utf-8"))
    socket.flush()
    socket.waitForBytesWritten(CONNECT_MS)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """The running instance's listener; ``message(argv)`` for each later launch."""

    message = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self.on_server_new_connection)
        self.stale_removed = False

    def listen(self) -> bool:
        """Start listening; a socket left by a crashed instance is removed first."""
        if self.server.listen(self.name):
            return True
        if self.server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
            probe = QLocalSocket()
            probe.connectToServer(self.name)
            if probe.waitForConnected(CONNECT_MS):
                probe.disconnectFromServer()
                return False  # a live instance owns it
            QLocalServer.removeServer(self.name)
            self.stale_removed = True
            return bool(self.server.listen(self.name))
        log.warning(
            "single instance: cannot listen on %s: %s", self.name, self.server.errorString()
        )
        return False

    def on_server_new_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

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
        self.server.close()

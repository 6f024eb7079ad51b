"""The built-in sandbox as the app uses it: found running, or started here and stopped again.

The Sandbox profile talks to the sandbox named by ``sandbox.json`` in its data folder
(``$VMSG_SANDBOX_DIR`` or the user data dir): one started by ``vmsg sandbox`` in another
terminal, or by another process of the app. When none answers, :class:`SandboxHost` starts
the three servers in this process and :meth:`SandboxHost.stop` stops them (and removes the
manifest). Finding or starting happens only when asked, never as a side effect of reading
settings; the process that started a sandbox is the one that stops it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from app.errors import SandboxError
from app.sandbox import locate, runner

log = logging.getLogger(__name__)


class SandboxHost:
    """The sandbox of one data folder, for one owner (a :class:`~app.workflow.Services`)."""

    def __init__(self, *, start: bool = True, directory_size: int = 3000) -> None:
        self.start_allowed = start
        self.directory_size = directory_size
        self._lock = threading.Lock()
        self._started: runner.Sandbox | None = None

    @property
    def started_here(self) -> runner.Sandbox | None:
        """The sandbox this host started, if it started one (tests reach its servers)."""
        return self._started

    def manifest(self, data_dir: Path) -> dict[str, Any]:
        """The manifest of a sandbox running for ``data_dir``: found, or started here."""
        with self._lock:
            if self._started is not None and not self._started.stopped:
                return self._started.manifest
            found = locate.live_manifest(data_dir)
            if found is not None:
                return found
            if not self.start_allowed:
                raise SandboxError(
                    f"No sandbox is running for {data_dir}.",
                    hint="Start the sandbox first.",
                )
            log.info("starting the built-in sandbox in %s", data_dir)
            self._started = runner.start_all(data_dir, directory_size=self.directory_size)
            return self._started.manifest

    def stop(self) -> None:
        """Stop the sandbox this host started (a sandbox found running is left alone)."""
        with self._lock:
            started, self._started = self._started, None
        if started is not None:
            started.stop()


def start(data_dir: Path, **options: Any) -> runner.Sandbox:
    """Start a sandbox in the foreground (``vmsg sandbox``, the demo): the caller stops it."""
    return runner.start_all(data_dir, **options)

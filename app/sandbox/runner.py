"""Starting the whole sandbox (Kaltura, identity, Graph) and publishing it in ``sandbox.json``.

``start_all(data_dir)`` runs the three servers in this process on 127.0.0.1 and writes
``data_dir/sandbox.json`` (endpoints, partner id, admin secret, app token, CA file,
client id, tenant, seeded senders) so other processes find it (``app.sandbox.locate``).
Everything the servers store lives under ``data_dir``, so stopping and starting again on
the same directory keeps entries, uploads and mailboxes. ``vmsg sandbox`` runs this in
the foreground until SIGINT/SIGTERM; the app's workflow (``app.workflow.sandbox``) and
the test fixtures run it in-process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import system
from app.errors import SandboxError
from app.sandbox.locate import SANDBOX_JSON

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


@dataclass
class Sandbox:
    """The running sandbox: its services, servers and manifest."""

    data_dir: Path
    kaltura: Any  # app.sandbox.kaltura.KalturaSandbox
    kaltura_server: Any  # app.sandbox.httpd.RunningServer
    microsoft: Any  # app.sandbox.microsoft.MicrosoftSandbox
    manifest: dict[str, Any] = field(default_factory=dict)
    _stopped: bool = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / SANDBOX_JSON

    def stop(self) -> None:
        """Stop all servers; ``sandbox.json`` is removed so nobody tries to use them."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(OSError):
            current = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if current.get("pid") == os.getpid() and current.get("started_at") == self.manifest.get(
                "started_at"
            ):
                self.manifest_path.unlink()
        for stop in (self.kaltura_server.stop, self.microsoft.stop, self.kaltura.close):
            try:
                stop()
            except Exception:  # stopping must finish even if one server misbehaves
                log.exception("sandbox: error while stopping")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    # It holds the admin secret and the app token: the owner's only.
    system.write_private(path, json.dumps(manifest, indent=2).encode("utf-8"))


def start_all(
    data_dir: Path,
    *,
    kaltura_port: int = 0,
    identity_port: int = 0,
    graph_port: int = 0,
    directory_size: int = 3000,
    seed: int = 1,
    conversion_seconds: float = 1.0,
    write_manifest: bool = True,
) -> Sandbox:
    """Start the three servers on loopback and (by default) publish ``sandbox.json``."""
    from app.sandbox.httpd import ADMIN_HEADER  # noqa: PLC0415 - werkzeug: heavy
    from app.sandbox.kaltura import start_kaltura  # noqa: PLC0415 - heavy, optional at import
    from app.sandbox.microsoft import start_microsoft  # noqa: PLC0415

    data_dir = Path(data_dir)
    try:
        system.private_dir(data_dir)
    except OSError as exc:
        raise SandboxError(
            f"Cannot create the sandbox data folder {data_dir}: {exc.strerror}.",
            hint="Choose another folder for the sandbox's data (VMSG_SANDBOX_DIR).",
        ) from exc
    try:
        kaltura, kaltura_server = start_kaltura(
            data_dir, port=kaltura_port, conversion_seconds=conversion_seconds
        )
    except OSError as exc:
        raise SandboxError(
            f"The sandbox's Kaltura server could not start on port {kaltura_port}: {exc}.",
            hint="Pick another port, or 0 for any free one.",
        ) from exc
    try:
        microsoft = start_microsoft(
            data_dir,
            identity_port=identity_port,
            graph_port=graph_port,
            directory_size=directory_size,
            seed=seed,
        )
    except OSError as exc:
        kaltura_server.stop()
        kaltura.close()
        raise SandboxError(f"The sandbox's Microsoft servers could not start: {exc}.") from exc
    # One admin token for the three servers, published only in the owner-only manifest.
    admin_token = secrets.token_urlsafe(24)
    for running in (kaltura_server, microsoft.identity_server, microsoft.graph_server):
        running.faults.admin_token = admin_token
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "admin": {"header": ADMIN_HEADER, "token": admin_token},
        "pid": os.getpid(),
        "started_at": time.time(),
        "data_dir": str(data_dir),
        "kaltura": kaltura.manifest(),
        **microsoft.manifest(),
        "ca_file": str(microsoft.ca_file),
        "senders": list(microsoft.senders),
    }
    sandbox = Sandbox(
        data_dir=data_dir,
        kaltura=kaltura,
        kaltura_server=kaltura_server,
        microsoft=microsoft,
        manifest=manifest,
    )
    if write_manifest:
        _write_manifest(sandbox.manifest_path, manifest)
    log.info(
        "sandbox running: %s", {k: v.get("url") for k, v in manifest.items() if isinstance(v, dict)}
    )
    return sandbox

"""Finding a running sandbox through its ``sandbox.json``.

``vmsg sandbox --data-dir DIR`` writes ``DIR/sandbox.json`` naming its endpoints; the
Sandbox profile of any other ``vmsg`` process with ``VMSG_SANDBOX_DIR=DIR`` uses that
sandbox when its endpoints answer, and otherwise starts the servers in-process.

``sandbox.json`` (version 1)::

    {"version": 1, "pid": 4242,
     "kaltura": {"url": "http://127.0.0.1:PORT", "partner_id": 100, "admin_secret": "...",
                 "app_token": {"id": "...", "token": "...", "hash_type": "SHA256"},
                 "uiconf_id": 23450001},
     "identity": {"url": "https://127.0.0.1:PORT", "tenant": "...",
                  "authority": "https://127.0.0.1:PORT/<tenant>", "client_id": "..."},
     "graph": {"url": "https://127.0.0.1:PORT/v1.0"},
     "ca_file": "DIR/ca.pem",
     "senders": [{"email": "...", "name": "..."}]}
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SANDBOX_JSON = "sandbox.json"


def read_manifest(data_dir: Path) -> dict[str, Any] | None:
    """The parsed ``sandbox.json`` of ``data_dir``, or None if absent or unreadable."""
    try:
        data = json.loads((data_dir / SANDBOX_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def endpoint_urls(manifest: dict[str, Any]) -> dict[str, str]:
    """``{"kaltura": url, "identity": url, "graph": url}`` for what the manifest names."""
    out = {}
    for name in ("kaltura", "identity", "graph"):
        section = manifest.get(name)
        if isinstance(section, dict) and isinstance(section.get("url"), str):
            out[name] = section["url"]
    return out


def _answers(url: str, timeout: float) -> bool:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port is None:
        return False  # the sandbox listens on loopback only; anything else is not ours
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def live_manifest(data_dir: Path, timeout: float = 0.5) -> dict[str, Any] | None:
    """The manifest of a sandbox that is running for ``data_dir`` now, else None."""
    manifest = read_manifest(data_dir)
    if manifest is None:
        return None
    urls = endpoint_urls(manifest)
    if len(urls) < 3 or not all(_answers(u, timeout) for u in urls.values()):
        return None
    return manifest

"""Persistence for the Kaltura sandbox: one JSON file per object under
``data_dir/kaltura/<kind>/<id>.json``, written atomically (temp file + ``os.replace``),
kept in memory for reads. A new :class:`Store` on the same directory sees everything
an earlier one wrote, so a restarted sandbox keeps its entries, tokens and uploads.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app import system

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def safe_id(value: str) -> bool:
    """Object ids become file names: allow only what the sandbox itself issues."""
    return bool(_SAFE_ID.match(value))


def atomic_write(path: Path, data: bytes) -> None:
    # Not synced to the disk (the sandbox is a test bed and writes often); moved into
    # place with the retries Windows needs while a reader has the old file open.
    system.write_private(path, data, durable=False)


def _set_aside(path: Path, what: str) -> None:
    """A damaged file of the sandbox's is kept next to it (once per version) and skipped."""
    try:
        kept = system.keep_damaged(path, move=True)
    except OSError as exc:
        log.warning("sandbox %s %s is unreadable and could not be moved: %s", what, path, exc)
        return
    log.warning("sandbox %s %s is unreadable; kept as %s", what, path, kept)


class Collection:
    """One kind of object (entries, upload tokens, ...) keyed by id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._items: dict[str, dict[str, Any]] = {}
        for path in sorted(self.root.glob("*.json")):
            try:
                item = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                item = None
            if isinstance(item, dict) and safe_id(path.stem):
                self._items[path.stem] = item
            else:
                _set_aside(path, "record")

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def get(self, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(item_id)
            return dict(item) if item is not None else None

    def put(self, item_id: str, item: dict[str, Any]) -> None:
        if not safe_id(item_id):
            raise ValueError(f"unsafe id {item_id!r}")
        data = json.dumps(item, ensure_ascii=False, sort_keys=True).encode("utf-8")
        with self._lock:
            atomic_write(self.root / f"{item_id}.json", data)
            self._items[item_id] = dict(item)

    def update(self, item_id: str, **changes: Any) -> dict[str, Any] | None:
        with self._lock:
            item = self.get(item_id)
            if item is None:
                return None
            item.update(changes)
            self.put(item_id, item)
            return item

    def delete(self, item_id: str) -> None:
        with self._lock:
            self._items.pop(item_id, None)
            (self.root / f"{item_id}.json").unlink(missing_ok=True)

    def values(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(v) for v in self._items.values()]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)


class Store:
    """All the sandbox's collections and its one-off state under ``data_dir/kaltura``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "kaltura"
        self.root.mkdir(parents=True, exist_ok=True)
        self.entries = Collection(self.root / "entries")
        self.upload_tokens = Collection(self.root / "upload_tokens")
        self.app_tokens = Collection(self.root / "app_tokens")
        self.categories = Collection(self.root / "categories")
        self.category_entries = Collection(self.root / "category_entries")
        self.views = Collection(self.root / "views")
        self.uploads_dir = self.root / "uploads"
        self.content_dir = self.root / "content"
        self.tmp_dir = self.root / "tmp"
        for d in (self.uploads_dir, self.content_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.iterdir():  # request bodies of a previous run
            stale.unlink(missing_ok=True)
        self._state_path = self.root / "state.json"
        self._state_lock = threading.Lock()
        self.state: dict[str, Any] = {}
        if self._state_path.exists():
            try:
                loaded = json.loads(self._state_path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                loaded = None
            if isinstance(loaded, dict):
                self.state = loaded
            else:
                _set_aside(self._state_path, "state (fresh secrets are made)")

    def save_state(self, **changes: Any) -> None:
        with self._state_lock:
            self.state.update(changes)
            atomic_write(
                self._state_path,
                json.dumps(self.state, sort_keys=True, indent=1).encode("utf-8"),
            )

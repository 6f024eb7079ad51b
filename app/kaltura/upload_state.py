"""What an upload job writes down so it can resume after a restart: one JSON file per job.

:class:`UploadState` holds the token and entry ids, the offset the server last confirmed,
whether the file is complete, and the file's identity (:class:`FileIdentity`, kept up to
date by :mod:`app.kaltura.file_guard`). :class:`UploadStore` is the folder of those files:
writes are atomic (a temporary file, fsync, replace), so a crash leaves either the old
state or the new one, never a torn file. The server's offset wins over what is written
here (docs/protocols.md, "Kaltura: upload tokens"): the state only says which token to ask.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from app import paths, system
from app.settings import decode_strict

log = logging.getLogger(__name__)

STATE_VERSION = 1

JobStatus = Literal["active", "done", "failed", "cancelled"]


@dataclass
class FileIdentity:
    """How an upload recognizes its file: device/inode while running, hashes across runs."""

    dev: int = 0
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    head_len: int = 0
    head_sha256: str = ""
    tail_start: int = 0
    tail_len: int = 0
    tail_sha256: str = ""


@dataclass
class UploadState:
    """Everything needed to resume a job after a restart (JSON in ``state_dir``)."""

    job_id: str
    path: str
    metadata: dict[str, str]
    mode: Literal["new", "replace"] = "new"
    token_id: str = ""
    entry_id: str = ""
    content_attached: bool = False
    #: Bytes the server confirmed contiguous, as last seen (the server's word wins).
    confirmed: int = 0
    file_complete: bool = False
    final_size: int | None = None
    finalized: bool = False
    status: JobStatus = "active"
    category_id: int | None = None
    category_done: bool = False
    identity: FileIdentity = field(default_factory=FileIdentity)
    created_at: float = 0.0
    updated_at: float = 0.0
    error: str = ""
    #: Who may resume it (profile, partner and user); "" in states older than owners.
    owner: str = ""
    #: The process running it now (``str(system.ProcessId)``): while that process lives,
    #: no other one resumes the job (and its growing file is not taken as complete).
    runner: str = ""
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> UploadState:
        """The state written by :meth:`to_json`; ValueError for anything else (a file of
        another shape or type is damage, never a job to run with made-up values)."""
        if isinstance(data, dict) and data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported upload state version {data.get('version')!r}")
        state = decode_strict(cls, data, "upload state")
        if not state.job_id or not state.path:
            raise ValueError("upload state without job id or path")
        if state.confirmed < 0 or (state.final_size is not None and state.final_size < 0):
            raise ValueError("upload state with a negative size")
        return state


class UploadStore:
    """The directory of upload state files; writes are atomic (temp file + replace)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)

    def path_for(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def save(self, state: UploadState, *, durable: bool = True) -> None:
        """Write ``state`` atomically and owner-only. ``durable=False`` skips the sync: for
        progress notes, which only save a round trip on resume (the server's offset wins)."""
        paths.private_app_dir(self.dir)
        state.updated_at = time.time()
        data = json.dumps(state.to_json(), indent=1, sort_keys=True).encode()
        system.write_private(self.path_for(state.job_id), data, durable=durable)

    def remove(self, job_id: str) -> None:
        self.path_for(job_id).unlink(missing_ok=True)

    @staticmethod
    def _read(p: Path) -> UploadState:
        return UploadState.from_json(json.loads(p.read_text(encoding="utf-8")))

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []

    def peek_all(self) -> list[UploadState]:
        """Every readable state, touching nothing (another process may own the folder): a
        damaged file is skipped; a file that cannot be read raises OSError."""
        out: list[UploadState] = []
        for p in self._files():
            try:
                out.append(self._read(p))
            except (ValueError, RecursionError):
                continue
        return out

    def load_all(self) -> list[UploadState]:
        """Every readable state; unreadable files are moved aside, never deleted."""
        out: list[UploadState] = []
        for p in self._files():
            try:
                out.append(self._read(p))
            except (OSError, ValueError, RecursionError) as exc:
                with contextlib.suppress(OSError):
                    kept = system.keep_damaged(p, move=True)
                    log.warning("unreadable upload state %s (%s); moved aside to %s", p, exc, kept)
        return out

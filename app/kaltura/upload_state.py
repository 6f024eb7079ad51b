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
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

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
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> UploadState:
        if not isinstance(data, dict):
            raise ValueError("upload state is not a JSON object")
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported upload state version {data.get('version')!r}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        ident = kwargs.get("identity") or {}
        if not isinstance(ident, dict):
            raise ValueError("upload state has no usable file identity")
        id_known = {f.name for f in fields(FileIdentity)}
        kwargs["identity"] = FileIdentity(**{k: v for k, v in ident.items() if k in id_known})
        state = cls(**kwargs)
        if not state.job_id or not state.path:
            raise ValueError("upload state without job id or path")
        return state


class UploadStore:
    """The directory of upload state files; writes are atomic (temp file + replace)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)

    def path_for(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def save(self, state: UploadState, *, durable: bool = True) -> None:
        """Write ``state`` atomically. ``durable=False`` skips the fsync: for progress
        notes, which only save a round trip on resume (the server's offset wins anyway)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        state.updated_at = time.time()
        data = json.dumps(state.to_json(), indent=1, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            Path(tmp).replace(self.path_for(state.job_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, job_id: str) -> None:
        self.path_for(job_id).unlink(missing_ok=True)

    def load_all(self) -> list[UploadState]:
        """Every readable state; unreadable files are moved aside, never deleted."""
        out: list[UploadState] = []
        if not self.dir.is_dir():
            return out
        for p in sorted(self.dir.glob("*.json")):
            try:
                out.append(UploadState.from_json(json.loads(p.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("unreadable upload state %s (%s); moved aside", p, exc)
                with contextlib.suppress(OSError):
                    p.replace(p.with_suffix(f".bad-{int(time.time())}"))
        return out

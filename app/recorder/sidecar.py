"""The per-take sidecar state file (``<video>.take.json``), written atomically.

It says what the take is and whether the video next to it is final: ``preparing`` and
``recording``/``paused`` mean the recorder was still writing (after a crash: recoverable),
``final`` means closed cleanly, ``recovered`` means finalized after a crash, ``failed`` means
nothing could be saved, ``cancelled`` means stopped before the clock started. The uploader
may stream a growing file as long as the state is not final; the file only ever grows by
whole fragments.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import RecordingError

SIDECAR_SUFFIX = ".take.json"
SCHEMA_VERSION = 1
ACTIVE_STATES = ("preparing", "recording", "paused")


def sidecar_path(video: Path) -> Path:
    return video.with_name(video.name + SIDECAR_SUFFIX)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class TakeState:
    video: str  # file name, next to the sidecar
    state: str
    pid: int = 0
    #: The owning process's start time (Linux), so a reused pid is not mistaken for it.
    pid_started: str = ""
    started_at: str = ""
    updated_at: str = ""
    preset: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    sample_rate: int = 48000
    camera: str = ""
    microphone: str = ""
    elapsed: float = 0.0  # recording time at the last update
    duration: float | None = None  # set when final or recovered
    frames: int = 0
    dropped_frames: int = 0
    stop_reason: str = ""
    bytes: int = 0
    notes: list[str] = field(default_factory=list)
    version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TakeState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def write_state(video: Path, state: TakeState) -> None:
    """Write the sidecar atomically (temp file, fsync, rename), so a crash never tears it."""
    state.updated_at = now_iso()
    path = sidecar_path(video)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(state.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def read_state(video_or_sidecar: Path) -> TakeState:
    path = video_or_sidecar
    if not path.name.endswith(SIDECAR_SUFFIX):
        path = sidecar_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordingError(
            f"The take's state file {path} cannot be read: {exc}.",
            hint="The video itself may still be fine; open it directly.",
        ) from exc
    if not isinstance(data, dict):
        raise RecordingError(f"The take's state file {path} is not a JSON object.")
    return TakeState.from_dict(data)


def process_start(pid: int) -> str:
    """An id for when process ``pid`` started (Linux: /proc start ticks), or ""."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields_after_name = stat.rsplit(")", 1)[-1].split()
    return fields_after_name[19] if len(fields_after_name) > 19 else ""


def pid_alive(pid: int, started: str = "") -> bool:
    """Whether the process that wrote a sidecar still runs (``started`` guards pid reuse)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return not started or started == process_start(pid)
    if started and process_start(pid) not in ("", started):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # A zombie (killed, not yet reaped by its parent) no longer writes anything.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True

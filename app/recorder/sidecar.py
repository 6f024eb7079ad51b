"""The per-take sidecar state file (``<video>.take.json``), written atomically.

It says what the take is and whether the video next to it is final: ``preparing`` and
``recording``/``paused`` mean the recorder was still writing (after a crash: recoverable),
``final`` means closed cleanly, ``recovered`` means finalized after a crash, ``failed`` means
nothing could be saved, ``cancelled`` means stopped before the clock started. The uploader
may stream a growing file as long as the state is not final; the file only ever grows by
whole fragments.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import system
from app.errors import RecordingError
from app.settings import decode_strict

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
        """The state :meth:`to_json` wrote; ValueError for any other shape or type."""
        return decode_strict(cls, data, "take state")


def write_state(video: Path, state: TakeState) -> None:
    """Write the sidecar atomically (temp file, sync, replace), so a crash never tears it;
    owner-only, like the take itself."""
    state.updated_at = now_iso()
    system.write_private(sidecar_path(video), state.to_json().encode("utf-8"))


def read_state(video_or_sidecar: Path) -> TakeState:
    path = video_or_sidecar
    if not path.name.endswith(SIDECAR_SUFFIX):
        path = sidecar_path(path)
    try:
        return TakeState.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError) as exc:
        raise RecordingError(
            f"The take's state file {path} cannot be read: {exc}.",
            hint="The video itself may still be fine; open it directly.",
        ) from exc


def process_start(pid: int) -> str:
    """When process ``pid`` started, as written in the sidecar ("" if unknown)."""
    me = system.this_process()
    started = me.started if pid == me.pid else system.ProcessId(pid, 0).started
    return f"{started:.2f}" if started else ""


def pid_alive(pid: int, started: str = "") -> bool:
    """Whether the process that wrote a sidecar still runs (``started`` guards pid reuse)."""
    try:
        when = float(started) if started else 0.0
    except ValueError:
        when = 0.0
    return system.process_alive(pid, when)

"""Typed events the recorder sends: state changes, level meter, and health problems.

Health problems are data, not exceptions: the UI shows them, tests read them, the JSON
summary lists them. ``t`` is recording time in seconds (0 before the take starts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecorderEvent:
    """Base class: every event has the recording time at which it happened."""

    t: float

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


# --- state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CountdownTick(RecorderEvent):
    remaining: int


@dataclass(frozen=True)
class Started(RecorderEvent):
    pass


@dataclass(frozen=True)
class Paused(RecorderEvent):
    pass


@dataclass(frozen=True)
class Resumed(RecorderEvent):
    pass


@dataclass(frozen=True)
class Stopped(RecorderEvent):
    reason: str  # "user", "max_duration", "device_lost", "disk_full", "error"


@dataclass(frozen=True)
class FileGrew(RecorderEvent):
    """A whole fragment reached the disk: ``bytes`` of the file are final from here on.

    A streaming uploader may send up to ``bytes``; the file never changes before that point.
    """

    bytes: int


@dataclass(frozen=True)
class FormatNote(RecorderEvent):
    """A request could not be met exactly (e.g. nearest supported resolution)."""

    message: str


@dataclass(frozen=True)
class AudioLevel(RecorderEvent):
    """The level meter: peak and RMS in dBFS over the last window (>= 20 per second)."""

    peak_dbfs: float
    rms_dbfs: float


# --- health ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthEvent(RecorderEvent):
    """A problem (or its end) the user should know about."""

    message: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class MicSilent(HealthEvent):
    seconds: float
    #: Every sample was exactly zero where the OS gives an app it has not allowed the
    #: microphone nothing but zeros (macOS, Windows): a permission problem, not a mute.
    denied: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class MicClipping(HealthEvent):
    peak_dbfs: float


@dataclass(frozen=True)
class CameraFrozen(HealthEvent):
    seconds: float


@dataclass(frozen=True)
class CameraBlack(HealthEvent):
    seconds: float


@dataclass(frozen=True)
class CameraStalled(HealthEvent):
    """The camera delivered no frame for a while (it may be lost)."""

    seconds: float


@dataclass(frozen=True)
class FrameDropRateHigh(HealthEvent):
    dropped_last_second: int
    dropped_total: int


@dataclass(frozen=True)
class DiskSpaceLow(HealthEvent):
    free_bytes: int
    stopping: bool


@dataclass(frozen=True)
class DeviceLost(HealthEvent):
    device: str
    device_kind: str  # "camera" or "microphone"

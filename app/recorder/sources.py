"""What every camera and microphone source delivers, and the interface they share.

A camera delivers :class:`VideoFrame` (BGR pixels plus the host time of capture); a
microphone delivers :class:`AudioBlock` (float32 samples plus the host time of the first
sample, from the ADC clock where the OS reports it). Sources call the recorder's callbacks
from their own threads and must never block on them; the recorder's callbacks never block
either. Real, synthetic and file sources all implement the same protocols, so tests, the demo
and the benchmarks drive the same pipeline as a webcam does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.recorder.clock import RecordingClock

#: Standard capture sizes; a request for anything else gets the nearest one (reported).
STANDARD_SIZES: tuple[tuple[int, int], ...] = (
    (640, 360),
    (640, 480),
    (854, 480),
    (960, 540),
    (1280, 720),
    (1920, 1080),
)


@dataclass(frozen=True)
class VideoFrame:
    """One camera frame: ``image`` is HxWx3 uint8 BGR; ``t`` the host time of capture."""

    image: npt.NDArray[np.uint8]
    t: float
    index: int


@dataclass(frozen=True)
class AudioBlock:
    """A block of mono float32 samples in [-1, 1]; ``t`` is the host time of sample 0."""

    samples: npt.NDArray[np.float32]
    t: float
    sample_rate: int
    #: Samples were lost just before this block (an input overflow): re-place it exactly.
    discontinuity: bool = False

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def t_end(self) -> float:
        return self.t + self.duration


@dataclass(frozen=True)
class CameraFormat:
    """What a camera agreed to deliver (may differ from what was asked: see ``note``)."""

    width: int
    height: int
    fps: float
    note: str = ""
    #: What the device really delivers, read back after opening, e.g. "MJPG 1280x720 30 fps
    #: through MSMF" ("" for sources that are not devices).
    delivered: str = ""


FrameSink = Callable[[VideoFrame], None]
AudioSink = Callable[[AudioBlock], None]
LostSink = Callable[[str], None]


class CameraSource(Protocol):
    """A camera. ``open`` negotiates the format; ``start`` begins calling ``on_frame``."""

    name: str

    def open(self, width: int, height: int, fps: float) -> CameraFormat: ...

    def start(self, on_frame: FrameSink, on_lost: LostSink) -> None: ...

    def stop(self) -> None: ...

    def attach_clock(self, clock: RecordingClock) -> None: ...


class MicrophoneSource(Protocol):
    """A microphone delivering mono blocks at ``sample_rate``."""

    name: str
    sample_rate: int

    def open(self) -> None: ...

    def start(self, on_block: AudioSink, on_lost: LostSink) -> None: ...

    def stop(self) -> None: ...

    def attach_clock(self, clock: RecordingClock) -> None: ...


def nearest_size(width: int, height: int, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The supported size closest to the request (by width and height difference)."""
    return min(sizes, key=lambda s: (abs(s[0] - width) + abs(s[1] - height), -s[0]))

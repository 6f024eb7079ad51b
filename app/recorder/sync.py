"""A/V sync analyzer: white-frame times against beep onsets in a recorded file.

The synthetic camera shows a full-white frame and the synthetic microphone starts a 1 kHz
beep at each whole second of recording time; in a file where sound and picture are in sync,
each white frame's presentation time equals the onset of the nearest beep. Used by the
tests and the benchmark; it reads the output file only, as a player would.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import av
import numpy as np

WHITE_LUMA = 200.0
ONSET_LEVEL = 0.1
REFRACTORY_S = 0.3


@dataclass(frozen=True)
class SyncPair:
    video_t: float
    audio_t: float

    @property
    def offset(self) -> float:
        """Audio minus video, seconds: positive means the sound comes late."""
        return self.audio_t - self.video_t


@dataclass
class SyncReport:
    pairs: list[SyncPair] = field(default_factory=list)
    white_frames: int = 0
    beeps: int = 0

    def _mean(self, pairs: list[SyncPair]) -> float | None:
        return statistics.fmean(p.offset for p in pairs) if pairs else None

    @property
    def start_offset(self) -> float | None:
        return self._mean(self.pairs[:3])

    @property
    def end_offset(self) -> float | None:
        return self._mean(self.pairs[-3:])

    @property
    def max_abs_offset(self) -> float | None:
        return max((abs(p.offset) for p in self.pairs), default=None)

    def to_dict(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 2)

        return {
            "pairs": len(self.pairs),
            "white_frames": self.white_frames,
            "beeps": self.beeps,
            "start_offset_ms": ms(self.start_offset),
            "end_offset_ms": ms(self.end_offset),
            "max_abs_offset_ms": ms(self.max_abs_offset),
        }


def white_frame_times(path: Path, *, keyframes_only: bool = False) -> list[float]:
    """Presentation times of the full-white video frames.

    ``keyframes_only`` decodes only keyframes: in an untrimmed, unpaused recording every
    white frame is one (keyframes are forced on whole seconds), which makes analyzing a long
    take ~30 times faster.
    """
    out: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            plane = frame.planes[0]
            luma = np.frombuffer(cast(Any, plane), np.uint8).reshape(-1, plane.line_size)
            if float(luma[::8, : frame.width : 8].mean()) >= WHITE_LUMA and frame.time is not None:
                out.append(float(frame.time))
    return out


def beep_onsets(path: Path, *, level: float = ONSET_LEVEL) -> list[float]:
    """Times at which the sound first rises above ``level`` after a quiet stretch."""
    onsets: list[float] = []
    last_loud = -1e9
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return onsets
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            data = frame.to_ndarray()
            samples = np.abs(data[0] if data.ndim == 2 else data)
            loud = np.nonzero(samples > level)[0]
            if not len(loud):
                continue
            times = frame.time + loud / frame.sample_rate
            for t in times:
                if t - last_loud > REFRACTORY_S:
                    onsets.append(float(t))
                last_loud = float(t)
    return onsets


def analyze(
    path: Path, *, skip_before: float = 0.5, window: float = 0.3, keyframes_only: bool = False
) -> SyncReport:
    """Pair each white frame (after ``skip_before`` s) with the nearest beep onset.

    The white frame at 0 s is skipped: a fragmented MP4's first sample always starts at 0,
    before the encoder-priming shift every later sample carries.
    """
    whites = white_frame_times(path, keyframes_only=keyframes_only)
    beeps = beep_onsets(path)
    report = SyncReport(white_frames=len(whites), beeps=len(beeps))
    if not beeps:
        return report
    arr = np.asarray(beeps)
    for w in whites:
        if w < skip_before:
            continue
        i = int(np.argmin(np.abs(arr - w)))
        if abs(arr[i] - w) <= window:
            report.pairs.append(SyncPair(w, float(arr[i])))
    return report

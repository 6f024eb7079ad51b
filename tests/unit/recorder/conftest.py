"""Recorder test helpers: synthetic takes written faster than real time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.recorder.clock import RecordingClock
from app.recorder.muxer import Mp4Writer
from app.recorder.presets import PRESETS
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone

MakeTake = Callable[..., Path]


def write_take(path: Path, seconds: float, *, preset: str = "480p", fps: int = 30) -> Path:
    """The file a synthetic take of ``seconds`` would give, encoded as fast as possible."""
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(0.0)
    camera = SyntheticCamera()
    camera.attach_clock(clock)
    p = PRESETS[preset]
    camera.open(p.width, p.height, fps)
    mic = SyntheticMicrophone()
    mic.attach_clock(clock)
    writer = Mp4Writer(path, p)
    writer.open()
    frames = round(seconds * fps)
    samples_per_frame = 48000 / fps
    written = 0
    for k in range(frames):
        writer.write_video(camera.draw(k, k, fps), k / fps)
        target = round((k + 1) * samples_per_frame)
        hosts = np.arange(written, target) / 48000.0
        writer.write_audio(mic.samples(hosts))
        written = target
    writer.close()
    return path


@pytest.fixture
def make_take(tmp_path: Path) -> MakeTake:
    def make(seconds: float = 4.0, *, name: str = "take.mp4", **kw: object) -> Path:
        return write_take(tmp_path / name, seconds, **kw)  # type: ignore[arg-type]

    return make

"""Synthetic camera and microphone, first-class sources for tests, the demo and benchmarks.

The camera draws a moving test pattern with a frame counter, in real time, and a
**full-white frame at each whole second of recording time**. The microphone produces quiet
noise and a **1 kHz, 100 ms beep starting at each whole second of recording time**, in real
time, with an optional clock error (``skew=+0.001`` makes it deliver 0.1 % more samples per
second than it claims, as real sound cards do) and callback jitter. Because both mark the
same instants of the recording clock, the A/V sync of a file is measurable
(:mod:`app.recorder.sync`).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from app.errors import DeviceError
from app.recorder.clock import RecordingClock
from app.recorder.sources import (
    STANDARD_SIZES,
    AudioBlock,
    AudioSink,
    CameraFormat,
    FrameSink,
    LostSink,
    VideoFrame,
    nearest_size,
)


def _stop_thread(stop: threading.Event, thread: threading.Thread | None) -> None:
    """Signal a source's real-time thread and wait for it (not when it stops itself)."""
    stop.set()
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout=2)


BEEP_HZ = 1000.0
BEEP_SECONDS = 0.1
BEEP_AMPLITUDE = 0.5


class SyntheticCamera:
    """A real-time test-pattern camera.

    ``pattern``: "bars" (moving pattern with the white sync frames, default), "black" (all
    black), "frozen" (the same frame over and over); the last two model broken cameras and
    have no white frames. ``lost_after``: seconds after start at which it "unplugs".
    While the recording clock runs, frames are captured exactly on the recording-time grid
    (k / fps), like a camera with hardware timestamps, so the white frames fall on whole
    seconds.
    """

    def __init__(
        self,
        *,
        pattern: str = "bars",
        lost_after: float | None = None,
        sizes: tuple[tuple[int, int], ...] = STANDARD_SIZES,
        now: Callable[[], float] = time.monotonic,
        name: str = "Synthetic camera",
    ) -> None:
        if pattern not in ("bars", "black", "frozen"):
            raise ValueError(f"unknown pattern {pattern!r}")
        self.name = name
        self.pattern = pattern
        self.lost_after = lost_after
        self.sizes = sizes
        self.now = now
        self._clock: RecordingClock | None = None
        self._format: CameraFormat | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._background: npt.NDArray[np.uint8] | None = None

    def attach_clock(self, clock: RecordingClock) -> None:
        self._clock = clock

    def open(self, width: int, height: int, fps: float) -> CameraFormat:
        w, h = nearest_size(width, height, self.sizes)
        note = "" if (w, h) == (width, height) else f"{width}x{height} unsupported, using {w}x{h}"
        self._format = CameraFormat(w, h, float(fps), note)
        # A fixed colourful gradient, mid-grey on average so it never looks white or black.
        yy, xx = np.mgrid[0:h, 0:w]
        bg = np.empty((h, w, 3), np.uint8)
        bg[..., 0] = (40 + 120 * xx / max(1, w - 1)).astype(np.uint8)
        bg[..., 1] = (40 + 120 * yy / max(1, h - 1)).astype(np.uint8)
        bg[..., 2] = (100 + 60 * np.sin(xx / 23.0) * np.cos(yy / 17.0)).astype(np.uint8)
        self._background = bg
        return self._format

    def start(self, on_frame: FrameSink, on_lost: LostSink) -> None:
        if self._format is None:
            raise DeviceError("The synthetic camera was started before it was opened.")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_frame, on_lost), name="synthetic-camera", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        _stop_thread(self._stop, self._thread)
        self._thread = None

    def _next_slot(self, last: float, fps: float) -> tuple[float, int | None]:
        candidate = last + 1.0 / fps
        clock = self._clock
        if clock is not None:
            rec = clock.to_rec(candidate)
            if rec is not None:
                k = math.floor(rec * fps + 1e-6)
                host = clock.to_host(k / fps)
                if host is not None and host > last + 1e-6:
                    return host, k
                host = clock.to_host((k + 1) / fps)
                if host is not None:
                    return host, k + 1
        return candidate, None

    def draw(self, index: int, slot: int | None, fps: float) -> npt.NDArray[np.uint8]:
        """The picture for frame ``index`` (recording-grid ``slot`` when recording)."""
        fmt = self._format
        assert fmt is not None and self._background is not None
        if (
            self.pattern == "bars"
            and slot is not None
            and slot % max(1, round(fps)) == 0
            and abs(slot / fps - round(slot / fps)) < 1e-6
        ):
            return np.full((fmt.height, fmt.width, 3), 255, np.uint8)
        if self.pattern == "black":
            return np.zeros((fmt.height, fmt.width, 3), np.uint8)
        if self.pattern == "frozen":
            return self._background.copy()
        shift = (index * 8) % fmt.width
        img = np.roll(self._background, shift, axis=1)
        bar_x = (index * 12) % fmt.width
        img[:, bar_x : bar_x + fmt.width // 40] = (30, 200, 230)
        scale = fmt.height / 360
        label = f"{index:06d}" if slot is None else f"{index:06d}  t={slot / fps:8.3f}"
        cv2.putText(
            img, label, (int(20 * scale), int(60 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
            1.2 * scale, (0, 0, 0), max(1, int(3 * scale)), cv2.LINE_AA,
        )  # fmt: skip
        return img

    def _run(self, on_frame: FrameSink, on_lost: LostSink) -> None:
        fmt = self._format
        assert fmt is not None
        started = self.now()
        last = started - 1.0 / fmt.fps
        index = 0
        while not self._stop.is_set():
            slot_t, slot = self._next_slot(last, fmt.fps)
            delay = slot_t - self.now()
            if delay > 0 and self._stop.wait(delay):
                return
            if self.lost_after is not None and slot_t - started >= self.lost_after:
                on_lost(f"{self.name} was disconnected")
                return
            on_frame(VideoFrame(self.draw(index, slot, fmt.fps), slot_t, index))
            index += 1
            last = slot_t


def parse_skew(text: str) -> float:
    """'+0.1%' -> 0.001; '-1%' -> -0.01; '0.002' -> 0.002."""
    text = text.strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        return float(text)
    except ValueError:
        raise DeviceError(
            f"The synthetic microphone's skew {text!r} is not a number.",
            hint="Write it like skew=+0.1% or skew=-0.001.",
        ) from None


class SyntheticMicrophone:
    """A real-time microphone: quiet noise plus a 1 kHz beep at each whole recording second.

    ``skew``: the fraction by which its sample clock runs fast (+) or slow (-) against the
    host clock. ``jitter``: callbacks arrive up to this many seconds late, and the reported
    ADC time carries up to half of it as noise. ``level``: "normal", "silent" (digital
    silence) or "clipping" (a full-scale square wave). ``lost_after``: it "unplugs".
    """

    def __init__(
        self,
        *,
        sample_rate: int = 48000,
        skew: float = 0.0,
        jitter: float = 0.0,
        block: int = 480,
        level: str = "normal",
        lost_after: float | None = None,
        noise_dbfs: float = -50.0,
        seed: int = 1,
        now: Callable[[], float] = time.monotonic,
        name: str = "Synthetic microphone",
    ) -> None:
        if level not in ("normal", "silent", "clipping"):
            raise ValueError(f"unknown level {level!r}")
        self.name = name
        self.sample_rate = sample_rate
        self.skew = skew
        self.jitter = jitter
        self.block = block
        self.level = level
        self.lost_after = lost_after
        self.noise = 10 ** (noise_dbfs / 20)
        self.now = now
        self._rng = np.random.default_rng(seed)
        self._jitter_rng = random.Random(seed)
        self._clock: RecordingClock | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach_clock(self, clock: RecordingClock) -> None:
        self._clock = clock

    def open(self) -> None:
        """Nothing to open; present for the interface."""

    def start(self, on_block: AudioSink, on_lost: LostSink) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_block, on_lost), name="synthetic-mic", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        _stop_thread(self._stop, self._thread)
        self._thread = None

    def samples(self, host_times: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        """The signal at these true host instants."""
        n = len(host_times)
        if self.level == "silent":
            return np.zeros(n, np.float32)
        if self.level == "clipping":
            return np.where(np.sin(2 * np.pi * 200 * host_times) >= 0, 1.0, -1.0).astype(np.float32)
        out = (self._rng.standard_normal(n) * self.noise).astype(np.float32)
        if self._clock is not None:
            rec = self._clock.to_rec_array(host_times)
            frac = rec - np.floor(rec)
            beep = (rec >= 0) & (frac < BEEP_SECONDS)  # NaN compares False
            out[beep] = (BEEP_AMPLITUDE * np.sin(2 * np.pi * BEEP_HZ * frac[beep])).astype(
                np.float32
            )
        return out

    def _run(self, on_block: AudioSink, on_lost: LostSink) -> None:
        true_rate = self.sample_rate * (1.0 + self.skew)
        t0 = self.now()
        n = 0
        while not self._stop.is_set():
            host = t0 + (n + np.arange(self.block)) / true_rate
            block_end = t0 + (n + self.block) / true_rate
            late = self._jitter_rng.uniform(0, self.jitter) if self.jitter else 0.0
            delay = block_end + late - self.now()
            if delay > 0 and self._stop.wait(delay):
                return
            if self.lost_after is not None and block_end - t0 >= self.lost_after:
                on_lost(f"{self.name} was disconnected")
                return
            noise = self._jitter_rng.uniform(-0.5, 0.5) * self.jitter if self.jitter else 0.0
            on_block(AudioBlock(self.samples(host), float(host[0]) + noise, self.sample_rate))
            n += self.block

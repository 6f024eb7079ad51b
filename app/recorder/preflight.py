"""The pre-flight check: open the camera and the microphone for a moment and report.

Measures the frame rate actually delivered and the sound level, and lists problems in plain
words (no picture, black or frozen picture, slow camera, silent or clipping microphone,
device errors). ``vmsg devices --test`` prints it; the UI shows it before the first take.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.errors import DeviceError
from app.recorder.health import (
    BLACK_LUMA,
    CLIP_DBFS,
    FROZEN_DIFF,
    SILENT_DBFS,
    dbfs,
    silence_is_denial,
    silent_message,
)
from app.recorder.sources import AudioBlock, CameraSource, MicrophoneSource, VideoFrame


@dataclass
class PreflightReport:
    camera: str
    microphone: str
    size: str = ""
    #: What the camera really delivers (format, size, rate, API), read back from it.
    delivered: str = ""
    requested_fps: float = 0.0
    measured_fps: float = 0.0
    frames: int = 0
    audio_blocks: int = 0
    peak_dbfs: float = -120.0
    rms_dbfs: float = -120.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Devices the OS seems not to let the app use ("microphone": nothing but exact zeros
    #: where the OS gives a denied app zeros).
    denied: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "camera": self.camera,
            "microphone": self.microphone,
            "size": self.size,
            "delivered": self.delivered,
            "requested_fps": self.requested_fps,
            "measured_fps": round(self.measured_fps, 2),
            "frames": self.frames,
            "audio_blocks": self.audio_blocks,
            "peak_dbfs": round(self.peak_dbfs, 1),
            "rms_dbfs": round(self.rms_dbfs, 1),
            "problems": self.problems,
            "notes": self.notes,
            "denied": self.denied,
        }


def preflight(
    camera: CameraSource | None,
    microphone: MicrophoneSource | None,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (1280, 720),
    fps: float = 30.0,
    cancel: threading.Event | None = None,
    platform: str = sys.platform,
) -> PreflightReport:
    """Run both devices for ``seconds`` (after their first delivery) and report."""
    report = PreflightReport(
        camera=camera.name if camera else "none",
        microphone=microphone.name if microphone else "none",
        requested_fps=fps,
    )
    frame_times: list[float] = []
    smalls: list[Any] = []
    lumas: list[float] = []
    peak = 0.0
    sq, count = 0.0, 0
    lock = threading.Lock()
    lost: list[str] = []

    def on_frame(frame: VideoFrame) -> None:
        small = frame.image[::16, ::16].astype(np.int16)
        with lock:
            frame_times.append(frame.t)
            lumas.append(float(small.mean()))
            smalls.append(small)
            if len(smalls) > 2:
                smalls.pop(0)
                diff = float(np.abs(smalls[1] - smalls[0]).mean())
                diffs.append(diff)

    diffs: list[float] = []

    def on_block(block: AudioBlock) -> None:
        nonlocal peak, sq, count
        with lock:
            report.audio_blocks += 1
            peak = max(peak, float(np.max(np.abs(block.samples))) if len(block.samples) else 0)
            sq += float(np.dot(block.samples, block.samples))
            count += len(block.samples)

    started: list[Any] = []
    try:
        if camera is not None:
            try:
                fmt = camera.open(size[0], size[1], fps)
                report.size = f"{fmt.width}x{fmt.height}"
                report.delivered = fmt.delivered
                if fmt.note:
                    report.notes.append(fmt.note)
                camera.start(on_frame, lost.append)
                started.append(camera)
            except DeviceError as exc:
                report.problems.append(exc.user_message())
        if microphone is not None:
            try:
                microphone.open()
                microphone.start(on_block, lost.append)
                started.append(microphone)
            except DeviceError as exc:
                report.problems.append(exc.user_message())
        # Warm-up: the first callback of a stream can be late; measure after it.
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            have_cam = camera is None or camera not in started or frame_times
            have_mic = microphone is None or microphone not in started or report.audio_blocks
            if have_cam and have_mic:
                break
            time.sleep(0.02)
        with lock:
            frame_times.clear()
            peak, sq, count = 0.0, 0.0, 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cancel is not None and cancel.wait(0.05):
                break
            time.sleep(0.05)
    finally:
        for source in started:
            source.stop()
    with lock:
        report.frames = len(frame_times)
        if len(frame_times) >= 2:
            span = frame_times[-1] - frame_times[0]
            report.measured_fps = (len(frame_times) - 1) / span if span > 0 else 0.0
        report.peak_dbfs = dbfs(peak)
        report.rms_dbfs = dbfs(float(np.sqrt(sq / count))) if count else -120.0
    report.problems.extend(lost)
    if camera is not None and camera in started:
        if report.frames == 0:
            report.problems.append(
                f"The camera '{camera.name}' delivered no pictures: another app may be using it."
            )
        else:
            if lumas and float(np.median(lumas[-report.frames :])) < BLACK_LUMA:
                report.problems.append(
                    f"The picture of '{camera.name}' is black: open the lens cover or check "
                    "the lighting."
                )
            if diffs and max(diffs) < FROZEN_DIFF:
                report.problems.append(f"The picture of '{camera.name}' is frozen.")
            if report.measured_fps < 0.8 * fps:
                report.problems.append(
                    f"The camera delivers only {report.measured_fps:.1f} frames per second "
                    f"(asked for {fps:g}): more light or a lower resolution helps."
                )
    if microphone is not None and microphone in started:
        if report.audio_blocks == 0:
            report.problems.append(f"The microphone '{microphone.name}' delivered no sound.")
        elif report.peak_dbfs < SILENT_DBFS:
            report.problems.append(silent_message(f" '{microphone.name}'", peak == 0.0, platform))
            if silence_is_denial(peak == 0.0, platform):
                report.denied.append("microphone")
        elif report.peak_dbfs >= CLIP_DBFS:
            report.problems.append(
                f"The microphone '{microphone.name}' is too loud and clips: lower its level."
            )
    return report

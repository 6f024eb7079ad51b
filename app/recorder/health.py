"""Live health checks on what the sources deliver: level meter, silent or clipping mic,
black, frozen or stalled camera.

They run on the capture threads, so each costs microseconds per block or frame (a frame is
looked at through a 1/16 subsample). Problems are reported once when they start, through
``emit``, which never blocks.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from app import system
from app.recorder.events import (
    AudioLevel,
    CameraBlack,
    CameraFrozen,
    CameraStalled,
    MicClipping,
    MicSilent,
    RecorderEvent,
)

Emit = Callable[[RecorderEvent], None]
TimeOf = Callable[[float], float]  # host time -> recording time (or 0 before the take)

SILENT_DBFS = -60.0
SILENT_SECONDS = 3.0
CLIP_DBFS = -0.1
CAMERA_PROBLEM_SECONDS = 2.0
BLACK_LUMA = 12.0
FROZEN_DIFF = 0.25


def silence_is_denial(exact_zero: bool, platform: str = sys.platform) -> bool:
    """Whether a microphone giving nothing but exact zeros means the OS denied it.

    macOS and Windows hand an app they have not allowed the microphone a stream of zeros,
    with no error. A real microphone, even muted in hardware, has some noise (a muted
    PulseAudio source on Linux gives zeros too, so there it is a mute).
    """
    return exact_zero and platform in ("darwin", "win32")


def silent_message(name: str, exact_zero: bool, platform: str = sys.platform) -> str:
    if silence_is_denial(exact_zero, platform):
        page = system.privacy_page("microphone", platform)[0]
        return (
            f"The microphone{name} gives no sound at all, as the system does when the app "
            f"is not allowed to use it: allow Video Messaging in {page}."
        )
    return (
        f"The microphone{name} is silent: check that it is not muted and that the right "
        "one is selected."
    )


def dbfs(value: float) -> float:
    """Amplitude (1.0 = full scale) to dBFS, floored at -120."""
    return 20 * math.log10(value) if value > 1e-6 else -120.0


class MicrophoneHealth:
    """Level meter at ``meter_hz`` and silent/clipping detection."""

    def __init__(
        self,
        emit: Emit,
        time_of: TimeOf,
        *,
        meter_hz: float = 25.0,
        platform: str = sys.platform,
    ) -> None:
        self.emit = emit
        self.time_of = time_of
        self.window = 1.0 / meter_hz
        self.platform = platform
        self._quiet_nonzero = False  # a sample other than exactly 0 since quiet began
        self._acc_peak = 0.0
        self._last_peak_nonzero = False
        self._acc_sq = 0.0
        self._acc_n = 0
        self._acc_start: float | None = None
        self._quiet_since: float | None = None
        self._silent_reported = False
        self._last_clip_report = -math.inf
        self.peak_dbfs = -120.0
        self.rms_dbfs = -120.0
        self.max_peak_dbfs = -120.0

    def feed(self, samples: npt.NDArray[np.float32], t: float, sample_rate: int) -> None:
        if len(samples) == 0:
            return
        if self._acc_start is None:
            self._acc_start = t
        self._acc_peak = max(self._acc_peak, float(np.max(np.abs(samples))))
        self._acc_sq += float(np.dot(samples, samples))
        self._acc_n += len(samples)
        end = t + len(samples) / sample_rate
        if end - self._acc_start < self.window:
            return
        self._last_peak_nonzero = self._acc_peak > 0.0
        peak = dbfs(self._acc_peak)
        rms = dbfs(math.sqrt(self._acc_sq / self._acc_n))
        self.peak_dbfs, self.rms_dbfs = peak, rms
        self.max_peak_dbfs = max(self.max_peak_dbfs, peak)
        rec_t = self.time_of(end)
        self.emit(AudioLevel(rec_t, peak, rms))
        self._acc_peak, self._acc_sq, self._acc_n, self._acc_start = 0.0, 0.0, 0, None
        # Silence: the peak, not the RMS, stays below the threshold for SILENT_SECONDS.
        if peak < SILENT_DBFS:
            if self._quiet_since is None:
                self._quiet_since = end
                self._quiet_nonzero = False
            self._quiet_nonzero |= self._last_peak_nonzero
            if not self._silent_reported and end - self._quiet_since >= SILENT_SECONDS:
                self._silent_reported = True
                exact_zero = not self._quiet_nonzero
                self.emit(
                    MicSilent(
                        rec_t,
                        end - self._quiet_since,
                        message=silent_message("", exact_zero, self.platform),
                        denied=silence_is_denial(exact_zero, self.platform),
                    )
                )
        else:
            self._quiet_since = None
            self._silent_reported = False
        if peak >= CLIP_DBFS and end - self._last_clip_report >= 2.0:
            self._last_clip_report = end
            self.emit(
                MicClipping(
                    rec_t, peak, message="The sound is too loud and clips: lower the input level."
                )
            )


class CameraHealth:
    """Black, frozen and stalled-camera detection."""

    def __init__(self, emit: Emit, time_of: TimeOf) -> None:
        self.emit = emit
        self.time_of = time_of
        self._prev: npt.NDArray[np.int16] | None = None
        self._black_since: float | None = None
        self._frozen_since: float | None = None
        self._black_reported = False
        self._frozen_reported = False
        self._stall_reported = False
        self.last_frame_t: float | None = None
        self.frames = 0
        self.first_frame_t: float | None = None

    def feed(self, image: npt.NDArray[np.uint8], t: float) -> None:
        self.frames += 1
        if self.first_frame_t is None:
            self.first_frame_t = t
        self.last_frame_t = t
        self._stall_reported = False
        small = image[::16, ::16].astype(np.int16)
        luma = float(small.mean())
        if luma < BLACK_LUMA:
            self._black_since = t if self._black_since is None else self._black_since
            if not self._black_reported and t - self._black_since >= CAMERA_PROBLEM_SECONDS:
                self._black_reported = True
                self.emit(
                    CameraBlack(
                        self.time_of(t),
                        t - self._black_since,
                        message="The camera picture is black: open the lens cover or "
                        "check the lighting.",
                    )
                )
        else:
            self._black_since, self._black_reported = None, False
        if self._prev is not None and self._prev.shape == small.shape:
            diff = float(np.abs(small - self._prev).mean())
            if diff < FROZEN_DIFF and luma >= BLACK_LUMA:
                self._frozen_since = t if self._frozen_since is None else self._frozen_since
                if not self._frozen_reported and t - self._frozen_since >= CAMERA_PROBLEM_SECONDS:
                    self._frozen_reported = True
                    self.emit(
                        CameraFrozen(
                            self.time_of(t),
                            t - self._frozen_since,
                            message="The camera picture is frozen: another app may hold the "
                            "camera, or it needs to be plugged in again.",
                        )
                    )
            else:
                self._frozen_since, self._frozen_reported = None, False
        self._prev = small

    def check_stall(self, now: float) -> None:
        """Called about once a second by the controller: no frame for a while?"""
        since = self.last_frame_t
        if since is None or self._stall_reported:
            return
        if now - since >= CAMERA_PROBLEM_SECONDS:
            self._stall_reported = True
            self.emit(
                CameraStalled(
                    self.time_of(now),
                    now - since,
                    message="The camera stopped delivering pictures.",
                )
            )

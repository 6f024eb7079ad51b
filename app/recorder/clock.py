"""The one recording clock: host time (``time.monotonic``) to recording time and back.

Every source stamps what it captures with host time. The clock knows when the take started,
when it was paused and resumed, and when it stopped, as a list of active segments; recording
time is host time minus the start and minus every paused span. Video pts and audio sample
positions are both derived from it, so pausing removes the same span from both tracks.

It is thread-safe: sources read it from their own threads while the controller changes it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Segment:
    """An active span: host time ``host_start`` .. ``host_end`` maps to ``rec_start`` .."""

    host_start: float
    host_end: float  # math.inf while the segment is open
    rec_start: float

    def contains(self, host_t: float) -> bool:
        return self.host_start <= host_t < self.host_end


class RecordingClock:
    """Maps host time to recording time across pauses."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._state = "idle"  # idle -> running <-> paused -> stopped

    @property
    def state(self) -> str:
        return self._state

    @property
    def started(self) -> bool:
        return bool(self._segments)

    def segments(self) -> list[Segment]:
        with self._lock:
            return list(self._segments)

    def start(self, host_t: float | None = None) -> float:
        t = self.now() if host_t is None else host_t
        with self._lock:
            if self._state != "idle":
                raise RuntimeError(f"clock already {self._state}")
            self._segments.append(Segment(t, math.inf, 0.0))
            self._state = "running"
        return t

    def _close(self, t: float) -> None:
        last = self._segments[-1]
        t = max(t, last.host_start)
        self._segments[-1] = Segment(last.host_start, t, last.rec_start)

    def pause(self, host_t: float | None = None) -> float:
        t = self.now() if host_t is None else host_t
        with self._lock:
            if self._state != "running":
                raise RuntimeError(f"cannot pause: clock is {self._state}")
            self._close(t)
            self._state = "paused"
        return t

    def resume(self, host_t: float | None = None) -> float:
        t = self.now() if host_t is None else host_t
        with self._lock:
            if self._state != "paused":
                raise RuntimeError(f"cannot resume: clock is {self._state}")
            last = self._segments[-1]
            rec = last.rec_start + (last.host_end - last.host_start)
            self._segments.append(Segment(max(t, last.host_end), math.inf, rec))
            self._state = "running"
        return t

    def stop(self, host_t: float | None = None) -> float:
        """Stop the clock (at ``host_t``, which may lie slightly in the past); returns it."""
        t = self.now() if host_t is None else host_t
        with self._lock:
            if self._state == "running":
                self._close(t)
            self._state = "stopped"
        return t

    def to_rec(self, host_t: float) -> float | None:
        """Recording time of a host instant, or None if the take was not running then."""
        with self._lock:
            for seg in reversed(self._segments):
                if seg.contains(host_t):
                    return seg.rec_start + (host_t - seg.host_start)
                if host_t >= seg.host_end:
                    return None
        return None

    def to_rec_array(self, host_t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Vectorized :meth:`to_rec`; NaN where the take was not running."""
        out = np.full(host_t.shape, np.nan)
        for seg in self.segments():
            mask = (host_t >= seg.host_start) & (host_t < seg.host_end)
            out[mask] = seg.rec_start + (host_t[mask] - seg.host_start)
        return out

    def to_host(self, rec_t: float) -> float | None:
        """Host instant of a recording time (in the segment that holds it)."""
        with self._lock:
            for seg in self._segments:
                if rec_t >= seg.rec_start and seg.host_start + (rec_t - seg.rec_start) < (
                    seg.host_end
                ):
                    return seg.host_start + (rec_t - seg.rec_start)
        return None

    def elapsed(self, host_t: float | None = None) -> float:
        """Recording time so far (stays put while paused, final once stopped)."""
        t = self.now() if host_t is None else host_t
        with self._lock:
            if not self._segments:
                return 0.0
            last = self._segments[-1]
            end = min(t, last.host_end)
            return last.rec_start + max(0.0, end - last.host_start)

"""Audio placement on the recording clock: sample counts corrected against timestamps.

A sound card's sample clock is not the host clock: it runs fast or slow (0.1 % is common),
its first callback can come seconds late, and callbacks jitter. Writing samples as they come
would let the audio drift away from the video. Instead each block's samples are placed
where the recording clock says they belong:

- samples captured while the take was not running (before start, while paused, after stop)
  are dropped, so a pause removes the same span from audio as from video;
- a large disagreement (a late first callback, a lost stretch) or a block the source marks
  as following lost samples is fixed at once by inserting silence or dropping samples;
- a small, slowly growing one (clock skew) is measured through a low-pass filter (time
  constant ``tau``, which averages out callback jitter) and absorbed by stretching or
  squeezing a block by at most ``max_stretch`` (2 %, a third of a semitone, for a few
  blocks at a time; enough to follow a 1 % clock error).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from app.recorder.clock import RecordingClock
from app.recorder.sources import AudioBlock

Samples = npt.NDArray[np.float32]


def stretch(samples: Samples, length: int) -> Samples:
    """Resample ``samples`` to ``length`` samples by linear interpolation."""
    if length == len(samples) or len(samples) < 2:
        return samples
    x = np.linspace(0, len(samples) - 1, length)
    return np.interp(x, np.arange(len(samples)), samples).astype(np.float32)


class AudioAligner:
    """Turns timestamped blocks into one continuous sample stream on the recording clock."""

    def __init__(
        self,
        clock: RecordingClock,
        sample_rate: int = 48000,
        *,
        tau: float = 0.25,
        deadband: float = 0.001,
        max_stretch: float = 0.02,
        gap: float = 0.1,
    ) -> None:
        self.clock = clock
        self.rate = sample_rate
        self.tau = tau
        self.deadband = deadband * sample_rate
        self.max_stretch = max_stretch
        self.gap = gap * sample_rate
        self.written = 0
        #: Never write beyond this many samples (the maximum duration), if set.
        self.limit: int | None = None
        self.inserted = 0
        self.dropped = 0
        self.stretched = 0
        self._error = 0.0  # low-passed (expected position - written), in samples
        self._placed_any = False
        self.latest_host_end = -math.inf

    def push(self, block: AudioBlock) -> list[Samples]:
        """The sample arrays to append to the audio track, in order."""
        samples = block.samples
        if block.sample_rate != self.rate:
            samples = stretch(samples, round(len(samples) * self.rate / block.sample_rate))
        n = len(samples)
        self.latest_host_end = max(self.latest_host_end, block.t + n / self.rate)
        out: list[Samples] = []
        for seg in self.clock.segments():
            i0 = max(0, math.ceil((seg.host_start - block.t) * self.rate))
            i1 = n
            if math.isfinite(seg.host_end):
                i1 = min(n, math.ceil((seg.host_end - block.t) * self.rate))
            if i1 <= i0:
                continue
            rec_start = seg.rec_start + (block.t + i0 / self.rate - seg.host_start)
            if math.isfinite(seg.host_end):
                # Never write past the end of a closed segment (the paused/stopped point).
                seg_end_rec = seg.rec_start + (seg.host_end - seg.host_start)
                max_len = max(0, round((seg_end_rec - rec_start) * self.rate))
                i1 = min(i1, i0 + max_len)
            out.extend(self._place(samples[i0:i1], rec_start, block.discontinuity))
        return out

    def _place(
        self, piece: Samples, rec_start: float, discontinuity: bool = False
    ) -> list[Samples]:
        out: list[Samples] = []
        err = rec_start * self.rate - self.written
        if not self._placed_any or abs(err) > self.gap or discontinuity:
            self._placed_any = True
            self._error = 0.0
            k = round(err)
            if k > 0:
                out.append(np.zeros(k, np.float32))
                self.inserted += k
            elif k < 0:
                drop = min(-k, len(piece))
                piece = piece[drop:]
                self.dropped += drop
        else:
            weight = min(1.0, len(piece) / self.rate / self.tau)
            self._error += (err - self._error) * weight
            if abs(self._error) > self.deadband:
                limit = math.floor(len(piece) * self.max_stretch)
                k = max(-limit, min(limit, round(self._error)))
                if k:
                    piece = stretch(piece, len(piece) + k)
                    self._error -= k
                    self.stretched += k
        if self.limit is not None:
            room = self.limit - self.written - sum(len(p) for p in out)
            piece = piece[: max(0, room)]
        if len(piece):
            out.append(piece)
        self.written += sum(len(p) for p in out)
        return out

    def fill_to(self, total: int) -> Samples:
        """Silence that brings the track to ``total`` samples (end of take, or no mic),
        never past ``limit``: without a mic the clock can run a little past the maximum
        duration before the take is stopped at exactly that duration."""
        if self.limit is not None:
            total = min(total, self.limit)
        k = total - self.written
        if k <= 0:
            return np.zeros(0, np.float32)
        self.written = total
        return np.zeros(k, np.float32)

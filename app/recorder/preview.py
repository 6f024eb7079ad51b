"""The preview: a one-slot latest-frame buffer the UI reads at its own pace.

The capture thread only swaps a reference in (no copy, no wait beyond a tiny lock), so a
slow reader never slows capture; a reader gets the newest frame and its sequence number,
and can tell whether anything new arrived since its last look.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt


class LatestFrame:
    """Holds the most recent frame. ``mirror`` flips it left-right for the reader only."""

    def __init__(self, *, mirror: bool = False) -> None:
        self.mirror = mirror
        self._lock = threading.Lock()
        self._image: npt.NDArray[np.uint8] | None = None
        self._seq = 0

    def put(self, image: npt.NDArray[np.uint8]) -> None:
        with self._lock:
            self._image = image
            self._seq += 1

    @property
    def seq(self) -> int:
        return self._seq

    def get(self) -> tuple[npt.NDArray[np.uint8], int] | None:
        """(image, sequence number) of the newest frame, or None before the first one."""
        with self._lock:
            image, seq = self._image, self._seq
        if image is None:
            return None
        return (np.ascontiguousarray(image[:, ::-1]) if self.mirror else image), seq

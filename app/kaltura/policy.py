"""How big the next upload chunk is, how many go at once, and how long to wait after a failure.

Pure arithmetic on measurements, so it is tested on its own (no network):

- :class:`ChunkPolicy` sizes chunks to take about ``target_seconds`` at the measured per-stream
  rate, clamped to 1-16 MB, and runs chunks in parallel when a round trip's latency, not
  bandwidth, dominates: with latency ``L`` and transfer time ``T`` one stream is busy only
  ``T / (L + T)`` of the time, so ``ceil((L + T) / T)`` streams keep the pipe full. When the
  link is bandwidth-bound, parallel streams only split it, the per-stream rate falls, ``T``
  grows and the policy goes back towards one stream.
- :class:`Backoff` is capped exponential backoff with full jitter (AWS architecture blog,
  "Exponential Backoff And Jitter"): ``uniform(0, min(cap, base * 2**n))``, with a floor so
  a retry never hammers, and honouring a server's Retry-After.
"""

from __future__ import annotations

import math
import random
import threading

MB = 1024 * 1024


class ChunkPolicy:
    """Adaptive chunk size and parallelism from measured chunk timings. Thread-safe."""

    def __init__(
        self,
        *,
        min_chunk: int = 1 * MB,
        max_chunk: int = 16 * MB,
        initial_chunk: int = 2 * MB,
        target_seconds: float = 2.0,
        max_parallel: int = 4,
        smoothing: float = 0.3,
    ) -> None:
        if not 0 < min_chunk <= initial_chunk <= max_chunk:
            raise ValueError("need 0 < min_chunk <= initial_chunk <= max_chunk")
        self.min_chunk = min_chunk
        self.max_chunk = max_chunk
        self.initial_chunk = initial_chunk
        self.target_seconds = target_seconds
        self.max_parallel = max(1, max_parallel)
        self.smoothing = smoothing
        self._lock = threading.Lock()
        #: Bytes per second one stream achieves, excluding the round-trip latency.
        self.stream_rate: float | None = None
        #: Round-trip latency in seconds (smallest observed request time).
        self.latency: float | None = None

    def record_latency(self, seconds: float) -> None:
        """A small request's duration: an upper bound for the round-trip latency."""
        if seconds <= 0:
            return
        with self._lock:
            self.latency = seconds if self.latency is None else min(self.latency, seconds)

    def record_chunk(self, nbytes: int, seconds: float) -> None:
        """A chunk of ``nbytes`` took ``seconds`` from send to answer."""
        if nbytes <= 0 or seconds <= 0:
            return
        with self._lock:
            lat = self.latency or 0.0
            transfer = max(seconds - lat, seconds * 0.05, 1e-6)
            rate = nbytes / transfer
            if self.stream_rate is None:
                self.stream_rate = rate
            else:
                a = self.smoothing
                self.stream_rate = (1 - a) * self.stream_rate + a * rate

    def chunk_size(self) -> int:
        with self._lock:
            if self.stream_rate is None:
                return self.initial_chunk
            want = int(self.stream_rate * self.target_seconds)
        return max(self.min_chunk, min(self.max_chunk, want))

    def parallel(self) -> int:
        size = self.chunk_size()
        with self._lock:
            if self.stream_rate is None or not self.latency:
                return 1
            transfer = size / self.stream_rate
            lat = self.latency
        if transfer <= 0:
            return self.max_parallel
        want = math.ceil((lat + transfer) / transfer - 0.05)
        return max(1, min(self.max_parallel, want))


class Backoff:
    """Capped exponential backoff with full jitter; ``reset()`` after a success. Thread-safe
    (an upload's parallel chunks share one)."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        floor: float = 0.05,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.floor = floor
        self.attempt = 0
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def next_delay(self, retry_after: float | None = None) -> float:
        with self._lock:
            ceiling = min(self.cap, self.base * (2**self.attempt))
            self.attempt = min(self.attempt + 1, 30)
            delay = max(self.floor, self._rng.uniform(0, ceiling))
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def reset(self) -> None:
        with self._lock:
            self.attempt = 0

"""Chunk sizing, parallelism and backoff arithmetic (app.kaltura.policy)."""

from __future__ import annotations

import random

import pytest

from app.kaltura.policy import MB, Backoff, ChunkPolicy


def test_initial_chunk_before_any_measurement() -> None:
    p = ChunkPolicy()
    assert p.chunk_size() == 2 * MB
    assert p.parallel() == 1


def test_chunk_size_follows_throughput_within_1_to_16_mb() -> None:
    slow = ChunkPolicy(target_seconds=2.0)
    slow.record_chunk(100_000, 1.0)  # 100 kB/s -> 200 kB wanted -> clamped up
    assert slow.chunk_size() == 1 * MB
    mid = ChunkPolicy(target_seconds=2.0)
    mid.record_chunk(4 * MB, 1.0)  # 4 MB/s -> 8 MB
    assert mid.chunk_size() == 8 * MB
    fast = ChunkPolicy(target_seconds=2.0)
    fast.record_chunk(64 * MB, 1.0)
    assert fast.chunk_size() == 16 * MB


def test_rate_is_smoothed() -> None:
    p = ChunkPolicy(smoothing=0.5)
    p.record_chunk(4 * MB, 1.0)
    p.record_chunk(2 * MB, 1.0)
    assert p.stream_rate == pytest.approx(3 * MB)


def test_parallel_when_latency_dominates() -> None:
    p = ChunkPolicy(max_parallel=4, target_seconds=2.0)
    p.record_latency(1.0)  # 1 s round trip
    p.record_chunk(2 * MB, 1.5)  # 0.5 s of transfer for 2 MB: 4 MB/s per stream
    # transfer of an 8 MB chunk at 4 MB/s = 2 s; (1 + 2) / 2 = 1.5 -> 2 streams
    assert p.chunk_size() == 8 * MB
    assert p.parallel() == 2
    q = ChunkPolicy(max_parallel=4, target_seconds=0.5, max_chunk=1 * MB, initial_chunk=1 * MB)
    q.record_latency(1.0)
    q.record_chunk(1 * MB, 1.25)  # 4 MB/s; a 1 MB chunk = 0.25 s transfer -> (1+.25)/.25 = 5
    assert q.parallel() == 4  # capped


def test_one_stream_when_bandwidth_bound() -> None:
    p = ChunkPolicy(max_parallel=4)
    p.record_latency(0.002)
    p.record_chunk(2 * MB, 2.0)
    assert p.parallel() == 1


def test_latency_keeps_the_smallest_observation() -> None:
    p = ChunkPolicy()
    p.record_latency(0.5)
    p.record_latency(0.1)
    p.record_latency(0.3)
    assert p.latency == 0.1


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        ChunkPolicy(min_chunk=4 * MB, initial_chunk=2 * MB)


def test_backoff_grows_is_capped_and_jittered() -> None:
    b = Backoff(base=0.5, cap=4.0, floor=0.01, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    ceilings = [min(4.0, 0.5 * 2**i) for i in range(12)]
    assert all(0.01 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 4.0
    assert len(set(delays)) > 6  # jittered, not a fixed ladder
    b.reset()
    assert b.next_delay() <= 0.5


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    b = Backoff(base=0.1, cap=5.0, rng=random.Random(2))
    assert b.next_delay(retry_after=3.0) >= 3.0
    assert b.next_delay(retry_after=60.0) == 5.0

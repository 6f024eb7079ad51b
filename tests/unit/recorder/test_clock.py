import math

import numpy as np
import pytest

from app.recorder.clock import RecordingClock


def test_recording_time_skips_paused_spans() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    assert clock.to_rec(5.0) is None
    clock.start(10.0)
    clock.pause(12.0)
    clock.resume(20.0)
    clock.stop(23.0)
    assert clock.to_rec(9.99) is None
    assert clock.to_rec(11.0) == pytest.approx(1.0)
    assert clock.to_rec(15.0) is None  # paused
    assert clock.to_rec(21.0) == pytest.approx(3.0)
    assert clock.to_rec(23.0) is None  # stopped (end is exclusive)
    assert clock.elapsed(100.0) == pytest.approx(5.0)
    assert clock.to_host(3.0) == pytest.approx(21.0)
    assert clock.to_host(1.5) == pytest.approx(11.5)


def test_vectorized_matches_scalar() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(1.0)
    clock.pause(2.0)
    clock.resume(3.0)
    hosts = np.linspace(0, 5, 101)
    arr = clock.to_rec_array(hosts)
    for h, r in zip(hosts, arr, strict=True):
        scalar = clock.to_rec(float(h))
        assert (scalar is None and math.isnan(r)) or scalar == pytest.approx(r)


def test_wrong_transitions_are_refused() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    with pytest.raises(RuntimeError):
        clock.pause()
    clock.start(0.0)
    with pytest.raises(RuntimeError):
        clock.start(1.0)
    with pytest.raises(RuntimeError):
        clock.resume(1.0)


def test_elapsed_stays_put_while_paused() -> None:
    now = [0.0]
    clock = RecordingClock(now=lambda: now[0])
    clock.start()
    now[0] = 2.0
    clock.pause()
    now[0] = 9.0
    assert clock.elapsed() == pytest.approx(2.0)
    clock.resume()
    now[0] = 10.0
    assert clock.elapsed() == pytest.approx(3.0)

import numpy as np
import pytest

from app.recorder.microphone import ArrivalClock


def test_late_callbacks_do_not_shift_capture_times() -> None:
    clock = ArrivalClock(48000)
    rng = np.random.default_rng(1)
    stamps = []
    for k in range(500):  # 10 ms blocks, 5 s
        true_end = 100.0 + (k + 1) * 0.01
        late = 0.05 if 200 <= k < 210 else float(rng.uniform(0, 0.004))  # a 100 ms hiccup
        stamps.append(clock.stamp(true_end + late, 480) - (100.0 + k * 0.01))
    errors = np.abs(np.array(stamps[20:]))
    assert errors.max() < 0.004  # at most the smallest lateness seen, never the hiccup


def test_follows_a_real_dropout_after_the_window() -> None:
    clock = ArrivalClock(48000, window=1.0)
    for k in range(100):
        clock.stamp(1.0 + (k + 1) * 0.01, 480)
    # 200 ms of samples were lost: from now on every block arrives 0.2 s "later".
    last = 0.0
    for k in range(100, 400):
        last = clock.stamp(1.2 + (k + 1) * 0.01, 480) - (1.2 + k * 0.01)
    assert last == pytest.approx(0.0, abs=1e-6)

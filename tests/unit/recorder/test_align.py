"""The aligner keeps audio on the recording clock whatever the sound card does."""

import numpy as np
import pytest

from app.recorder.align import AudioAligner, stretch
from app.recorder.clock import RecordingClock
from app.recorder.sources import AudioBlock

RATE = 48000


@pytest.mark.parametrize("skew", [0.001, -0.001, 0.01, -0.01])
def test_skew_is_absorbed(skew: float) -> None:
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(0.0)
    aligner = AudioAligner(clock, RATE)
    rng = np.random.default_rng(3)
    n = 0
    true_rate = RATE * (1 + skew)
    worst = 0.0
    while n / true_rate < 30:
        hosts = (n + np.arange(480)) / true_rate
        noise = float(rng.uniform(-0.004, 0.004))
        start_written = aligner.written
        aligner.push(AudioBlock(np.zeros(480, np.float32), float(hosts[0]) + noise, RATE))
        # Where the block's first sample landed vs where the clock says it belongs.
        worst = max(worst, abs(start_written / RATE - hosts[0])) if n / true_rate > 1 else worst
        n += 480
    assert worst < 0.010
    assert (aligner.stretched < 0) == (skew > 0)


def test_late_first_callback_is_filled_with_silence() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(0.0)
    aligner = AudioAligner(clock, RATE)
    chunks = aligner.push(AudioBlock(np.ones(480, np.float32), 1.9, RATE))
    data = np.concatenate(chunks)
    assert len(data) == round(1.9 * RATE) + 480
    assert not data[: round(1.9 * RATE)].any()
    assert aligner.inserted == round(1.9 * RATE)


def test_samples_before_start_and_while_paused_are_dropped() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(1.0)
    clock.pause(2.0)
    clock.resume(3.0)
    aligner = AudioAligner(clock, RATE)
    # One second of samples numbered by their host time, from 0 to 4 s.
    total: list[np.ndarray] = []
    for k in range(400):
        t = k * 0.01
        total.extend(aligner.push(AudioBlock(np.full(480, t, np.float32), t, RATE)))
    data = np.concatenate(total)
    assert len(data) == pytest.approx(2 * RATE, abs=2)
    # The first second holds host times 1..2, the second 3..4: nothing from the pause.
    assert data[: RATE - 480].min() >= 1.0 and data[: RATE - 480].max() < 2.0
    assert data[RATE + 480 :].min() >= 3.0


def test_limit_caps_the_track() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(0.0)
    aligner = AudioAligner(clock, RATE)
    aligner.limit = 1000
    aligner.push(AudioBlock(np.zeros(4800, np.float32), 0.0, RATE))
    assert aligner.written == 1000


def test_fill_to_pads_with_silence() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    aligner = AudioAligner(clock, RATE)
    assert len(aligner.fill_to(100)) == 100
    assert len(aligner.fill_to(50)) == 0


def test_stretch_keeps_ends() -> None:
    x = np.linspace(0, 1, 100).astype(np.float32)
    y = stretch(x, 105)
    assert len(y) == 105 and y[0] == 0 and y[-1] == pytest.approx(1)


def test_silence_never_runs_past_the_maximum_duration() -> None:
    """Without a microphone the encoder fills silence up to the clock, which can run a
    little past the maximum before the take is stopped at exactly that duration."""
    aligner = AudioAligner(RecordingClock(now=lambda: 0.0), 48000)
    aligner.limit = 2 * 48000
    assert len(aligner.fill_to(96_000 + 458)) == 96_000
    assert len(aligner.fill_to(97_000)) == 0

"""The synthetic devices: beeps on whole seconds, skewed sample clocks, test patterns."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from app.errors import DeviceError
from app.recorder.clock import RecordingClock
from app.recorder.sources import AudioBlock
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone, parse_skew


def test_beep_starts_on_whole_recording_seconds() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    clock.start(10.0)
    mic = SyntheticMicrophone()
    mic.attach_clock(clock)
    hosts = 10.0 + np.arange(3 * 48000) / 48000
    x = mic.samples(hosts)
    loud = np.abs(x) > 0.1
    onsets = [i for i in range(1, len(x)) if loud[i] and not loud[max(0, i - 4800) : i].any()]
    assert [round(i / 48000, 3) for i in onsets] == [0.0, 1.0, 2.0]
    assert np.abs(x[int(0.2 * 48000) : int(0.9 * 48000)]).max() < 0.02  # quiet noise between


def test_no_beep_before_the_take_or_while_paused() -> None:
    clock = RecordingClock(now=lambda: 0.0)
    mic = SyntheticMicrophone()
    mic.attach_clock(clock)
    assert np.abs(mic.samples(np.arange(48000) / 48000)).max() < 0.02
    clock.start(0.0)
    clock.pause(0.5)
    assert np.abs(mic.samples(1.0 + np.arange(48000) / 48000)).max() < 0.02


def test_camera_white_frame_on_whole_seconds_only_for_the_pattern() -> None:
    cam = SyntheticCamera()
    cam.open(640, 360, 30)
    assert cam.draw(30, 30, 30).min() == 255
    assert cam.draw(31, 31, 30).mean() < 200
    assert cam.draw(30, None, 30).mean() < 200  # not recording: no sync marks
    black = SyntheticCamera(pattern="black")
    black.open(640, 360, 30)
    assert black.draw(30, 30, 30).max() == 0


def test_camera_picks_the_nearest_size() -> None:
    fmt = SyntheticCamera().open(1000, 700, 30)
    assert (fmt.width, fmt.height) == (960, 540) and "unsupported" in fmt.note


@pytest.mark.parametrize(("text", "value"), [("+0.1%", 0.001), ("-1%", -0.01), ("0.002", 0.002)])
def test_parse_skew(text: str, value: float) -> None:
    assert parse_skew(text) == pytest.approx(value)


def test_parse_skew_refuses_words() -> None:
    with pytest.raises(DeviceError, match="not a number"):
        parse_skew("fast")


def test_sample_clock_runs_fast_by_the_skew() -> None:
    """Blocks are stamped on the microphone's own clock: at +1 % skew, 480 samples span
    9.901 ms of host time instead of 10 ms. Deterministic: the host clock the microphone
    reads is always past the next block, so it never waits."""
    blocks: list[AudioBlock] = []
    clock = iter([0.0])

    def now() -> float:
        return next(clock, 1e9)  # t0 = 0, then every block is already due

    mic = SyntheticMicrophone(skew=0.01, now=now)
    enough = threading.Event()

    def on_block(block: AudioBlock) -> None:
        blocks.append(block)
        if len(blocks) == 101:
            mic.stop()  # from its own thread: it stops after this block
            enough.set()

    mic.start(on_block, lambda _: None)
    assert enough.wait(10)
    mic.stop()  # joins the thread
    assert len(blocks) == 101
    spacing = [b.t - a.t for a, b in itertools.pairwise(blocks)]
    assert spacing == pytest.approx([480 / 48480] * 100, abs=1e-9)
    assert blocks[-1].t - blocks[0].t == pytest.approx(100 * 480 / 48480, abs=1e-9)
    # The effect is 1 % of 1 s = 10 ms over these 100 blocks, a million times the tolerance.
    assert abs((blocks[-1].t - blocks[0].t) - 1.0) > 0.0099

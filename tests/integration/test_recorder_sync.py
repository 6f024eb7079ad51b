"""A/V sync after three pause/resume cycles with an exaggerated 1 % microphone clock error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.recorder import media, sync
from app.recorder.recorder import Recorder
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone
from tests.helpers import wait_until

OFFSET = 1024 / 48000


@pytest.mark.slow
def test_sync_holds_after_three_pauses_with_one_percent_skew(tmp_path: Path) -> None:
    skew = 0.01  # the benchmark covers -0.1 % and +0.1 % over 10 minutes
    path = tmp_path / "paused.mp4"
    mic = SyntheticMicrophone(skew=skew, jitter=0.01)
    # A 3 s video queue: this test is about sync, so a stall of this busy machine must not
    # drop frames (dropping is tested in tests/integration/recorder/test_recorder.py).
    rec = Recorder(path, SyntheticCamera(), mic, preset="480p", max_seconds=20.0,
                   video_queue_frames=90)  # fmt: skip
    rec.start()
    assert rec.wait_started(10)
    for cycle in range(3):
        # Pause at odd instants so pauses cut beeps and GOPs in the middle.
        wait_until(lambda c=cycle: rec.elapsed >= 5.0 * (c + 1) + 0.37, timeout=30)
        assert not rec.done
        rec.pause()
        time.sleep(0.8 + 0.3 * cycle)
        rec.resume()
    result = rec.wait(30)
    assert result.stop_reason == "max_duration"
    assert result.duration == pytest.approx(20.0)
    assert result.dropped_frames == 0
    check = media.check_playable(path)
    assert check.playable
    assert abs(check.video_end - OFFSET - 20.0) < 1 / 30
    assert abs(check.audio_end - OFFSET - 20.0) < 0.03
    report = sync.analyze(path)
    # One white frame per whole second 1..19 (a pause may swallow the one it cuts).
    assert len(report.pairs) >= 16
    offsets_ms = [round(p.offset * 1000, 1) for p in report.pairs]
    assert report.max_abs_offset is not None and report.max_abs_offset <= 0.020, offsets_ms
    assert report.start_offset is not None and abs(report.start_offset) <= 0.020
    assert report.end_offset is not None and abs(report.end_offset) <= 0.020
    # The clock error was corrected (samples squeezed or stretched), not ignored.
    assert (result.audio_stretched < 0) == (skew > 0)
    assert abs(result.audio_stretched) > 0.005 * 20 * 48000

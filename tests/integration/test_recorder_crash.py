"""Crash safety of ``vmsg record``: kill -9 leaves a playable file that recovery finalizes,
and Ctrl+C (SIGINT) stops cleanly with a final file and a JSON summary."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.recorder import media, recovery, sidecar
from tests.helpers import posix_signals

STARTED = "recording (Ctrl+C to stop)"


def start_recording(path: Path) -> tuple[subprocess.Popen[str], float]:
    """Start ``vmsg record`` and return (process, monotonic time the clock started)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "record", "-o", str(path), "--camera", "synthetic",
         "--mic", "synthetic:skew=+0.1%,jitter=5ms", "--preset", "480p"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if STARTED in line:
            return proc, time.monotonic()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"the recorder did not start: {proc.communicate()}")


def kill_trial(path: Path, after: float) -> dict[str, float]:
    """kill -9 a recording ``after`` seconds in; check the file and recover it."""
    proc, started = start_recording(path)
    time.sleep(after)
    elapsed = time.monotonic() - started
    proc.kill()  # SIGKILL; TerminateProcess on Windows
    proc.communicate()
    before = media.check_playable(path)
    assert before.playable, before.errors
    # What is not on disk yet is the GOP being encoded (1 s), the video queue (0.5 s), and
    # how far the encoder lags on this busy machine (allowed: 0.5 s).
    assert before.duration >= elapsed - 2.0, (before.duration, elapsed)
    takes = recovery.find_recoverable(path.parent)
    assert [t.video for t in takes] == [path]
    state = recovery.finalize(takes[0])
    after_check = media.check_playable(path)
    assert state.state == "recovered" and after_check.playable
    assert after_check.duration >= before.duration - 0.05  # recovery loses nothing playable
    assert [b.type for b in media.top_level_boxes(path)][-1] == "mfra"
    return {"elapsed": elapsed, "playable": before.duration, "recovered": after_check.duration}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_keeps_all_but_the_last_gop(tmp_path: Path, seed: int) -> None:
    after = random.Random(seed).uniform(1.5, 4.0)
    kill_trial(tmp_path / f"kill{seed}.mp4", after)


@posix_signals
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_cleanly(tmp_path: Path, name: str) -> None:
    """Ctrl+C, a logout (SIGHUP) or a system shutdown (SIGTERM) all end the take cleanly."""
    path = tmp_path / "int.mp4"
    proc, started = start_recording(path)
    time.sleep(2.2)
    proc.send_signal(getattr(signal, name))
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stop_reason"] == "user" and summary["state"] == "final"
    assert 2.0 <= summary["duration"] <= elapsed + 0.1
    assert summary["dropped_frames"] == 0
    assert sidecar.read_state(path).state == "final"
    check = media.check_playable(path)
    assert check.playable and abs(check.video_end - summary["duration"]) < 0.1
    assert [b.type for b in media.top_level_boxes(path)][-1] == "mfra"
    assert recovery.find_recoverable(tmp_path) == []

import numpy as np

from app.recorder.events import (
    AudioLevel,
    CameraBlack,
    CameraFrozen,
    CameraStalled,
    MicClipping,
    MicSilent,
    RecorderEvent,
)
from app.recorder.health import CameraHealth, MicrophoneHealth, dbfs


def run_mic(signal: np.ndarray, seconds: float, platform: str = "linux") -> list[RecorderEvent]:
    events: list[RecorderEvent] = []
    health = MicrophoneHealth(events.append, lambda t: t, platform=platform)
    block = 480
    for k in range(int(seconds * 100)):
        health.feed(signal[:block].astype(np.float32), k * 0.01, 48000)
    return events


def test_level_meter_runs_at_least_20_hz() -> None:
    events = run_mic(np.full(480, 0.1), 2.0)
    levels = [e for e in events if isinstance(e, AudioLevel)]
    assert len(levels) >= 40
    assert abs(levels[-1].peak_dbfs - dbfs(0.1)) < 0.01
    assert abs(levels[-1].rms_dbfs - (-20.0)) < 0.01


def test_silence_is_reported_after_three_seconds_only() -> None:
    assert not [e for e in run_mic(np.zeros(480), 2.5) if isinstance(e, MicSilent)]
    silent = [e for e in run_mic(np.zeros(480), 3.5) if isinstance(e, MicSilent)]
    assert len(silent) == 1 and silent[0].seconds >= 3.0
    assert "silent" in silent[0].message


def test_exact_zeros_on_macos_and_windows_are_a_permission_problem() -> None:
    for platform, page in (("darwin", "Privacy & Security > Microphone"),
                           ("win32", "Privacy & security > Microphone")):  # fmt: skip
        silent = [e for e in run_mic(np.zeros(480), 3.5, platform) if isinstance(e, MicSilent)]
        assert len(silent) == 1 and silent[0].denied
        assert "not allowed" in silent[0].message and page in silent[0].message
        assert "muted" not in silent[0].message


def test_near_silence_is_a_mute_even_where_zeros_mean_denied() -> None:
    hiss = np.random.default_rng(2).standard_normal(480) * 10 ** (-90 / 20)  # a muted mic
    silent = [e for e in run_mic(hiss, 3.5, "darwin") if isinstance(e, MicSilent)]
    assert len(silent) == 1 and not silent[0].denied and "muted" in silent[0].message


def test_exact_zeros_on_linux_are_a_mute() -> None:
    silent = [e for e in run_mic(np.zeros(480), 3.5, "linux") if isinstance(e, MicSilent)]
    assert len(silent) == 1 and not silent[0].denied and "muted" in silent[0].message


def test_quiet_but_not_silent_is_fine() -> None:
    noise = np.random.default_rng(1).standard_normal(480) * 10 ** (-50 / 20)
    assert not [e for e in run_mic(noise, 4) if isinstance(e, MicSilent)]


def test_clipping_is_reported_and_throttled() -> None:
    clips = [e for e in run_mic(np.ones(480), 3.0) if isinstance(e, MicClipping)]
    assert 1 <= len(clips) <= 2


def frames(image: np.ndarray, seconds: float, fps: int = 30) -> list[RecorderEvent]:
    events: list[RecorderEvent] = []
    health = CameraHealth(events.append, lambda t: t)
    for k in range(int(seconds * fps)):
        health.feed(image, k / fps)
    return events


def test_black_camera() -> None:
    events = frames(np.zeros((72, 128, 3), np.uint8), 2.5)
    assert [type(e) for e in events] == [CameraBlack]


def test_frozen_camera() -> None:
    img = np.random.default_rng(1).integers(30, 200, (72, 128, 3)).astype(np.uint8)
    events = frames(img, 2.5)
    assert [type(e) for e in events] == [CameraFrozen]


def test_moving_picture_is_healthy() -> None:
    events: list[RecorderEvent] = []
    health = CameraHealth(events.append, lambda t: t)
    rng = np.random.default_rng(2)
    for k in range(90):
        health.feed(rng.integers(30, 200, (72, 128, 3)).astype(np.uint8), k / 30)
    health.check_stall(3.0)
    assert events == []


def test_stall_is_reported_once() -> None:
    events: list[RecorderEvent] = []
    health = CameraHealth(events.append, lambda t: t)
    health.feed(np.full((32, 32, 3), 100, np.uint8), 0.0)
    health.check_stall(1.0)
    health.check_stall(2.5)
    health.check_stall(3.5)
    assert [type(e) for e in events] == [CameraStalled]

"""The recorder end to end with synthetic sources (short real-time takes)."""

from __future__ import annotations

import errno
import queue
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest

from app.errors import RecordingError
from app.recorder import events as ev
from app.recorder import media, sidecar, sync
from app.recorder.clock import RecordingClock
from app.recorder.muxer import Mp4Writer
from app.recorder.presets import Preset
from app.recorder.recorder import Recorder
from app.recorder.sources import (
    STANDARD_SIZES,
    CameraFormat,
    FrameSink,
    LostSink,
    VideoFrame,
    nearest_size,
)
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone
from tests.helpers import wait_until

OFFSET = 1024 / 48000


def record(path: Path, seconds: float, **kw: Any) -> tuple[Any, list[ev.RecorderEvent]]:
    got: list[ev.RecorderEvent] = []
    camera = kw.pop("camera", None) or SyntheticCamera()
    mic = kw.pop("mic", "default")
    mic = SyntheticMicrophone() if mic == "default" else mic
    rec = Recorder(path, camera, mic, preset=kw.pop("preset", "480p"), max_seconds=seconds,
                   on_event=got.append, **kw)  # fmt: skip
    rec.start()
    result = rec.wait(seconds + 20)
    return result, got


def test_take_is_fragmented_h264_aac_in_sync(tmp_path: Path) -> None:
    path = tmp_path / "take.mp4"
    result, got = record(path, 3.0, mic=SyntheticMicrophone(skew=0.001, jitter=0.005))
    assert result.state == "final" and result.stop_reason == "max_duration"
    assert result.duration == pytest.approx(3.0, abs=1e-6)
    assert result.frames == 90 and result.dropped_frames == 0
    assert result.audio_samples == 3 * 48000
    info = media.probe(path)
    assert (info.video_codec, info.audio_codec, info.width, info.height) == (
        "h264",
        "aac",
        854,
        480,
    )
    assert info.has_moof
    assert abs(info.duration - OFFSET - 3.0) < 1 / 30
    report = sync.analyze(path)
    assert len(report.pairs) == 2
    assert report.max_abs_offset is not None and report.max_abs_offset <= 0.020
    kinds = [e.kind for e in got if not isinstance(e, ev.AudioLevel)]
    assert kinds[0] == "Started" and kinds[-1] == "Stopped"
    levels = [e for e in got if isinstance(e, ev.AudioLevel)]
    assert len(levels) >= 20 * 3
    state = sidecar.read_state(path)
    assert state.state == "final" and state.duration == pytest.approx(3.0)
    grew = [e.bytes for e in got if isinstance(e, ev.FileGrew)]
    assert len(grew) >= 2 and grew == sorted(grew) and grew[-1] == path.stat().st_size
    # Each reported size ends on a box boundary: the bytes before it never change again.
    ends = {b.offset + b.size for b in media.top_level_boxes(path)}
    assert set(grew) <= ends


def test_mic_none_still_writes_a_silent_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    result, _ = record(path, 2.0, mic=None)
    assert result.microphone == "none" and result.audio_samples == 2 * 48000
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    assert len(audio) >= 2 * 48000 and np.abs(audio).max() < 1e-3
    assert media.check_playable(path).playable


def test_pause_removes_the_span_from_both_tracks(tmp_path: Path) -> None:
    path = tmp_path / "paused.mp4"
    got: list[ev.RecorderEvent] = []
    rec = Recorder(path, SyntheticCamera(), SyntheticMicrophone(skew=0.01), preset="480p",
                   on_event=got.append)  # fmt: skip
    rec.start()
    assert rec.wait_started(5)
    wait_until(lambda: rec.elapsed >= 1.3, timeout=10)
    rec.pause()
    assert rec.state == "paused"
    paused_at = rec.elapsed
    time.sleep(1.0)  # the span under test: a second of wall time while paused
    assert rec.elapsed == paused_at  # the recording clock stood still
    with pytest.raises(RecordingError):
        rec.pause()
    rec.resume()
    wait_until(lambda: rec.elapsed >= paused_at + 1.3, timeout=10)
    result = rec.stop()
    pause = next(e for e in got if isinstance(e, ev.Paused))
    resume = next(e for e in got if isinstance(e, ev.Resumed))
    stop = next(e for e in got if isinstance(e, ev.Stopped))
    assert resume.t == pytest.approx(pause.t, abs=1e-3)  # no time passed in the take
    assert result.duration == pytest.approx(stop.t, abs=1e-6)
    assert result.duration >= paused_at + 1.3
    check = media.check_playable(path)
    assert abs(check.video_end - OFFSET - result.duration) < 0.05
    assert abs(check.audio_end - OFFSET - result.duration) < 0.05
    # A 1 % fast microphone drifts 10 ms a second: the aligner had to shorten the audio.
    assert result.audio_stretched < 0
    report = sync.analyze(path)
    assert len(report.pairs) == 2
    assert report.max_abs_offset is not None and report.max_abs_offset <= 0.020


def test_countdown_then_start_and_cancel_during_countdown(tmp_path: Path) -> None:
    path = tmp_path / "c.mp4"
    got: list[ev.RecorderEvent] = []
    ticking = threading.Event()

    def on_event(event: ev.RecorderEvent) -> None:
        got.append(event)
        if isinstance(event, ev.CountdownTick):
            ticking.set()

    rec = Recorder(path, SyntheticCamera(), SyntheticMicrophone(), preset="480p", countdown=3,
                   on_event=on_event)  # fmt: skip
    rec.start()
    assert ticking.wait(5)
    assert rec.state == "countdown"
    result = rec.stop()
    assert result.state == "cancelled" and result.duration == 0
    assert not path.exists()
    assert sidecar.read_state(path).state == "cancelled"
    assert any(isinstance(e, ev.CountdownTick) and e.remaining == 3 for e in got)
    assert not any(isinstance(e, ev.Started) for e in got)


def test_countdown_delays_the_clock(tmp_path: Path) -> None:
    result, got = record(tmp_path / "c.mp4", 1.0, countdown=1)
    names = [e.kind for e in got if not isinstance(e, ev.AudioLevel)]
    assert names.index("CountdownTick") < names.index("Started")
    assert result.duration == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["camera", "microphone"])
def test_unplugged_device_keeps_what_was_recorded(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "lost.mp4"
    camera = SyntheticCamera(lost_after=2.0) if kind == "camera" else SyntheticCamera()
    mic = SyntheticMicrophone(lost_after=2.0) if kind == "microphone" else SyntheticMicrophone()
    result, got = record(path, 10.0, camera=camera, mic=mic)
    assert result.stop_reason == "device_lost"
    lost = [e for e in got if isinstance(e, ev.DeviceLost)]
    assert len(lost) == 1 and lost[0].device_kind == kind
    assert "kept" in lost[0].message
    assert 1.0 < result.duration < 2.5
    check = media.check_playable(path)
    assert check.playable and check.video_end > 1.0
    assert sidecar.read_state(path).state == "final"


def test_disk_running_full_stops_cleanly(tmp_path: Path) -> None:
    started = time.monotonic()

    def disk_usage(_: str) -> SimpleNamespace:
        full = time.monotonic() - started > 2.0
        return SimpleNamespace(free=50 * 2**20 if full else 10 * 2**30)

    path = tmp_path / "disk.mp4"
    result, got = record(path, 20.0, disk_usage=disk_usage)
    assert result.stop_reason == "disk_full"
    assert any(isinstance(e, ev.DiskSpaceLow) and e.stopping for e in got)
    assert media.check_playable(path).playable


def test_refused_before_recording(tmp_path: Path) -> None:
    def make(path: Path, **kw: Any) -> Recorder:
        return Recorder(path, SyntheticCamera(), SyntheticMicrophone(), preset="480p", **kw)

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(RecordingError, match="does not exist"):
        make(tmp_path / "missing" / "x.mp4").start()
    with pytest.raises(RecordingError, match="does not exist"):
        make(a_file / "x.mp4").start()
    with pytest.raises(RecordingError, match="is a folder"):
        make(tmp_path).start()
    existing = tmp_path / "old.mp4"
    existing.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="already exists"):
        make(existing).start()
    assert existing.read_bytes() == b"precious"
    tiny = SimpleNamespace(free=20 * 2**20)
    with pytest.raises(RecordingError, match="Too little disk space"):
        make(tmp_path / "new.mp4", disk_usage=lambda _: tiny).start()
    assert not (tmp_path / "new.mp4").exists()
    assert not list(tmp_path.glob("*.take.json"))
    with pytest.raises(RecordingError):
        make(tmp_path / "n.mp4", countdown=-1)
    with pytest.raises(RecordingError, match="frames per second"):
        make(tmp_path / "n.mp4", fps=500)
    with pytest.raises(RecordingError, match="preset"):
        Recorder(tmp_path / "n.mp4", SyntheticCamera(), None, preset="8k")
    with pytest.raises(RecordingError, match="never started"):
        make(tmp_path / "n.mp4").stop()


def test_unsupported_size_uses_the_nearest_and_says_so(tmp_path: Path) -> None:
    result, got = record(tmp_path / "s.mp4", 1.0, size=(1000, 700))
    w, h = nearest_size(1000, 700, STANDARD_SIZES)
    assert (result.width, result.height) == (w, h)
    assert media.probe(tmp_path / "s.mp4").width == w
    notes = [e for e in got if isinstance(e, ev.FormatNote)]
    assert notes and f"{w}x{h}" in notes[0].message
    assert result.notes == [notes[0].message]


class SlowWriter(Mp4Writer):
    """An encoder that cannot keep up (as on an overloaded machine)."""

    def write_video(self, image: Any, rec_t: float) -> bool:
        time.sleep(0.08)
        return super().write_video(image, rec_t)


def test_encoder_falling_behind_drops_video_but_keeps_all_audio(tmp_path: Path) -> None:
    def factory(path: Path, preset: Preset, rate: int) -> Mp4Writer:
        return SlowWriter(path, preset, sample_rate=rate)

    path = tmp_path / "slow.mp4"
    result, got = record(path, 3.0, writer_factory=factory, video_queue_frames=4)
    assert result.dropped_frames > 20
    assert result.frames + result.dropped_frames == pytest.approx(90, abs=6)
    assert result.audio_samples == 3 * 48000
    assert any(isinstance(e, ev.FrameDropRateHigh) for e in got)
    assert media.check_playable(path).playable


def test_black_camera_and_silent_microphone_are_reported(tmp_path: Path) -> None:
    result, _ = record(
        tmp_path / "bad.mp4", 3.5, camera=SyntheticCamera(pattern="black"),
        mic=SyntheticMicrophone(level="silent"),
    )  # fmt: skip
    kinds = {e.kind for e in result.health_events}
    assert {"CameraBlack", "MicSilent"} <= kinds


def test_preview_is_a_latest_frame_slot(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "p.mp4", SyntheticCamera(), None, preset="480p", mirror_preview=True)
    rec.start()
    assert rec.wait_started(5)
    wait_until(lambda: rec.preview.get() is not None, timeout=5)
    first = rec.preview.get()
    assert first is not None
    wait_until(lambda: rec.preview.seq > first[1], timeout=5)  # a newer frame replaced it
    second = rec.preview.get()
    rec.stop()
    assert second is not None
    assert second[1] > first[1]
    assert first[0].shape == (480, 854, 3)


class FillingDisk(Mp4Writer):
    """A writer on a disk that fills up: once the file passes ``limit`` bytes, the next
    write leaves half a fragment behind and fails with ENOSPC, as a full disk does."""

    limit = 150_000

    def write_video(self, image: Any, rec_t: float) -> bool:
        if self.bytes_on_disk() > self.limit:
            with open(self.path, "ab") as f:
                f.write(b"\x00\x00\x40\x00moof" + b"\x01" * 3000)  # a torn fragment
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write_video(image, rec_t)


def test_a_disk_that_fills_during_the_take_keeps_every_complete_second(
    tmp_path: Path,
) -> None:
    path = tmp_path / "full.mp4"

    def factory(p: Path, preset: Preset, rate: int) -> Mp4Writer:
        return FillingDisk(p, preset, sample_rate=rate)

    result, got = record(path, 30.0, writer_factory=factory)
    assert result.stop_reason == "disk_full" and result.state == "recovered"
    full = [e for e in got if isinstance(e, ev.DiskSpaceLow) and e.stopping]
    assert len(full) == 1 and "disk is full" in full[0].message  # one clear message
    check = media.check_playable(path)
    assert check.playable and not check.errors
    ends = media.top_level_boxes(path)
    assert all(b.complete for b in ends)  # the torn fragment is gone
    assert result.duration == pytest.approx(check.video_end - OFFSET, abs=0.1)
    assert 1.0 <= result.duration < 30.0
    state = sidecar.read_state(path)
    assert state.state == "recovered" and state.duration == pytest.approx(result.duration)


def test_a_final_state_file_that_cannot_be_written_is_said_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program holds the state file at the end of the take (Windows: antivirus, the
    indexer): the take is complete, and the person is told its state file lags behind."""
    from app import system

    real = system.replace_file

    def held_at_the_end(src: Path, dst: Path, **kw: Any) -> None:
        if dst.name.endswith(".take.json") and b'"final"' in Path(src).read_bytes():
            raise system.ReplaceFailed(13, f"could not replace {dst} (another program has it open)")
        real(src, dst, **kw)

    monkeypatch.setattr(system, "replace_file", held_at_the_end)
    path = tmp_path / "take.mp4"
    result, _ = record(path, 1.0)
    assert result.state == "final"
    assert any("state file" in n and "could not be updated" in n for n in result.notes)
    assert media.check_playable(path).playable
    assert sidecar.read_state(path).state == "recording"  # what the next start will check


class LateCamera:
    """The synthetic camera, its frames reaching the recorder ``late`` seconds after they
    were captured (a slow USB camera, a busy machine), stamped with their capture time."""

    def __init__(self, late: float) -> None:
        self.inner = SyntheticCamera()
        self.name = self.inner.name
        self.late = late
        self._frames: queue.Queue[VideoFrame] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach_clock(self, clock: RecordingClock) -> None:
        self.inner.attach_clock(clock)

    def open(self, width: int, height: int, fps: float) -> CameraFormat:
        return self.inner.open(width, height, fps)

    def start(self, on_frame: FrameSink, on_lost: LostSink) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._deliver, args=(on_frame,), daemon=True)
        self._thread.start()
        self.inner.start(self._frames.put, on_lost)

    def _deliver(self, on_frame: FrameSink) -> None:
        while not self._stop.is_set():
            try:
                frame = self._frames.get(timeout=0.01)
            except queue.Empty:
                continue
            wait = frame.t + self.late - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            on_frame(frame)

    def stop(self) -> None:
        self.inner.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def test_frames_that_arrive_after_the_stop_are_still_in_the_take(tmp_path: Path) -> None:
    # The take ends when its clock stops, but the camera's last frames are still on their
    # way: the recorder waits for a frame captured after the stop before it closes the file.
    path = tmp_path / "take.mp4"
    result, _ = record(path, 2.0, camera=LateCamera(0.3))
    assert result.stop_reason == "max_duration"
    assert (result.frames, result.dropped_frames) == (60, 0)
    assert abs(media.probe(path).duration - OFFSET - 2.0) < 1 / 30

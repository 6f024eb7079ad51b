"""The review player on real files: probe, frame-accurate seeks, timed playback, the range,
damaged files, closing, and playing without a sound card.

Most tests run without sound (``audio=False``) so they behave the same on a machine with a
sound server; the one about a missing device names a device that cannot exist. Timing tests
drive a manual clock, so they check what is shown at a given time without sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from app.errors import Action, RecordingError
from app.recorder.muxer import AAC_PRIMING
from app.recorder.player import (
    Player,
    PlayerEnded,
    PlayerEvent,
    PlayerPosition,
    PlayerStateChanged,
)
from app.sandbox.testing import write_mp4
from tests.helpers import wait_until

from .conftest import MakeTake

#: Take time = file time less the AAC priming shift the muxer gives both tracks.
OFFSET = AAC_PRIMING / 48000
FPS = 10
FRAMES = 10

OpenPlayer = Callable[..., Player]


class ManualClock:
    """A wall clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Events:
    """What the player reported (it calls from its worker thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[PlayerEvent] = []

    def __call__(self, event: PlayerEvent) -> None:
        with self._lock:
            self._items.append(event)

    @property
    def items(self) -> list[PlayerEvent]:
        with self._lock:
            return list(self._items)

    def count(self, kind: type[PlayerEvent], **fields: object) -> int:
        return sum(
            1
            for e in self.items
            if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
        )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """1 s at 10 fps, H.264 + AAC; frame ``i`` is green at level 25 * i (write_mp4's pattern)."""
    return write_mp4(tmp_path / "clip.mp4", seconds=FRAMES / FPS, fps=FPS)


@pytest.fixture
def open_player() -> Iterator[OpenPlayer]:
    players: list[Player] = []

    def make(path: Path, **kw: object) -> Player:
        kw.setdefault("audio", False)
        player = Player(path, **kw)  # type: ignore[arg-type]
        player.open()
        players.append(player)
        return player

    yield make
    for player in players:
        player.close()


def clip_time(i: int) -> float:
    """Take time of frame ``i`` of the clip (the first frame is at 0)."""
    return max(0.0, i / FPS - OFFSET)


def clip_index(image: npt.NDArray[np.uint8]) -> int:
    """Which clip frame a (BGR) picture is, from its green level."""
    return round(float(image[:, :, 1].mean()) / 25)


def shown(player: Player) -> npt.NDArray[np.uint8]:
    got = player.frame.get()
    assert got is not None
    return got[0]


def seek_and_wait(player: Player, seconds: float) -> npt.NDArray[np.uint8]:
    seq = player.frame.seq
    player.seek(seconds)
    wait_until(lambda: player.frame.seq > seq)
    return shown(player)


def showing(player: Player, seconds: float) -> Callable[[], bool]:
    return lambda: player.frame_time is not None and abs(player.frame_time - seconds) < 1e-6


def test_open_probes_the_take_and_shows_its_first_frame(
    clip: Path, open_player: OpenPlayer
) -> None:
    player = open_player(clip)
    assert player.duration == pytest.approx(1.0 - OFFSET, abs=1e-3)
    assert player.size == (160, 120)
    assert player.fps == FPS
    assert player.has_audio
    assert not player.playing and player.position == 0.0
    assert player.range == (0.0, player.duration)
    image = shown(player)
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8
    assert clip_index(image) == 0 and player.frame_time == 0.0


@pytest.mark.parametrize(
    "targets",
    [
        # forward within the GOP (decoding on), back (from the keyframe), the ends
        [0.5, 0.55, 0.95, 0.2, 0.0, 10.0],
        # exactly on a frame's time, and just before it
        [clip_time(3), clip_time(3) - 0.001, clip_time(7), clip_time(7) - 0.001],
    ],
)
def test_seek_shows_the_last_frame_at_or_before_the_target(
    clip: Path, open_player: OpenPlayer, targets: list[float]
) -> None:
    player = open_player(clip)
    for target in targets:
        image = seek_and_wait(player, target)
        at = min(target, player.duration)
        expected = max(i for i in range(FRAMES) if clip_time(i) <= at + 1e-9)
        assert clip_index(image) == expected, target
        assert player.frame_time == pytest.approx(clip_time(expected), abs=1e-6)
        assert player.position == pytest.approx(at)
        # The picture is the reader's own: contiguous and not a view of a PyAV buffer.
        assert image.flags.c_contiguous and image.flags.owndata


def test_seek_is_frame_accurate_across_the_keyframes_of_a_recorder_take(
    make_take: MakeTake, open_player: OpenPlayer
) -> None:
    path = make_take(2.0)  # 30 fps, a keyframe every second, fragmented MP4
    with av.open(str(path)) as container:
        reference = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(reference) == 60
    player = open_player(path)
    assert player.duration == pytest.approx(2.0, abs=1e-3)
    for target in [1.5, 0.5, 1.0, 1.0 - 0.001, 1.99, 0.04, 1.2, 0.0]:
        image = seek_and_wait(player, target)
        expected = int(target * 30 + 1e-6)  # frame k of a take is at k / 30 s
        diffs = [float(np.abs(image.astype(np.int16) - ref).mean()) for ref in reference]
        # The expected frame matches best, and its neighbours do not (frames on whole
        # seconds are the same white sync flash, so "best" may be shared with them).
        assert diffs[expected] == min(diffs), target
        neighbours = [diffs[k] for k in (expected - 1, expected + 1) if 0 <= k < len(diffs)]
        assert min(neighbours) > diffs[expected] + 1.0, target
        assert player.frame_time == pytest.approx(expected / 30, abs=1e-6)


def test_a_burst_of_seeks_ends_on_the_last_target(clip: Path, open_player: OpenPlayer) -> None:
    player = open_player(clip)
    for k in range(1, 20):
        player.seek(k / 20)
    player.seek(0.45)
    wait_until(showing(player, clip_time(4)))
    assert clip_index(shown(player)) == 4
    assert player.position == pytest.approx(0.45)


def test_play_runs_to_the_end_and_reports_it(clip: Path, open_player: OpenPlayer) -> None:
    events = Events()
    player = open_player(clip, on_event=events)
    player.play()
    assert player.playing
    wait_until(lambda: events.count(PlayerEnded))
    assert not player.playing
    assert player.position == pytest.approx(player.duration)
    assert clip_index(shown(player)) == FRAMES - 1
    items = events.items
    assert items[0] == PlayerStateChanged(True)
    assert items[-3:] == [
        PlayerPosition(player.duration),
        PlayerStateChanged(False),
        PlayerEnded(),
    ]
    positions = [e.seconds for e in items if isinstance(e, PlayerPosition)]
    assert len(positions) >= 3  # about ten a second
    assert positions == sorted(positions)


def test_frames_follow_the_clock_and_pause_stops_it(clip: Path, open_player: OpenPlayer) -> None:
    clock = ManualClock()
    events = Events()
    player = open_player(clip, clock=clock, on_event=events)
    player.play()
    wait_until(lambda: events.count(PlayerStateChanged, playing=True) == 1)
    assert player.position == 0.0
    clock.advance(0.45)
    wait_until(showing(player, clip_time(4)))  # frame 5 is due only at 0.479
    assert clip_index(shown(player)) == 4
    assert player.position == pytest.approx(0.45)

    player.pause()
    assert not player.playing
    wait_until(lambda: events.count(PlayerStateChanged, playing=False) == 1)
    clock.advance(5.0)
    assert player.position == pytest.approx(0.45)

    player.play()
    wait_until(lambda: events.count(PlayerStateChanged, playing=True) == 2)
    clock.advance(0.2)
    wait_until(showing(player, clip_time(6)))
    assert player.position == pytest.approx(0.65)
    assert not events.count(PlayerEnded)


def test_a_range_stops_at_its_end_and_plays_again_from_its_start(
    clip: Path, open_player: OpenPlayer
) -> None:
    clock = ManualClock()
    events = Events()
    player = open_player(clip, clock=clock, on_event=events)
    player.set_range(0.3, 0.6)
    seek_and_wait(player, 0.45)
    player.play()
    wait_until(lambda: events.count(PlayerStateChanged, playing=True) == 1)
    clock.advance(0.3)  # past the end of the range
    wait_until(lambda: events.count(PlayerEnded) == 1)
    assert not player.playing
    assert player.position == pytest.approx(0.6)
    assert player.frame_time == pytest.approx(clip_time(6))  # the last frame before 0.6

    player.play()  # at the end: from the start of the range
    assert player.position == pytest.approx(0.3)
    wait_until(lambda: events.count(PlayerStateChanged, playing=True) == 2)
    wait_until(showing(player, clip_time(3)))
    clock.advance(0.1)
    wait_until(showing(player, clip_time(4)))
    clock.advance(0.5)
    wait_until(lambda: events.count(PlayerEnded) == 2)
    assert player.position == pytest.approx(0.6)


def test_set_range_refuses_an_end_before_the_start(clip: Path, open_player: OpenPlayer) -> None:
    player = open_player(clip)
    with pytest.raises(ValueError, match="before it starts"):
        player.set_range(0.6, 0.3)


def _damaged(kind: str, clip: Path, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.mp4"
    if kind == "truncated":
        data = clip.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "empty":
        path.write_bytes(b"")
    return path  # "missing": never written


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("truncated", "ends in the middle"),
        ("garbage", "damaged or not a video"),
        ("empty", "damaged or not a video"),
        ("missing", "missing"),
    ],
)
def test_an_unplayable_file_raises_recording_error(
    clip: Path, tmp_path: Path, kind: str, says: str
) -> None:
    path = _damaged(kind, clip, tmp_path)
    player = Player(path, audio=False)
    with pytest.raises(RecordingError) as info:
        player.open()
    error = info.value
    assert path.name in error.message and says in error.message
    assert error.hint and error.action is Action.CHOOSE_FILE
    assert not any(t.name == f"player {path.name}" for t in threading.enumerate())
    player.close()  # harmless after a failed open


def test_close_joins_the_worker_and_is_idempotent(clip: Path, open_player: OpenPlayer) -> None:
    events = Events()
    player = open_player(clip, on_event=events)
    name = f"player {clip.name}"
    player.play()
    wait_until(lambda: events.count(PlayerStateChanged, playing=True))
    assert any(t.name == name for t in threading.enumerate())
    player.close()
    assert not any(t.name == name for t in threading.enumerate())
    player.close()
    player.play()  # a closed player ignores its controls
    player.seek(0.5)
    assert not player.playing


def test_without_an_output_device_it_plays_on_the_wall_clock(
    clip: Path, open_player: OpenPlayer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.recorder.player")
    events = Events()
    player = open_player(clip, audio=True, output_device="no-such-device", on_event=events)
    assert player.has_audio and not player.audio_available
    notes = [r for r in caplog.records if r.name == "app.recorder.player"]
    assert any("without sound" in r.getMessage() for r in notes)
    assert all(r.levelno == logging.INFO for r in notes)  # an ERROR record fails the test too
    player.play()
    wait_until(lambda: events.count(PlayerEnded))
    assert player.position == pytest.approx(player.duration)


def test_a_failing_event_handler_does_not_stop_playback(
    clip: Path, open_player: OpenPlayer, allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("player event callback failed")
    seen: list[PlayerEvent] = []

    def handler(event: PlayerEvent) -> None:
        seen.append(event)
        raise RuntimeError("a bug in the UI")

    player = open_player(clip, on_event=handler)
    player.play()
    wait_until(lambda: PlayerEnded() in seen)
    assert not player.playing


def test_frames_wider_than_max_width_are_shrunk(clip: Path, open_player: OpenPlayer) -> None:
    player = open_player(clip, max_width=80)
    assert shown(player).shape == (60, 80, 3)
    assert seek_and_wait(player, 0.5).shape == (60, 80, 3)
    assert player.size == (160, 120)  # the take's own size

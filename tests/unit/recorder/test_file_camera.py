"""The file camera: frames from a video file through PyAV, paced in real time."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from app.errors import DeviceError
from app.recorder.camera import FileCamera
from app.recorder.sources import VideoFrame
from tests.unit.recorder.conftest import write_take


class Clock:
    """A clock that jumps ahead on every look, so pacing never waits."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def _run(camera: FileCamera, *, until: int = 10_000) -> tuple[list[VideoFrame], list[str]]:
    frames: list[VideoFrame] = []
    lost: list[str] = []
    done = threading.Event()

    def on_frame(frame: VideoFrame) -> None:
        frames.append(frame)
        if len(frames) >= until:
            done.set()

    def on_lost(why: str) -> None:
        lost.append(why)
        done.set()

    camera.start(on_frame, on_lost)
    assert done.wait(30)
    camera.stop()
    return frames, lost


def test_a_file_plays_every_frame_once_then_ends(tmp_path: Path) -> None:
    clip = write_take(tmp_path / "clip.mp4", 1.0)
    camera = FileCamera(clip, loop=False, now=Clock())
    fmt = camera.open(1280, 720, 30)
    assert (fmt.width, fmt.height) == (854 - 854 % 2, 480) and fmt.fps == pytest.approx(30)
    assert "854x480" in fmt.note
    frames, lost = _run(camera)
    assert len(frames) == 30 and lost == ["The video file clip.mp4 ended"]
    assert [f.index for f in frames] == list(range(30))
    image = frames[0].image
    assert image.dtype == np.uint8 and image.shape == (480, 854, 3)
    # Paced by the file's own timestamps.
    with av.open(str(clip)) as container:
        times = [f.time for f in container.decode(video=0)]
    assert [f.t - frames[0].t for f in frames] == pytest.approx([t - times[0] for t in times])


def test_a_looping_file_starts_again_at_its_end(tmp_path: Path) -> None:
    clip = write_take(tmp_path / "clip.mp4", 0.5)
    camera = FileCamera(clip, now=Clock())
    camera.open(854, 480, 30)
    frames, lost = _run(camera, until=40)
    assert len(frames) >= 40 and not lost
    # The second pass begins with the file's first picture again.
    assert np.array_equal(frames[15].image, frames[0].image)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot be read as a video"),
        (b"this is not a video at all\n" * 50, "cannot be read as a video"),
    ],
)
def test_a_file_that_is_not_a_video_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(DeviceError, match=message):
        FileCamera(bad).open(854, 480, 30)


def test_a_file_with_sound_only_says_it_has_no_video(tmp_path: Path) -> None:
    sound = tmp_path / "sound.m4a"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for k in range(20):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = k * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(DeviceError, match="has no video"):
        FileCamera(sound).open(854, 480, 30)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="does not exist"):
        FileCamera(tmp_path / "nothing.mp4").open(854, 480, 30)


def test_the_file_camera_needs_no_opencv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's OpenCV has no FFmpeg of its own (build.spec): files go through PyAV."""
    import sys

    clip = write_take(tmp_path / "clip.mp4", 0.3)
    monkeypatch.setitem(sys.modules, "cv2", None)  # "import cv2" raises ImportError
    camera = FileCamera(clip, loop=False, now=Clock())
    camera.open(854, 480, 30)
    frames, lost = _run(camera)
    assert len(frames) == 9 and lost


def test_a_stopped_run_never_comes_back_after_a_restart(tmp_path: Path) -> None:
    """stop() gives up waiting for a thread stuck in its frame sink; when that thread wakes
    after the next start(), it ends instead of delivering frames beside the new run."""
    clip = write_take(tmp_path / "clip.mp4", 0.5)
    camera = FileCamera(clip, now=Clock())
    camera.open(854, 480, 30)
    release = threading.Event()
    old: list[int] = []

    def stuck(frame: VideoFrame) -> None:
        old.append(frame.index)
        release.wait(30)

    camera.start(stuck, lambda _why: None)
    while not old:
        threading.Event().wait(0.01)
    camera.stop()  # gives up after its 2 s join; the thread is still in stuck()
    camera.open(854, 480, 30)
    frames, lost = [], []
    enough = threading.Event()

    def on_frame(frame: VideoFrame) -> None:
        frames.append(frame)
        if len(frames) >= 20:
            enough.set()

    camera.start(on_frame, lost.append)
    release.set()
    assert enough.wait(30)
    camera.stop()
    assert old == [0] and not lost


def test_pictures_are_turned_upright_as_the_file_says() -> None:
    from app.recorder.camera import _upright

    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 0] = 255  # the top-left corner

    class Frame:
        def __init__(self, rotation: int) -> None:
            self.rotation = rotation

        def to_ndarray(self, format: str) -> np.ndarray:
            assert format == "bgr24"
            return image

    assert _upright(Frame(0)) is image
    # FFmpeg's -90 (a quarter turn clockwise to show it): the corner goes top-right.
    turned = _upright(Frame(-90))
    assert turned.shape == (3, 2, 3) and turned[0, 1, 0] == 255 and turned.flags.c_contiguous
    assert _upright(Frame(90))[2, 0, 0] == 255  # counter-clockwise: bottom-left
    assert _upright(Frame(180))[1, 2, 0] == 255

"""Real cameras (OpenCV) and a file camera (frames from a video file via PyAV, for tests).

Backends per OS: Media Foundation then DirectShow on Windows, AVFoundation on macOS, V4L2
on Linux. For 720p and above MJPG is requested first: most USB webcams deliver 1080p30
(and often 720p30) only compressed, raw YUYV tops out at 5-10 fps there. The format the
driver settles on is read back; a different size is reported as the nearest supported one.
A camera that opens but delivers no frame is reported as busy.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import system
from app.errors import Action, DeviceError
from app.recorder.clock import RecordingClock
from app.recorder.sources import CameraFormat, FrameSink, LostSink, VideoFrame

log = logging.getLogger(__name__)

LOST_AFTER_FAILED_READS = 30


def backends() -> list[tuple[str, int]]:
    """(name, OpenCV API id) to try, best first, for this OS."""
    import cv2  # noqa: PLC0415 - heavy import

    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform == "win32":
        return [("MSMF", cv2.CAP_MSMF), ("DSHOW", cv2.CAP_DSHOW)]
    if platform == "darwin":
        return [("AVFOUNDATION", cv2.CAP_AVFOUNDATION)]
    if platform.startswith("linux"):
        return [("V4L2", cv2.CAP_V4L2)]
    return [("ANY", cv2.CAP_ANY)]


def _privacy_hint() -> str:
    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform == "darwin":
        return (
            "Allow camera access in System Settings > Privacy & Security > Camera, and close "
            "other apps that use the camera."
        )
    if platform == "win32":
        return (
            "Allow desktop apps to use the camera in Settings > Privacy & security > Camera, "
            "and close other apps that use it (Teams, Zoom, the Camera app)."
        )
    return "Close other apps that use the camera, or plug it in again."


def _fourcc_text(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\0 ") if text.isprintable() else ""


class OpenCVCamera:
    """A webcam by its index in one OpenCV backend (``api``: "MSMF", "DSHOW",
    "AVFOUNDATION", "V4L2"; "" tries this OS's backends in order).

    Size, rate and (for 720p and above) MJPG are passed when the device is opened, not set
    one by one afterwards: Media Foundation reopens the device for every property changed
    after opening, seconds each. What the device settled on is read back and reported.
    """

    def __init__(
        self,
        index: int,
        *,
        name: str = "",
        api: str = "",
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.name = name or f"camera {index}"
        self.api = api
        self.now = now
        self.backend = ""
        self._cap: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach_clock(self, clock: RecordingClock) -> None:
        """Real cameras ignore the recording clock."""

    def _check_node(self) -> None:
        platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
        if not platform.startswith("linux"):
            return
        node = Path(f"/dev/video{self.index}")
        if not node.exists():
            raise DeviceError(
                f"No camera found at {node}.",
                hint="Connect a camera, or choose another one from the device list.",
            )
        if not os.access(node, os.R_OK | os.W_OK):
            raise DeviceError(
                f"Permission denied for the camera {self.name} ({node}).",
                hint="Add your user to the 'video' group (then log in again).",
            )

    def open(self, width: int, height: int, fps: float) -> CameraFormat:
        import cv2  # noqa: PLC0415

        self._check_node()
        params = [cv2.CAP_PROP_FRAME_WIDTH, width, cv2.CAP_PROP_FRAME_HEIGHT, height]
        params += [cv2.CAP_PROP_FPS, round(fps)]
        if height >= 720:
            params += [cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG")]
        tried = [(n, a) for n, a in backends() if not self.api or n == self.api]
        if self.api and not tried:
            tried = [(self.api, cv2.CAP_ANY)]
        cap = None
        for name, api in tried:
            cap = cv2.VideoCapture(self.index, api, params)
            if not cap.isOpened():
                # Some drivers refuse a property at open; open plainly and ask afterwards.
                cap.release()
                cap = cv2.VideoCapture(self.index, api)
                if cap.isOpened():
                    for prop, value in zip(params[::2], params[1::2], strict=True):
                        cap.set(prop, value)
            if cap.isOpened():
                self.backend = name
                break
            cap.release()
            cap = None
        if cap is None:
            if system.device_access_denied("camera"):
                page = system.privacy_page("camera")[0]
                raise DeviceError(
                    f"Windows does not let desktop apps use the camera {self.name}.",
                    hint=f"Turn on camera access for desktop apps in {page}; then try again.",
                    action=Action.ALLOW_DEVICE,
                    target="camera",
                )
            raise DeviceError(f"The camera {self.name} could not be opened.", hint=_privacy_hint())
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise DeviceError(
                f"The camera {self.name} opens but delivers no pictures; another app may be "
                "using it.",
                hint=_privacy_hint(),
            )
        got_h, got_w = frame.shape[:2]
        got_fps = float(cap.get(cv2.CAP_PROP_FPS) or fps) or fps
        note = ""
        if (got_w, got_h) != (width, height):
            note = f"{width}x{height} is not supported by {self.name}; using {got_w}x{got_h}"
        if abs(got_fps - fps) > 1:
            note = (note + "; " if note else "") + f"camera runs at {got_fps:g} fps"
        fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        delivered = f"{fourcc or 'raw'} {got_w}x{got_h} {got_fps:g} fps through {self.backend}"
        log.info("camera %s delivers %s", self.name, delivered)
        self._cap = cap
        return CameraFormat(got_w, got_h, min(got_fps, fps), note, delivered)

    def start(self, on_frame: FrameSink, on_lost: LostSink) -> None:
        if self._cap is None:
            raise DeviceError(f"The camera {self.name} was started before it was opened.")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_frame, on_lost), name="camera", daemon=True
        )
        self._thread.start()

    def _run(self, on_frame: FrameSink, on_lost: LostSink) -> None:
        failures = 0
        index = 0
        while not self._stop.is_set():
            ok, frame = self._cap.read()
            t = self.now()
            if not ok or frame is None:
                failures += 1
                if failures >= LOST_AFTER_FAILED_READS:
                    on_lost(f"The camera {self.name} stopped delivering pictures (unplugged?)")
                    return
                time.sleep(0.01)
                continue
            failures = 0
            on_frame(VideoFrame(frame, t, index))
            index += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._thread = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileCamera:
    """Frames from a video file, paced in real time by their timestamps; loops at the end
    unless ``loop=False`` (then it reports itself lost, which stops the take like an
    unplugged camera). Pictures are turned upright as the file says (a phone's clip).

    Decoded with PyAV, like every other media file the app reads: OpenCV is for cameras and
    pixels only, so the bundle carries one FFmpeg (PyAV's) and an OpenCV without its own."""

    def __init__(
        self, path: Path, *, loop: bool = True, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        self.now = now
        self.name = f"file {self.path.name}"
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._first: Any = None
        self._fps = 30.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach_clock(self, clock: RecordingClock) -> None:
        """The file plays at its own pace."""

    def open(self, width: int, height: int, fps: float) -> CameraFormat:
        import av  # noqa: PLC0415 - heavy import

        self.stop()  # a second open() starts from a fresh file
        if not self.path.is_file():
            raise DeviceError(
                f"The video file {self.path} does not exist.", hint="Check the path after file:."
            )
        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise DeviceError(f"{self.path} cannot be read as a video: {exc}.") from exc
        ok = False
        try:
            if not container.streams.video:
                raise DeviceError(f"{self.path} has no video in it.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = iter(container.decode(stream))
            first = next(frames, None)
            if first is None:
                raise DeviceError(f"{self.path} cannot be read as a video: it has no frames.")
            image = _upright(first)
            ok = True
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DeviceError(f"{self.path} cannot be read as a video: {exc}.") from exc
        finally:
            if not ok:
                container.close()
        self._container, self._frames, self._first = container, frames, first
        rate = stream.guessed_rate or stream.average_rate  # the nominal rate, as OpenCV reads it
        self._fps = float(rate) if rate and 0 < float(rate) <= 240 else fps
        h, w = image.shape[:2]
        note = "" if (w, h) == (width, height) else f"the file is {w}x{h}; recording at that size"
        return CameraFormat(w - w % 2, h - h % 2, min(self._fps, fps), note)

    def start(self, on_frame: FrameSink, on_lost: LostSink) -> None:
        if self._container is None:
            raise DeviceError(f"The video file {self.path.name} is not open.")
        # Each run has its own stop flag and its own file: a thread that outlives stop()
        # (a slow read) ends when it next looks, and closes the file itself.
        assert self._frames is not None
        run = _FileRun(threading.Event(), self._container, self._frames, self._first)
        self._stop = run.stop
        self._container = self._frames = self._first = None
        self._thread = threading.Thread(
            target=self._run, args=(run, on_frame, on_lost), name="file-camera", daemon=True
        )
        self._thread.start()

    def _run(self, run: _FileRun, on_frame: FrameSink, on_lost: LostSink) -> None:
        try:
            self._play(run, on_frame, on_lost)
        except Exception as exc:  # the take must hear why its camera stopped
            log.warning("%s: the file camera stopped", self.path.name, exc_info=True)
            if not run.stop.is_set():
                on_lost(f"The video file {self.path.name} cannot be read: {exc}")
        finally:
            run.container.close()

    def _play(self, run: _FileRun, on_frame: FrameSink, on_lost: LostSink) -> None:
        import av  # noqa: PLC0415

        stop, container, frames = run.stop, run.container, run.frames

        step = 1 / self._fps
        pass_start = self.now()  # host time of the current pass's first frame
        pass_origin: float | None = None  # that frame's timestamp in the file
        last_due = pass_start - step
        index = 0
        frame: Any = run.first
        while not stop.is_set():
            if frame is None:
                try:
                    frame = next(frames, None)
                except (av.FFmpegError, OSError) as exc:
                    log.warning("%s: decoding stopped: %s", self.path.name, exc)
                    frame = None
                if frame is None:  # the end of the file
                    if not self.loop or pass_origin is None:  # a pass without a frame ends it
                        on_lost(f"The video file {self.path.name} ended")
                        return
                    container.seek(0)
                    frames = iter(container.decode(video=0))
                    pass_start, pass_origin = last_due + step, None
                    continue
            t = frame.time
            if pass_origin is None:
                pass_origin = t if t is not None else 0.0
            # By the frame's own timestamp (a variable frame rate plays at its pace); never
            # two frames at once, nor a long gap, from an odd timestamp.
            offset = (t - pass_origin) if t is not None else (last_due + step - pass_start)
            due = min(max(pass_start + offset, last_due + step / 4), last_due + 2.0)
            delay = due - self.now()
            if delay > 0 and stop.wait(delay):
                return
            on_frame(VideoFrame(_upright(frame), due, index))
            last_due, index, frame = due, index + 1, None

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        if self._container is not None:  # opened, never started
            self._container.close()
        self._container = self._frames = self._first = None


@dataclass
class _FileRun:
    """One run of a file camera: its own stop flag, and the open file it closes at the end."""

    stop: threading.Event
    container: Any
    frames: Iterator[Any]
    first: Any


def _upright(frame: Any) -> Any:
    """The frame as BGR pixels, turned as the file's display matrix says."""
    import numpy as np  # noqa: PLC0415

    image = frame.to_ndarray(format="bgr24")
    quarter_turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image

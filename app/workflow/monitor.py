"""Watching the devices before a take: a live picture and a level meter, nothing recorded.

A front end shows the person to themselves while they pick a camera and a microphone and
get ready. :class:`DeviceMonitor` opens both devices and feeds a one-slot
:class:`~app.recorder.preview.LatestFrame` (the same kind a take's preview is) and the
recorder's level-meter and health events (:class:`~app.recorder.events.AudioLevel`,
silent microphone, black or frozen camera) to ``on_event``. Nothing is written to disk.

A device that cannot be opened does not stop the other: the problem is reported as a
:class:`DeviceProblem` event and the monitor keeps what works. Recording needs the devices
to itself on most systems, so a front end stops the monitor before starting a take
(:meth:`DeviceMonitor.stop` releases them) and starts it again afterwards.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import AppError, DeviceError
from app.recorder import devices
from app.recorder.events import RecorderEvent
from app.recorder.presets import DEFAULT_PRESET, get_preset
from app.recorder.preview import LatestFrame
from app.workflow.events import OnEvent, safe_callback

if TYPE_CHECKING:
    from app.recorder.sources import AudioBlock, VideoFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceProblem:
    """A device could not be opened or stopped working while monitored."""

    device_kind: str  # "camera" or "microphone"
    error: AppError


@dataclass(frozen=True)
class DeviceOpened:
    """A device delivers: its name and (for a camera) the picture's size."""

    device_kind: str
    name: str
    size: tuple[int, int] = (0, 0)
    note: str = ""


class DeviceMonitor:
    """Live preview and level meter of a camera and a microphone (module docstring).

    ``camera`` / ``microphone`` are device specs as :mod:`app.recorder.devices` reads them
    ("" or None: the default device; "none": no microphone), or device objects.
    """

    def __init__(
        self,
        camera: str | Any | None = None,
        microphone: str | Any | None = None,
        *,
        preset: str = DEFAULT_PRESET,
        mirror: bool = False,
        on_event: OnEvent | None = None,
    ) -> None:
        self._camera_spec = camera
        self._microphone_spec = microphone
        self.preset = get_preset(preset)
        self.preview = LatestFrame(mirror=mirror)
        self.emit = safe_callback(on_event)
        self._lock = threading.Lock()
        self._camera: Any = None
        self._microphone: Any = None
        self._mic_health: Any = None
        self._cam_health: Any = None
        self._stopped = threading.Event()
        self.frames = 0

    @property
    def running(self) -> bool:
        with self._lock:
            return self._camera is not None or self._microphone is not None

    def start(self) -> None:
        """Open and start both devices (blocking: a real camera takes up to a second).

        Problems are events, not exceptions; a spec that names no device at all (a typo)
        is a DeviceError."""
        from app.recorder.health import CameraHealth, MicrophoneHealth  # noqa: PLC0415

        self._stopped.clear()
        self._mic_health = MicrophoneHealth(self._emit_health, lambda _t: 0.0)
        self._cam_health = CameraHealth(self._emit_health, lambda _t: 0.0)
        camera = self._make("camera", self._camera_spec, devices.make_camera)
        if camera is not None:
            try:
                fmt = camera.open(self.preset.width, self.preset.height, self.preset.fps)
                camera.start(self._on_frame, lambda why: self._lost("camera", why))
            except AppError as exc:
                self.emit(DeviceProblem("camera", exc))
            else:
                with self._lock:
                    self._camera = camera
                self.emit(DeviceOpened("camera", camera.name, (fmt.width, fmt.height), fmt.note))
        microphone = self._make("microphone", self._microphone_spec, devices.make_microphone)
        if microphone is not None:
            try:
                microphone.open()
                microphone.start(self._on_block, lambda why: self._lost("microphone", why))
            except AppError as exc:
                self.emit(DeviceProblem("microphone", exc))
            else:
                with self._lock:
                    self._microphone = microphone
                self.emit(DeviceOpened("microphone", microphone.name))
        if self._stopped.is_set():  # stop() came while the devices were opening
            self.stop()

    def _make(self, kind: str, spec: str | Any | None, factory: Any) -> Any:
        if spec is not None and not isinstance(spec, str):
            return spec
        try:
            return factory(spec or None)
        except DeviceError as exc:
            self.emit(DeviceProblem(kind, exc))
            return None

    def stop(self) -> None:
        """Release both devices (idempotent; any thread)."""
        self._stopped.set()
        with self._lock:
            camera, self._camera = self._camera, None
            microphone, self._microphone = self._microphone, None
        for device in (camera, microphone):
            if device is None:
                continue
            try:
                device.stop()
            except Exception:  # a device unplugged while stopping: nothing left to release
                log.debug("stopping %s failed", getattr(device, "name", device), exc_info=True)

    def _on_frame(self, frame: VideoFrame) -> None:
        self.frames += 1
        self.preview.put(frame.image)
        if self._cam_health is not None:
            self._cam_health.feed(frame.image, frame.t)

    def _on_block(self, block: AudioBlock) -> None:
        if self._mic_health is not None:
            self._mic_health.feed(block.samples, block.t, block.sample_rate)

    def _emit_health(self, event: RecorderEvent) -> None:
        self.emit(event)

    def _lost(self, kind: str, why: str) -> None:
        self.emit(
            DeviceProblem(
                kind,
                DeviceError(
                    f"The {kind} stopped working: {why}.",
                    hint=f"Plug it in again or choose another {kind}.",
                ),
            )
        )
        with self._lock:
            if kind == "camera":
                self._camera = None
            else:
                self._microphone = None

"""Finding cameras and microphones, with names where the OS provides them."""

from __future__ import annotations

import logging
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """A capture device: ``id`` is what ``--camera``/``--mic`` accept."""

    id: str
    name: str
    kind: str  # "camera" or "microphone"
    detail: str = ""


def list_cameras(probe_indices: int = 4) -> list[Device]:
    """Cameras the OS reports.

    Linux: ``/dev/video*`` with names from sysfs (V4L2 capture nodes only, no metadata
    nodes). Windows and macOS have no portable name source in OpenCV, so indices are
    probed with the platform's backend.
    """
    if platform.system() == "Linux":  # not sys.platform: mypy would narrow it per platform
        return _list_v4l2()
    return _probe_opencv(probe_indices)


def _list_v4l2() -> list[Device]:
    out = []
    for node in sorted(Path("/dev").glob("video*")):
        suffix = node.name.removeprefix("video")
        if not suffix.isdigit():
            continue
        sys_dir = Path("/sys/class/video4linux") / node.name
        name = _read(sys_dir / "name") or node.name
        # Each UVC camera exposes a capture node (index 0) and a metadata node (index 1).
        index = _read(sys_dir / "index")
        if index not in ("", "0"):
            continue
        out.append(Device(id=suffix, name=name, kind="camera", detail=str(node)))
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _probe_opencv(count: int) -> list[Device]:
    import cv2  # noqa: PLC0415 - heavy import, only where needed

    backend = cv2.CAP_MSMF if sys.platform == "win32" else cv2.CAP_AVFOUNDATION
    out = []
    for index in range(count):
        cap = cv2.VideoCapture(index, backend)
        try:
            if cap.isOpened():
                out.append(Device(id=str(index), name=f"Camera {index}", kind="camera"))
        finally:
            cap.release()
    return out


def portaudio_version() -> str | None:
    """PortAudio's version text, or None when the library is missing."""
    try:
        import sounddevice  # noqa: PLC0415 - raises OSError without libportaudio
    except OSError:
        return None
    return str(sounddevice.get_portaudio_version()[1])


def list_microphones() -> list[Device]:
    """Input devices PortAudio reports (empty when PortAudio or a sound server is missing)."""
    try:
        import sounddevice  # noqa: PLC0415
    except OSError:
        return []
    out = []
    try:
        devices: Any = sounddevice.query_devices()
        apis: Any = sounddevice.query_hostapis()
    except Exception:  # PortAudio errors surface as sounddevice.PortAudioError
        log.exception("PortAudio could not list devices")
        return []
    for index, dev in enumerate(devices):
        if int(dev["max_input_channels"]) <= 0:
            continue
        api = apis[dev["hostapi"]]["name"]
        out.append(
            Device(
                id=str(index),
                name=str(dev["name"]),
                kind="microphone",
                detail=f"{api}, {int(dev['max_input_channels'])} ch, "
                f"{int(dev['default_samplerate'])} Hz",
            )
        )
    return out

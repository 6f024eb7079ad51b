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


# --- choosing a source from a command-line/settings spec ------------------------------


def _options(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        out[key.strip().lower()] = value.strip()
    return out


def _seconds(text: str) -> float:
    text = text.strip().lower()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    return float(text.removesuffix("s"))


def make_camera(spec: str | None) -> Any:
    """A camera source from ``ID``, ``synthetic[:pattern=black,lost_after=3]`` or
    ``file:PATH``; None means the first camera found."""
    from app.errors import DeviceError  # noqa: PLC0415
    from app.recorder.camera import FileCamera, OpenCVCamera  # noqa: PLC0415
    from app.recorder.synthetic import SyntheticCamera  # noqa: PLC0415

    if spec is None:
        cams = list_cameras()
        if not cams:
            raise DeviceError(
                "No camera found.",
                hint="Connect a camera (and allow camera access in the privacy settings), "
                "or use the synthetic test camera.",
            )
        return OpenCVCamera(int(cams[0].id), name=cams[0].name)
    if spec.startswith("file:"):
        return FileCamera(Path(spec[5:]))
    head, _, rest = spec.partition(":")
    if head == "synthetic":
        opts = _options(rest)
        try:
            lost = _seconds(opts["lost_after"]) if "lost_after" in opts else None
            return SyntheticCamera(pattern=opts.get("pattern", "bars"), lost_after=lost)
        except ValueError as exc:
            raise DeviceError(f"Bad synthetic camera options {rest!r}: {exc}.") from None
    if spec.isdigit():
        names = {c.id: c.name for c in list_cameras()} if sys.platform.startswith("linux") else {}
        return OpenCVCamera(int(spec), name=names.get(spec, ""))
    if spec.startswith("/dev/video") and spec[10:].isdigit():
        return OpenCVCamera(int(spec[10:]))
    raise DeviceError(
        f"Unknown camera {spec!r}.",
        hint="Use a camera number from the device list, 'synthetic', or 'file:PATH'.",
    )


def make_microphone(spec: str | None) -> Any:
    """A microphone source from ``ID``, a name, ``default``, ``none`` (returns None) or
    ``synthetic[:skew=+0.1%,jitter=5ms,level=silent]``; None means the default input."""
    from app.errors import DeviceError  # noqa: PLC0415
    from app.recorder.microphone import SoundDeviceMicrophone  # noqa: PLC0415
    from app.recorder.synthetic import SyntheticMicrophone, parse_skew  # noqa: PLC0415

    if spec is not None and spec.lower() == "none":
        return None
    if spec is None or spec == "default":
        if not list_microphones():
            raise DeviceError(
                "No microphone found.",
                hint="Connect a microphone (and allow microphone access in the privacy "
                "settings), or record without sound.",
            )
        return SoundDeviceMicrophone(None)
    head, _, rest = spec.partition(":")
    if head == "synthetic":
        opts = _options(rest)
        try:
            return SyntheticMicrophone(
                skew=parse_skew(opts.get("skew", "0")),
                jitter=_seconds(opts.get("jitter", "0")),
                level=opts.get("level", "normal"),
                lost_after=_seconds(opts["lost_after"]) if "lost_after" in opts else None,
            )
        except ValueError as exc:
            raise DeviceError(f"Bad synthetic microphone options {rest!r}: {exc}.") from None
    return SoundDeviceMicrophone(int(spec) if spec.isdigit() else spec)

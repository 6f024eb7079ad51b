"""Finding cameras and microphones, with names where the OS provides them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """A capture device as the OS lists it now.

    ``id`` is the stable choice (what ``--camera``/``--mic`` accept and the settings keep):
    ``BACKEND:name#index``, e.g. ``MSMF:HD Pro Webcam C920#0`` or ``WASAPI:Microphone
    (Realtek Audio)#3``. A saved choice is found again by backend and name when the OS
    numbers its devices differently (plugged in another order, one added or removed); the
    index only tells two devices of the same name apart.
    """

    id: str
    name: str
    kind: str  # "camera" or "microphone"
    detail: str = ""
    backend: str = ""  # camera API (V4L2, MSMF, DSHOW, AVFOUNDATION) or host API tag
    index: int = -1  # the OpenCV / PortAudio index right now


def device_id(backend: str, name: str, index: int) -> str:
    return f"{backend}:{name}#{index}"


def parse_id(spec: str) -> tuple[str, str, int] | None:
    """``(backend, name, index)`` of an id made by :func:`device_id`, else None.

    Backend tags are upper case (``V4L2``, ``WASAPI``), so the lower-case spec words
    (``file:``, ``synthetic:``) never parse as one.
    """
    backend, sep, rest = spec.partition(":")
    if not sep or not backend or not backend.isupper() or not backend.isalnum():
        return None
    name, hash_, index = rest.rpartition("#")
    if not hash_ or not index.isdigit():
        return backend, rest, -1
    return backend, name, int(index)


def find(spec: str, found: list[Device]) -> Device | None:
    """The device ``spec`` names among those ``found`` now, or None when it is not there.

    An id made by :func:`device_id` matches by backend and name (then by name alone, for
    a camera that moved between Windows' two camera APIs); of several with that name, the
    one at the saved index. A bare number (settings from before ids) is an index; any other
    text a device name, exactly or as a unique part of one.
    """
    parsed = parse_id(spec)
    if parsed is not None:
        backend, name, index = parsed
        same = [d for d in found if d.backend == backend and d.name == name]
        same = same or [d for d in found if d.name == name]
        if not same:
            return None
        return next((d for d in same if d.index == index), same[0])
    if spec.isdigit():
        return next((d for d in found if d.index == int(spec)), None)
    exact = [d for d in found if d.name == spec]
    if exact:
        return exact[0]
    partial = [d for d in found if spec.lower() in d.name.lower()]
    return partial[0] if len(partial) == 1 else None


def list_cameras() -> list[Device]:
    """Cameras the OS reports, each once, with their real names.

    Names come from the OS through ``cv2-enumerate-cameras`` (Media Foundation and
    DirectShow on Windows, AVFoundation on macOS, V4L2 capture nodes on Linux), with the
    index that API gives the camera, so the camera listed is the camera opened. On Windows
    a camera that both APIs list is shown once (Media Foundation's); one only DirectShow
    lists (many virtual cameras) is shown with DirectShow.
    """
    from app.recorder.camera import backends  # noqa: PLC0415 - loads cv2

    try:
        from cv2_enumerate_cameras import enumerate_cameras  # noqa: PLC0415
    except ImportError:  # pragma: no cover - a dependency; kept working without it
        log.warning("cv2-enumerate-cameras is missing; cameras are not listed by name")
        return []
    out: list[Device] = []
    for tag, api in backends():
        try:
            infos = enumerate_cameras(api)
        except Exception:
            log.warning("listing cameras through %s failed", tag, exc_info=True)
            continue
        for info in sorted(infos, key=lambda i: int(i.index)):
            name = str(info.name or f"Camera {info.index}")
            if any(d.name == name and d.backend != tag for d in out):
                continue  # already listed through the better API
            index = int(info.index)
            path = str(info.path or "")
            out.append(
                Device(
                    id=device_id(tag, name, index),
                    name=name,
                    kind="camera",
                    detail=f"{tag} {index}" + (f", {path}" if path.startswith("/dev/") else ""),
                    backend=tag,
                    index=index,
                )
            )
    return out


def portaudio_version() -> str | None:
    """PortAudio's version text, or None when the library is missing."""
    try:
        import sounddevice  # noqa: PLC0415 - raises OSError without libportaudio
    except OSError:
        return None
    return str(sounddevice.get_portaudio_version()[1])


#: PortAudio host API names and their short tags, in the order they are preferred: the one
#: listed first that is present is the only one listed (Windows lists each microphone once
#: per host API: WASAPI, DirectSound, MME and WDM-KS).
HOST_APIS = (
    ("Windows WASAPI", "WASAPI"),
    ("Core Audio", "COREAUDIO"),
    ("ALSA", "ALSA"),
    ("MME", "MME"),
    ("Windows DirectSound", "DSOUND"),
    ("Windows WDM-KS", "WDMKS"),
    ("JACK Audio Connection Kit", "JACK"),
    ("ASIO", "ASIO"),
)


#: ALSA devices that are a sound server (each lists that server's default input) and the
#: ALSA names that lead to the same server when one runs.
SOUND_SERVERS = {"pulse", "pipewire"}
SERVER_ALIASES = {"default", "sysdefault"}


def host_api_tag(name: str) -> str:
    for full, tag in HOST_APIS:
        if name == full:
            return tag
    return "".join(c for c in name.upper() if c.isalnum()) or "AUDIO"


def _preferred_api(apis: list[str]) -> str | None:
    for full, _tag in HOST_APIS:
        if full in apis:
            return full
    return apis[0] if apis else None


def list_microphones(*, rescan: bool = False) -> list[Device]:
    """Input devices, each once: only the best host API of this OS is listed (WASAPI on
    Windows, Core Audio on macOS, ALSA on Linux, where ALSA's "default" is left out when it
    is the sound server's route again). Empty when PortAudio or a sound server is missing.

    PortAudio reads the device list when it starts; ``rescan`` restarts it so a microphone
    plugged in since is seen (skipped while a stream is open: see
    :func:`app.recorder.microphone.rescan`).
    """
    try:
        import sounddevice  # noqa: PLC0415
    except OSError:
        return []
    if rescan:
        from app.recorder.microphone import rescan as restart  # noqa: PLC0415

        restart()
    try:
        devices: Any = sounddevice.query_devices()
        apis: Any = sounddevice.query_hostapis()
    except Exception:  # PortAudio errors surface as sounddevice.PortAudioError
        log.exception("PortAudio could not list devices")
        return []
    return inputs_once(list(devices), list(apis))


def inputs_once(devices: list[Any], apis: list[Any]) -> list[Device]:
    """PortAudio's device and host API lists (``query_devices()``, ``query_hostapis()``)
    as microphones, each once (see :func:`list_microphones`)."""
    api_names = [str(a["name"]) for a in apis]
    with_inputs = sorted(
        {api_names[int(d["hostapi"])] for d in devices if int(d["max_input_channels"]) > 0},
        key=api_names.index,
    )
    chosen = _preferred_api(with_inputs)
    names = {str(d["name"]) for d in devices if int(d["max_input_channels"]) > 0}
    # ALSA over a sound server: "default" and "sysdefault" are the server's route again.
    aliases = SERVER_ALIASES if chosen == "ALSA" and names & SOUND_SERVERS else set()
    out = []
    for index, dev in enumerate(devices):
        if int(dev["max_input_channels"]) <= 0:
            continue
        api = api_names[int(dev["hostapi"])]
        name = str(dev["name"])
        if api != chosen or name in aliases:
            continue
        tag = host_api_tag(api)
        out.append(
            Device(
                id=device_id(tag, name, index),
                name=name,
                kind="microphone",
                detail=f"{api}, {int(dev['max_input_channels'])} ch, "
                f"{int(dev['default_samplerate'])} Hz",
                backend=tag,
                index=index,
            )
        )
    return out


def describe(spec: str, kind: str) -> Device | None:
    """A :class:`Device` for a source that is not an OS device (``file:PATH``,
    ``synthetic``), to list it beside the devices; None for anything else."""
    if kind == "camera" and spec.startswith("file:"):
        path = Path(spec[5:]).expanduser()
        return Device(spec, path.name, kind, f"video file {path}", backend="FILE")
    if spec.split(":", maxsplit=1)[0] == "synthetic":
        name = "Test pattern" if kind == "camera" else "Test tone"
        return Device(spec, name, kind, "synthetic, no device needed", backend="SYNTHETIC")
    return None


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


def _not_connected(kind: str, spec: str, otherwise: str) -> Exception:
    """A saved or typed device that is not among those found now (never another one)."""
    from app.errors import DeviceError  # noqa: PLC0415

    parsed = parse_id(spec)
    return DeviceError(
        f"The {kind} {parsed[1] if parsed else spec!r} is not connected.",
        hint=f"Connect it, or choose another {kind} (the device list shows those found), "
        f"{otherwise}.",
    )


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
        return OpenCVCamera(cams[0].index, name=cams[0].name, api=cams[0].backend)
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
    if spec.startswith("/dev/video") and spec[10:].isdigit():
        return OpenCVCamera(int(spec[10:]), api="V4L2")
    found = find(spec, list_cameras())
    if found is not None:
        return OpenCVCamera(found.index, name=found.name, api=found.backend)
    if spec.isdigit():  # not listed by name: let the OS say whether it opens
        return OpenCVCamera(int(spec))
    raise _not_connected("camera", spec, "'synthetic', or 'file:PATH'")


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
    found = find(spec, list_microphones())
    if found is not None:
        return SoundDeviceMicrophone(found.index, name=found.name)
    if spec.isdigit():  # not listed (another host API): let PortAudio say whether it opens
        return SoundDeviceMicrophone(int(spec))
    raise _not_connected("microphone", spec, "or record without sound")

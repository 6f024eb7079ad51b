"""The doctor: what this machine has, what the app found, and what to do about gaps.

Each check yields a line with a status: ``ok``, ``warn`` (works, but something is worth
knowing) or ``FAIL`` (something required is missing; the exit code is then 1). Every
warning and failure says what to do.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from app import __version__, paths
from app import policy as policy_mod
from app import settings as settings_mod
from app.recorder import devices

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Check:
    status: str
    name: str
    value: str
    fix: str = ""


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _is_linux() -> bool:
    # platform.system() rather than sys.platform: mypy narrows the latter per platform.
    return platform.system() == "Linux"


def _apt_hint(package: str) -> str:
    if _is_linux():
        return f"Install it: sudo apt-get install {package}"
    return "Reinstall Video Messaging."


def checks(profile: str | None = None) -> Iterator[Check]:
    yield Check(OK, "Video Messaging", __version__)
    yield Check(OK, "Python", f"{platform.python_version()} ({sys.executable})")
    yield Check(OK, "Platform", f"{platform.system()} {platform.release()} {platform.machine()}")

    qt = _dist_version("PySide6-Essentials") or _dist_version("PySide6")
    if qt and importlib.util.find_spec("PySide6") is not None:
        yield Check(OK, "Qt (PySide6)", qt)
    else:
        yield Check(FAIL, "Qt (PySide6)", "missing", "pip install PySide6-Essentials")

    if _dist_version("opencv-python"):
        yield Check(
            FAIL,
            "OpenCV",
            "opencv-python is installed; it clashes with PySide6",
            "pip uninstall opencv-python && pip install --force-reinstall opencv-python-headless",
        )
    elif (cv := _dist_version("opencv-python-headless")) is not None:
        yield Check(OK, "OpenCV (headless)", cv)
    else:
        yield Check(FAIL, "OpenCV", "missing", "pip install opencv-python-headless")

    yield from _ffmpeg_checks()

    pa = devices.portaudio_version()
    if pa is None:
        yield Check(FAIL, "PortAudio", "library not found", _apt_hint("libportaudio2"))
    else:
        yield Check(OK, "PortAudio", pa)

    cams = devices.list_cameras()
    if cams:
        for cam in cams:
            yield Check(OK, "Camera", f"{cam.id}: {cam.name}")
    else:
        yield Check(
            WARN,
            "Cameras",
            "none found",
            "Connect a webcam (or allow camera access in the OS privacy settings). "
            "The synthetic camera works without one.",
        )
    mics = devices.list_microphones()
    if mics:
        for mic in mics:
            yield Check(OK, "Microphone", f"{mic.id}: {mic.name} ({mic.detail})")
    else:
        yield Check(
            WARN,
            "Microphones",
            "none found",
            "Connect a microphone or start a sound server (PulseAudio/PipeWire); "
            "recording then uses a silent track.",
        )

    yield from _keyring_checks()

    yield Check(OK, "Log file", str(paths.log_path()))
    result = settings_mod.load()
    if result.problems:
        yield Check(WARN, "Settings file", str(paths.settings_path()), result.summary())
    else:
        state = "" if paths.settings_path().exists() else " (not written yet; defaults)"
        yield Check(OK, "Settings file", f"{paths.settings_path()}{state}")
    pol = policy_mod.load()
    if pol.error:
        yield Check(FAIL, "Policy file", pol.error, "Ask your administrator to correct it.")
    elif pol.present:
        yield Check(OK, "Policy file", f"{pol.path} ({len(pol.locked_paths())} locked settings)")
    else:
        yield Check(OK, "Policy file", f"{paths.policy_path()} (none)")

    effective = pol.apply(result.settings)
    active = profile or effective.active_profile
    if active not in effective.profiles:
        yield Check(
            FAIL, "Profile", f'"{active}" does not exist', "Choose one of the profiles below."
        )
    for name, prof in effective.profiles.items():
        marker = " (active)" if name == active else ""
        yield from _profile_checks(name + marker, prof)
        yield from _token_cache_check(name, effective.allow_plaintext_token_cache)


def _token_cache_check(profile: str, allow_plaintext: bool) -> Iterator[Check]:
    """Where this profile's Microsoft sign-in is (or would be) kept, and whether it is safe."""
    from app.microsoft import token_cache  # noqa: PLC0415

    result = token_cache.doctor_check(profile, allow_plaintext=allow_plaintext)
    status = OK if result.status == "ok" else WARN
    yield Check(status, f"Sign-in storage ({profile})", result.value, result.fix)


def _ffmpeg_checks() -> Iterator[Check]:
    try:
        import av  # noqa: PLC0415
    except ImportError:
        yield Check(FAIL, "FFmpeg (PyAV)", "missing", "pip install av")
        return
    yield Check(OK, "FFmpeg (PyAV)", f"FFmpeg {av.ffmpeg_version_info}, PyAV {av.__version__}")
    for codec in ("libx264", "aac"):
        try:
            av.codec.Codec(codec, "w")
        except Exception:  # av raises UnknownCodecError, a subclass of ValueError/FFmpegError
            yield Check(FAIL, f"Encoder {codec}", "missing", "Reinstall PyAV (pip install av).")


def _keyring_checks() -> Iterator[Check]:
    from app import secrets  # noqa: PLC0415

    info = secrets.backend_info()
    if info.secure:
        yield Check(OK, "Keyring", f"{info.detail} (secure)")
    else:
        fix = (
            "Install and unlock a Secret Service (e.g. sudo apt-get install gnome-keyring) "
            "so secrets are stored encrypted."
            if _is_linux()
            else "Your OS credential store is not reachable."
        )
        yield Check(WARN, "Keyring", f"{info.detail} (NOT secure: secrets cannot be saved)", fix)


def _profile_checks(label: str, prof: settings_mod.Profile) -> Iterator[Check]:
    if prof.kind == "sandbox":
        from app.sandbox import locate  # noqa: PLC0415

        data_dir = paths.sandbox_dir()
        manifest = locate.live_manifest(data_dir)
        if manifest:
            urls = ", ".join(f"{k} {v}" for k, v in locate.endpoint_urls(manifest).items())
            yield Check(OK, f"Profile {label}", f"built-in sandbox running: {urls}")
        else:
            yield Check(
                OK,
                f"Profile {label}",
                f"built-in sandbox, data in {data_dir} (starts in-process when needed)",
            )
        return
    k, m = prof.kaltura, prof.microsoft
    yield Check(
        OK,
        f"Profile {label}",
        f"Kaltura {k.service_url} partner {k.partner_id or '?'}; "
        f"Microsoft authority {m.authority}, client {m.client_id or '?'}",
    )
    missing = [
        what
        for what, value in (
            ("Kaltura partner id", k.partner_id),
            ("Kaltura app token id (or login id)", k.app_token_id or k.login_id),
            ("Microsoft client id", m.client_id),
        )
        if not value
    ]
    if missing:
        yield Check(
            WARN,
            f"Profile {label}",
            "incomplete: " + ", ".join(missing),
            "Ask your administrator for these values (see docs/admin-guide.md).",
        )

"""The self-test: does this installation (a source checkout or a frozen bundle) work?

``vmsg --self-test`` and ``video-messaging --self-test`` run it. It loads every native
piece the app needs (OpenCV, PyAV with its H.264 and AAC encoders, PortAudio, MSAL and,
on Windows and macOS, the sign-in broker, the keyring backend), then records 2 s from the
synthetic camera and microphone, uploads them to a throwaway sandbox, sends one email to
it and checks what arrived: the message in the mailbox, its landing page answering 200,
the take playable. Everything happens in a temporary folder; nothing of the user's own is
read or written. The desktop app adds its own checks (Qt's platform plugin, the main
window) through ``extra``.

Anything a library writes to the process's stderr while it runs (a missing plugin, a
codec complaint) fails the test, except the lines listed in :data:`BENIGN_STDERR` (ALSA
probing sound cards a machine does not have). The result is one JSON object.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app import __version__

#: stderr lines that say nothing about this installation: ALSA and JACK probing devices a
#: machine without a sound card does not have, when PortAudio starts.
BENIGN_STDERR = (
    re.compile(r"^ALSA lib "),
    re.compile(r"^(Cannot connect to server|jack server is not running|JackShmReadWritePtr)"),
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SelfTestReport:
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    stderr: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.stderr

    def to_dict(self) -> dict[str, Any]:
        return {
            "self_test": "passed" if self.ok else "failed",
            "version": __version__,
            "frozen": bool(getattr(sys, "frozen", False)),
            "platform": sys.platform,
            "seconds": round(self.seconds, 1),
            "checks": {c.name: (c.detail if c.ok else f"FAILED: {c.detail}") for c in self.checks},
            "unexpected_stderr": self.stderr,
        }


def _check(report: SelfTestReport, name: str, fn: Callable[[], str]) -> bool:
    try:
        detail = fn()
    except Exception as exc:
        report.checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
        return False
    report.checks.append(Check(name, True, detail))
    return True


def _opencv() -> str:
    """OpenCV loads, with the camera backend this OS records from (the bundle's OpenCV is
    built with only what the app uses: build.spec)."""
    import cv2  # noqa: PLC0415

    from app.recorder import camera  # noqa: PLC0415

    cap = cv2.VideoCapture()  # the capture module loads (no device is opened)
    cap.release()
    registry = cv2.videoio_registry
    wanted = [(name, api) for name, api in camera.backends() if name != "ANY"]
    missing = [name for name, api in wanted if not registry.hasBackend(api)]
    if missing:
        raise RuntimeError(f"OpenCV has no {', '.join(missing)} camera backend")
    return f"{cv2.__version__} (camera: {', '.join(n for n, _a in wanted) or 'any'})"


def _reads_back(video: Path) -> None:
    """The take plays back as a "file:" camera (PyAV decodes it), and its thumbnail (the
    app's own, OpenCV's JPEG) is made."""
    from app.recorder import media  # noqa: PLC0415
    from app.recorder.camera import FileCamera  # noqa: PLC0415

    got: list[Any] = []
    done = threading.Event()

    def on_frame(frame: Any) -> None:
        got.append(frame.image)
        done.set()

    def on_lost(_why: str) -> None:
        done.set()

    cam = FileCamera(video, loop=False)
    try:
        cam.open(854, 480, 30)
        cam.start(on_frame, on_lost)
        done.wait(30)
    finally:
        cam.stop()
    if not got:
        raise RuntimeError(f"the take {video.name} does not read back as a file camera")
    if not media.thumbnail(video).startswith(b"\xff\xd8"):
        raise RuntimeError("the take's thumbnail is not a JPEG")


def _pyav() -> str:
    import av  # noqa: PLC0415

    for name in ("libx264", "aac"):
        av.codec.Codec(name, "w")  # raises when the encoder is missing
    return f"{av.__version__} (libx264, aac)"


def _portaudio() -> str:
    from app.recorder import devices  # noqa: PLC0415

    version = devices.portaudio_version()
    if version is None:
        raise RuntimeError("PortAudio is not there (libportaudio)")
    return version


def _msal() -> str:
    import msal  # type: ignore[import-untyped]  # noqa: PLC0415

    from app.microsoft import auth  # noqa: PLC0415

    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform in ("win32", "darwin"):
        if not auth.broker_runtime_available():
            raise RuntimeError("the sign-in broker (pymsalruntime) does not load")
        return f"{msal.__version__}, broker available"
    return f"{msal.__version__} (no broker on this OS: the browser signs in)"


def _keyring() -> str:
    import keyring  # noqa: PLC0415

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    platform: str = sys.platform
    if platform in ("win32", "darwin") and name.startswith("keyring.backends.fail"):
        # Windows and macOS always have a store: none found means it was not bundled.
        raise RuntimeError(f"no keyring backend loads ({name})")
    return name


def _flow(folder: Path) -> Callable[[], str]:
    def run() -> str:
        from app import net  # noqa: PLC0415
        from app.recorder import media  # noqa: PLC0415
        from app.workflow.demo import run_demo  # noqa: PLC0415

        demo = run_demo(folder, seconds=2.0, recipients=1)
        try:
            if demo.sent != 1:
                states = [m.state for m in demo.messages]
                raise RuntimeError(f"the email was not sent: {states}")
            if not demo.emails:
                raise RuntimeError("the sandbox mailbox holds no email")
            with net.secure_session() as http:  # the app's one way to the network
                page = http.get(demo.landing_pages[0], timeout=30)
            if page.status_code != 200:
                raise RuntimeError(f"the landing page answered {page.status_code}")
            check = media.check_playable(demo.take)
            if not check.playable:
                raise RuntimeError(f"the take does not play: {check.errors}")
            _reads_back(demo.take)
            return (
                f"recorded {check.duration:.1f} s, uploaded, 1 email sent and received; "
                "it reads back, and OpenCV makes a JPEG of it"
            )
        finally:
            demo.stop()

    return run


@contextlib.contextmanager
def _own_home(home: Path) -> Iterator[None]:
    """Every folder of the app (settings, logs, data) in ``home`` while the test runs."""
    from app import paths  # noqa: PLC0415

    before = os.environ.get(paths.HOME_ENV)
    os.environ[paths.HOME_ENV] = str(home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(paths.HOME_ENV, None)
        else:
            os.environ[paths.HOME_ENV] = before


def _flush_stderr() -> None:
    if sys.stderr is not None:  # None in a windowed app started without a console
        sys.stderr.flush()


def _watchdog_file() -> TextIO:
    """Where a stuck self-test prints its threads: stderr, or nowhere when there is none."""
    try:
        return open(os.dup(2), "w", encoding="utf-8")
    except OSError:
        return open(os.devnull, "w", encoding="utf-8")


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Everything written to file descriptor 2 (by Python or by a native library) while
    the block runs; the lines land in the yielded list when it ends."""
    lines: list[str] = []
    _flush_stderr()
    try:
        saved: int | None = os.dup(2)
    except OSError:  # no stderr at all: a windowed app started without one (Windows)
        saved = None
        # Hold descriptor 2 meanwhile, or the sink below would be given it.
        holder = os.open(os.devnull, os.O_WRONLY)
        if holder != 2:
            os.dup2(holder, 2)
            os.close(holder)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            _flush_stderr()
            if saved is None:
                os.close(2)
            else:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line for line in text.splitlines() if line.strip())


#: A self-test that has not finished by then prints where it is stuck and exits 1.
TIMEOUT_SECONDS = 300.0


def run_self_test(
    extra: list[tuple[str, Callable[[], str]]] | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
) -> SelfTestReport:
    """Every check, then the whole flow in a temporary folder; never raises, never hangs
    (after ``timeout`` it prints every thread's stack to stderr and exits 1)."""
    import faulthandler  # noqa: PLC0415

    report = SelfTestReport()
    started = time.monotonic()
    watchdog = _watchdog_file()
    faulthandler.dump_traceback_later(timeout, exit=True, file=watchdog)
    try:
        _run_checks(report, extra)
    finally:
        faulthandler.cancel_dump_traceback_later()
        watchdog.close()
    report.seconds = time.monotonic() - started
    return report


def _run_checks(report: SelfTestReport, extra: list[tuple[str, Callable[[], str]]] | None) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="vmsg-self-test-") as tmp,
        _own_home(Path(tmp) / "home"),
        captured_stderr() as err,
    ):
        folder = Path(tmp)
        for name, fn in [
            ("opencv", _opencv),
            ("pyav", _pyav),
            ("portaudio", _portaudio),
            ("msal", _msal),
            ("keyring", _keyring),
            *(extra or []),
        ]:
            _check(report, name, fn)
        _check(report, "record_upload_send", _flow(folder))
    report.stderr = [line for line in err if not any(p.search(line) for p in BENIGN_STDERR)]

"""What differs between Windows, macOS and Linux, behind one small seam.

Everything else in the app calls these instead of the OS:

- **Processes**: :func:`this_process` names the running process by pid *and* start time;
  :func:`process_alive` says whether such a process still runs (psutil: ``os.kill(pid, 0)``
  is no liveness test on Windows, and a pid can be reused by an unrelated process).
  A take, an upload or a message being sent records its owner this way, so the next start
  settles what a dead process left behind at once.
- **Files that must survive a crash**: :func:`write_private` writes to a temporary file,
  flushes it to the disk (:func:`sync_file`: ``F_FULLFSYNC`` on macOS, where ``fsync`` stops
  at the drive's cache) and moves it into place with :func:`replace_file`, which retries
  while another program briefly holds the target open (Windows sharing violations from
  antivirus, the search indexer or OneDrive) and then fails loudly.
- **Private by default**: folders and files holding user data, tokens or recipients are the
  owner's only (0700 / 0600 on POSIX; on Windows and macOS the user's own profile folders,
  which other users cannot read, are where they live).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR_MODE = stat.S_IRWXU  # 0700
PRIVATE_FILE_MODE = stat.S_IRUSR | stat.S_IWUSR  # 0600
IS_POSIX = os.name == "posix"


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcessId:
    """A process: its pid and when it started (so a reused pid is not mistaken for it)."""

    pid: int
    #: Seconds since the epoch the process started (psutil's create_time), 0 if unknown.
    started: float = 0.0

    def __str__(self) -> str:
        return f"{self.pid}@{self.started:.2f}"

    @classmethod
    def parse(cls, text: str) -> ProcessId | None:
        """The ProcessId written by ``str()``; None for anything else."""
        pid, sep, started = str(text).partition("@")
        try:
            return cls(int(pid), float(started) if sep else 0.0)
        except ValueError:
            return None


def _start_time(pid: int) -> float:
    import psutil  # noqa: PLC0415 - loaded when a process is asked about, not at start-up

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return 0.0


def this_process() -> ProcessId:
    pid = os.getpid()
    return ProcessId(pid, _start_time(pid))


def process_alive(pid: int, started: float = 0.0) -> bool:
    """Whether process ``pid`` runs (and, given ``started``, is the one that started then).

    A zombie (killed, not yet reaped by its parent) counts as gone: it writes nothing more.
    """
    if pid <= 0:
        return False
    import psutil  # noqa: PLC0415

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # someone else's process: it exists
    except (psutil.Error, OSError):
        return False
    # Start times are rounded differently by the OS interfaces: allow a small slack.
    return not started or abs(created - started) < 1.0


def owner_alive(owner: str) -> bool:
    """Whether the process named by ``str(ProcessId)`` still runs ("" or junk: no)."""
    parsed = ProcessId.parse(owner) if owner else None
    return parsed is not None and process_alive(parsed.pid, parsed.started)


# --------------------------------------------------------------------------- privacy


#: Where each OS lets the person allow an app the camera or microphone: (name, URL).
PRIVACY_PAGES = {
    "win32": {
        "camera": ("Settings > Privacy & security > Camera", "ms-settings:privacy-webcam"),
        "microphone": (
            "Settings > Privacy & security > Microphone",
            "ms-settings:privacy-microphone",
        ),
    },
    "darwin": {
        "camera": (
            "System Settings > Privacy & Security > Camera",
            "x-apple.systempreferences:com.apple.preference.security?Privacy_Camera",
        ),
        "microphone": (
            "System Settings > Privacy & Security > Microphone",
            "x-apple.systempreferences:com.apple.preference.security?Privacy_Microphone",
        ),
    },
}


def privacy_page(kind: str, platform: str = sys.platform) -> tuple[str, str]:
    """(what the page is called, its URL) for ``kind`` ("camera" or "microphone");
    ("", "") where the OS has no per-app switch (Linux: the device's permissions decide)."""
    return PRIVACY_PAGES.get(platform, {}).get(kind, ("", ""))


_CONSENT_STORE = r"Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager\ConsentStore"


def device_access_denied(kind: str, platform: str = sys.platform) -> bool:
    """Whether Windows' privacy settings keep desktop apps from ``kind`` ("camera" or
    "microphone"): the consent store says "Deny" for the whole machine, for this user, or
    for desktop (non-packaged) apps. Windows then fails the open with "access denied",
    which OpenCV reports only as "not opened". False elsewhere (macOS: Qt's permission
    API asks; Linux: no such switch) and when the setting cannot be read.
    """
    return platform == "win32" and _consent_denied("webcam" if kind == "camera" else kind)


if sys.platform == "win32":

    def _consent_denied(capability: str) -> bool:
        import winreg  # noqa: PLC0415 - Windows only

        places = [
            (winreg.HKEY_LOCAL_MACHINE, rf"{_CONSENT_STORE}\{capability}"),
            (winreg.HKEY_CURRENT_USER, rf"{_CONSENT_STORE}\{capability}"),
            (winreg.HKEY_CURRENT_USER, rf"{_CONSENT_STORE}\{capability}\NonPackaged"),
        ]
        for root, key in places:
            try:
                with winreg.OpenKey(root, key) as handle:
                    value, _type = winreg.QueryValueEx(handle, "Value")
            except OSError:
                continue
            if str(value).lower() == "deny":
                return True
        return False

else:

    def _consent_denied(capability: str) -> bool:
        return False


# --------------------------------------------------------------------------- signals


def stop_signals() -> list[signal.Signals]:
    """The signals that ask a program to stop: Ctrl+C, a service manager's TERM, a closed
    terminal's HUP (POSIX), Ctrl+Break (Windows consoles)."""
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Every stop signal interrupts the main thread as Ctrl+C does, so each is handled by
    the same clean path (uploads suspended, unsent messages withdrawn, takes closed)."""
    for sig in stop_signals():
        with contextlib.suppress(ValueError, OSError):  # not the main thread; not allowed
            signal.signal(sig, _interrupt)


def utf8_stdio() -> None:
    """Write UTF-8 to stdout and stderr whatever the locale says.

    Results go out as JSON on stdout; on Windows a piped stdout uses the ANSI code page
    (cp1252) and a name like "Zoë Ångström" would be garbled or raise. A reader of our
    output (a script, another program) always gets UTF-8.
    """
    for stream, errors in ((sys.stdout, "strict"), (sys.stderr, "backslashreplace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower().replace("-", "") != "utf8":
            with contextlib.suppress(ValueError, OSError):  # already written to: keep it
                reconfigure(encoding="utf-8", errors=errors)


# --------------------------------------------------------------------------- durable files


def sync_file(fd: int) -> None:
    """Flush a file to the disk itself: on macOS ``fsync`` leaves it in the drive's cache."""
    if sys.platform == "darwin":
        import fcntl  # noqa: PLC0415 - POSIX only

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)  # type: ignore[attr-defined,unused-ignore]
            return
    os.fsync(fd)


class ReplaceFailed(OSError):
    """A file could not be moved into place (another program kept it open)."""


def replace_file(src: Path, dst: Path, *, attempts: int = 10, delay: float = 0.05) -> None:
    """``os.replace(src, dst)``, retried while the target is held open (Windows).

    Windows refuses to replace a file another handle has open without FILE_SHARE_DELETE
    (WinError 5 or 32); antivirus, the indexer and OneDrive hold files for moments. After
    ``attempts`` it raises :class:`ReplaceFailed`, never silently keeping the old file.
    """
    for attempt in range(attempts):
        try:
            Path(src).replace(dst)
            return
        except PermissionError as exc:
            if attempt == attempts - 1:
                raise ReplaceFailed(
                    exc.errno, f"could not replace {dst} (another program has it open)"
                ) from exc
            time.sleep(delay * (attempt + 1))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it the owner's only (0700 on POSIX)."""
    path.mkdir(parents=True, exist_ok=True)
    if IS_POSIX:
        with contextlib.suppress(OSError):
            path.chmod(PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make an existing file the owner's only (0600 on POSIX)."""
    if IS_POSIX:
        with contextlib.suppress(OSError):
            path.chmod(PRIVATE_FILE_MODE)
    return path


def write_private(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file, sync, replace), owner-only.

    ``durable=False`` skips the sync (for notes a crash may lose without harm). The folder
    is created if missing but its mode is left alone (it may be the user's own, like the
    folder a take was recorded to); folders the app owns are made private with
    :func:`private_dir`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # noqa: PLC0415 - not needed to start the app

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                sync_file(f.fileno())
        private_file(Path(tmp))  # mkstemp makes 0600 already; kept explicit
        replace_file(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- damaged files


def damaged_copy_path(path: Path, data: bytes) -> Path:
    """Where a damaged version of ``path`` is kept: named by its content, so each damaged
    version is kept once however many times the app starts and finds it."""
    import hashlib  # noqa: PLC0415 - only for damaged files

    digest = hashlib.sha256(data).hexdigest()[:12]
    return path.with_name(f"{path.name}.damaged-{digest}")


def keep_damaged(path: Path, *, move: bool = False) -> Path:
    """Keep a damaged file for the user: a copy (or, with ``move``, the file itself) next to
    it, named by its content, with the original's permissions. Returns where it is.

    Once per damaged version: when that version was kept before, nothing is written again
    (a moved file whose copy exists already is simply removed).
    """
    data = path.read_bytes()
    target = damaged_copy_path(path, data)
    if target.exists():
        if move:
            path.unlink(missing_ok=True)
        return target
    if move:
        replace_file(path, target)
    else:
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        import shutil  # noqa: PLC0415

        shutil.copymode(path, tmp)
        replace_file(tmp, target)
    return target

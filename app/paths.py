"""Where the application keeps its files, following each OS's conventions (platformdirs).

On Linux ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``XDG_STATE_HOME`` and ``XDG_CACHE_HOME``
are honoured. platformdirs ignores them on Windows and macOS, so ``VMSG_HOME`` puts every
folder of the app under one directory on every OS (``config``, ``data``, ``log``,
``cache``): how the tests isolate a run, and how a second installation can.
The administrator's policy lives at a fixed machine-wide path per OS (see
:func:`machine_policy_path`); ``VMSG_POLICY`` points elsewhere, for tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from app import APP_AUTHOR, APP_ID, system

POLICY_ENV = "VMSG_POLICY"
SANDBOX_DIR_ENV = "VMSG_SANDBOX_DIR"
HOME_ENV = "VMSG_HOME"


def _dirs() -> platformdirs.PlatformDirs:
    return platformdirs.PlatformDirs(appname=APP_ID, appauthor=APP_AUTHOR, roaming=False)


def _home(kind: str) -> Path | None:
    base = os.environ.get(HOME_ENV, "").strip()
    return Path(base).expanduser() / kind if base else None


def config_dir() -> Path:
    """The user's configuration directory (settings.json lives here)."""
    return _home("config") or Path(_dirs().user_config_dir)


def data_dir() -> Path:
    """The user's data directory: recordings, outbox, user templates, sandbox data."""
    return _home("data") or Path(_dirs().user_data_dir)


def log_dir() -> Path:
    """The user's log directory."""
    return _home("log") or Path(_dirs().user_log_dir)


def cache_dir() -> Path:
    """The user's cache directory (safe to delete)."""
    return _home("cache") or Path(_dirs().user_cache_dir)


def app_roots() -> list[Path]:
    """The folders the app owns outright (everything in them is the app's)."""
    return [config_dir(), data_dir(), log_dir(), cache_dir()]


def private_app_dir(path: Path) -> Path:
    """Create ``path`` owner-only (0700 on POSIX), and every folder between it and the app
    root it is in (``~/.local/share/video-messaging``, ...). A folder outside the app's
    roots (one the user chose) is created, and only it is made private."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for root in app_roots():
        try:
            inner = path.relative_to(root)
        except ValueError:
            continue
        current = root
        system.private_dir(current)
        for part in inner.parts:
            current = current / part
            system.private_dir(current)
        return path
    return system.private_dir(path)


def settings_path() -> Path:
    return config_dir() / "settings.json"


_log_name: tuple[int, str] | None = None


def log_path() -> Path:
    """This process's log file: one per process (``vmsg-20261202-073015-4242.log``), so
    the desktop app and a command running beside it never rotate each other's file
    (Windows refuses to rename a file another process has open)."""
    global _log_name  # noqa: PLW0603 - fixed for the life of the process
    pid = os.getpid()
    if _log_name is None or _log_name[0] != pid:
        import time  # noqa: PLC0415

        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
        _log_name = (pid, f"{LOG_PREFIX}{stamp}-{pid}.log")
    return log_dir() / _log_name[1]


LOG_PREFIX = "vmsg-"


def recordings_dir() -> Path:
    return data_dir() / "recordings"


def templates_dir() -> Path:
    """Where user templates live, next to the built-in ones in ``resources/templates``."""
    return data_dir() / "templates"


def machine_policy_path() -> Path:
    """The machine-wide, read-only policy file an administrator (or an MDM) places.

    - Windows: ``%ProgramData%\\Video Messaging\\policy.json``
    - macOS: ``/Library/Application Support/Video Messaging/policy.json``
    - Linux and others: ``/etc/video-messaging/policy.json``
    """
    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(base) / "Video Messaging" / "policy.json"
    if platform == "darwin":
        return Path("/Library/Application Support/Video Messaging/policy.json")
    return Path("/etc/video-messaging/policy.json")


def policy_path() -> Path:
    """The policy file in force: ``VMSG_POLICY`` when set, else the machine-wide path."""
    override = os.environ.get(POLICY_ENV)
    return Path(override) if override else machine_policy_path()


def sandbox_dir() -> Path:
    """The built-in sandbox's data directory: ``VMSG_SANDBOX_DIR`` or under the data dir."""
    override = os.environ.get(SANDBOX_DIR_ENV)
    return Path(override) if override else data_dir() / "sandbox"


def resources_dir() -> Path:
    """The shipped resources (templates, landing page, icons), also inside a frozen build."""
    frozen_base = getattr(sys, "_MEIPASS", None)
    if frozen_base:
        return Path(frozen_base) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"

"""Where the application keeps its files, following each OS's conventions (platformdirs).

On Linux ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``XDG_STATE_HOME`` and ``XDG_CACHE_HOME``
are honoured, so a test run or a second installation can be isolated by setting them.
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


def _dirs() -> platformdirs.PlatformDirs:
    return platformdirs.PlatformDirs(appname=APP_ID, appauthor=APP_AUTHOR, roaming=False)


def config_dir() -> Path:
    """The user's configuration directory (settings.json lives here)."""
    return Path(_dirs().user_config_dir)


def data_dir() -> Path:
    """The user's data directory: recordings, outbox, user templates, sandbox data."""
    return Path(_dirs().user_data_dir)


def log_dir() -> Path:
    """The user's log directory."""
    return Path(_dirs().user_log_dir)


def cache_dir() -> Path:
    """The user's cache directory (safe to delete)."""
    return Path(_dirs().user_cache_dir)


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


def log_path() -> Path:
    return log_dir() / "vmsg.log"


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
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(base) / "Video Messaging" / "policy.json"
    if sys.platform == "darwin":
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

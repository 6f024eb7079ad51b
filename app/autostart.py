"""Start the app when the user logs in, the way each OS expects, in the user's own account.

- **Linux and other XDG desktops**: a desktop entry, ``video-messaging.desktop``, in
  ``$XDG_CONFIG_HOME/autostart`` (``~/.config/autostart``), as the XDG Autostart
  specification says; GNOME's switch for it (``X-GNOME-Autostart-enabled``) and ``Hidden``
  are honoured when reading it back.
- **Windows**: a value named after the app under
  ``HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``. When the user
  turns the entry off in Task Manager or Settings, Explorer records it under
  ``...\\Explorer\\StartupApproved\\Run`` and leaves the Run value in place; that counts as
  off, and turning it on here clears it.
- **macOS**: a launch agent, ``~/Library/LaunchAgents/<label>.plist``, with ``RunAtLoad``.

Every function takes the platform (and the home folder, the Run key) as arguments, so
tests drive each OS's branch on any OS; by default they are this machine's. The command
is stored as a list of arguments and read back as one (:func:`registered_command`),
quoted by each format's own rules. Files are written owner-only and atomically
(:func:`app.system.write_private`). A failure to write or remove an entry is a
:class:`~app.errors.SettingsError` that names the place.
"""

from __future__ import annotations

import importlib
import os
import plistlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from app import APP_AUTHOR, APP_ID, APP_NAME, system
from app.errors import SettingsError

DESKTOP_FILE_NAME = f"{APP_ID}.desktop"
LAUNCH_AGENT_LABEL = f"com.{APP_AUTHOR.lower()}.{APP_ID}"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
STARTUP_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
RUN_VALUE_NAME = APP_NAME
#: The setting that turns the entry on and off (app/settings.py, Desktop.start_at_login):
#: the one the errors here point to.
SETTING = "desktop.start_at_login"


def default_command(*, platform: str = sys.platform) -> list[str]:
    """What starts the app at login, in the tray (``--minimized``, app/ui/entry.py): the
    frozen executable, or this Python running the desktop app (``pythonw`` on Windows, so
    no console window opens). The Windows installer's optional task writes the frozen
    command too (packaging/windows/video-messaging.iss, ``RunCommand``)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--minimized"]
    python = Path(sys.executable)
    if platform == "win32" and python.name.lower() == "python.exe":
        windowless = python.with_name("pythonw.exe")
        if windowless.exists():
            python = windowless
    return [str(python), "-m", "app", "gui", "--minimized"]


# --------------------------------------------------------------------------- Linux (XDG)

# Desktop Entry Specification, "The Exec key": an argument holding any of these is quoted.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = set('"`$\\')
_STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def _quote_exec_argument(arg: str) -> str:
    if arg and not _RESERVED.intersection(arg):
        quoted = arg
    else:
        quoted = '"' + "".join("\\" + c if c in _ESCAPED_IN_QUOTES else c for c in arg) + '"'
    return quoted.replace("%", "%%")  # % starts a field code (%f, %u): a literal one is %%


def _escape_string(value: str) -> str:
    """A desktop entry string value (the escapes are undone before the Exec quoting)."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )


def _unescape_string(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            out.append(_STRING_ESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(c)
    return "".join(out)


def desktop_exec(command: list[str]) -> str:
    """The value of an ``Exec=`` line that runs ``command`` (as written in the file)."""
    return _escape_string(" ".join(_quote_exec_argument(arg) for arg in command))


def parse_desktop_exec(value: str) -> list[str]:
    """The arguments an ``Exec=`` value (as written in the file) runs; the inverse of
    :func:`desktop_exec`."""
    args: list[str] = []
    current: list[str] = []
    in_arg = quoted = False
    chars = iter(_unescape_string(value))
    for c in chars:
        if quoted:
            if c == "\\":
                nxt = next(chars, "")
                current.append(nxt if nxt in _ESCAPED_IN_QUOTES else "\\" + nxt)
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c in " \t\n":
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        elif c == '"':
            quoted = in_arg = True
        else:
            current.append(c)
            in_arg = True
    if in_arg:
        args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


def _desktop_entry(path: Path) -> dict[str, str]:
    """The keys of the ``[Desktop Entry]`` group (values as written)."""
    entry: dict[str, str] = {}
    group = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
        elif group == "Desktop Entry" and "=" in line:
            key, _, value = line.partition("=")
            entry[key.strip()] = value.strip()
    return entry


class _DesktopAutostart:
    def __init__(self, home: Path) -> None:
        config = os.environ.get("XDG_CONFIG_HOME", "")
        # The spec: an unset, empty or relative XDG_CONFIG_HOME means ~/.config.
        root = Path(config) if config and Path(config).is_absolute() else home / ".config"
        self.path = root / "autostart" / DESKTOP_FILE_NAME

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> list[str] | None:
        try:
            entry = _desktop_entry(self.path)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise _unreadable(self.location, exc) from exc
        if (
            entry.get("Hidden", "").lower() == "true"
            or entry.get("X-GNOME-Autostart-enabled", "true").lower() == "false"
            or "Exec" not in entry
        ):
            return None
        return parse_desktop_exec(entry["Exec"])

    def write(self, command: list[str]) -> None:
        text = (
            "[Desktop Entry]\n"
            "Type=Application\n"
            f"Name={_escape_string(APP_NAME)}\n"
            f"Comment={_escape_string(f'Start {APP_NAME} when you log in')}\n"
            f"Exec={desktop_exec(command)}\n"
            "Terminal=false\n"
            "X-GNOME-Autostart-enabled=true\n"
        )
        system.write_private(self.path, text.encode("utf-8"))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- Windows


class RunKey(Protocol):
    """The user's Run key (value name → command line) and Explorer's record of entries the
    user turned off. :class:`WindowsRunKey` is the real one."""

    def get(self, name: str) -> str | None:
        """The command line of value ``name``, None if there is none."""
        ...

    def set(self, name: str, command_line: str) -> None:
        """Write value ``name`` and clear any "turned off by the user" record of it."""
        ...

    def delete(self, name: str) -> None:
        """Remove value ``name`` and its record (nothing happens if there is none)."""
        ...

    def disabled_by_user(self, name: str) -> bool:
        """Whether the user turned ``name`` off in Task Manager or Settings."""
        ...


class WindowsRunKey:
    """``HKEY_CURRENT_USER\\...\\Run`` through :mod:`winreg` (imported on use: Windows only).

    ``StartupApproved\\Run`` is not documented by Microsoft: Task Manager writes a binary
    value whose first byte is even (``02``) for on and odd (``03``) for off.
    """

    def _winreg(self) -> Any:
        return importlib.import_module("winreg")

    def get(self, name: str) -> str | None:
        winreg = self._winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return value if isinstance(value, str) else None

    def set(self, name: str, command_line: str) -> None:
        winreg = self._winreg()
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, command_line)
        self._delete_value(STARTUP_APPROVED_KEY, name)

    def delete(self, name: str) -> None:
        self._delete_value(RUN_KEY, name)
        self._delete_value(STARTUP_APPROVED_KEY, name)

    def disabled_by_user(self, name: str) -> bool:
        winreg = self._winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, STARTUP_APPROVED_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return False
        return isinstance(value, bytes) and bool(value) and bool(value[0] & 1)

    def _delete_value(self, path: str, name: str) -> None:
        winreg = self._winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            pass


def windows_command_line(command: list[str]) -> str:
    """One command line for ``command``, quoted as the Microsoft C runtime parses it."""
    return subprocess.list2cmdline(command)


def parse_windows_command_line(line: str) -> list[str]:
    """The arguments Windows gives a program for ``line`` (``CommandLineToArgvW``'s rules:
    the program name ends at its closing quote; after it, ``2n`` backslashes before a quote
    are ``n`` backslashes and the quote toggles quoting, ``2n+1`` are ``n`` and a literal
    quote)."""
    args: list[str] = []
    i, n = 0, len(line)
    while i < n and line[i] in " \t":
        i += 1
    if i >= n:
        return args
    if line[i] == '"':  # the program name: no escapes, no quotes inside
        end = line.find('"', i + 1)
        end = n if end < 0 else end
        args.append(line[i + 1 : end])
        i = end + 1
    else:
        start = i
        while i < n and line[i] not in " \t":
            i += 1
        args.append(line[start:i])
    current: list[str] = []
    in_arg = quoted = False
    while i < n:
        c = line[i]
        if c == "\\":
            run = i
            while i < n and line[i] == "\\":
                i += 1
            slashes = i - run
            if i < n and line[i] == '"':
                current.append("\\" * (slashes // 2))
                if slashes % 2:
                    current.append('"')
                    i += 1
            else:
                current.append("\\" * slashes)
            in_arg = True
            continue
        if c == '"':
            quoted = not quoted
            in_arg = True
        elif c in " \t" and not quoted:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return args


class _RunKeyAutostart:
    def __init__(self, run_key: RunKey) -> None:
        self.run_key = run_key

    @property
    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{RUN_VALUE_NAME}"

    def read(self) -> list[str] | None:
        try:
            line = self.run_key.get(RUN_VALUE_NAME)
            if line is None or self.run_key.disabled_by_user(RUN_VALUE_NAME):
                return None
        except OSError as exc:
            raise _unreadable(self.location, exc) from exc
        return parse_windows_command_line(line)

    def write(self, command: list[str]) -> None:
        self.run_key.set(RUN_VALUE_NAME, windows_command_line(command))

    def remove(self) -> None:
        self.run_key.delete(RUN_VALUE_NAME)


# --------------------------------------------------------------------------- macOS


class _LaunchAgentAutostart:
    def __init__(self, home: Path) -> None:
        self.path = home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> list[str] | None:
        try:
            agent = plistlib.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, plistlib.InvalidFileException, ValueError) as exc:
            raise _unreadable(self.location, exc) from exc
        if not isinstance(agent, dict) or not agent.get("RunAtLoad") or agent.get("Disabled"):
            return None
        arguments = agent.get("ProgramArguments")
        if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
            return None
        return list(arguments)

    def write(self, command: list[str]) -> None:
        agent = {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # A GUI app: only in the user's graphical login session, with its priority.
            "LimitLoadToSessionType": "Aqua",
            "ProcessType": "Interactive",
        }
        system.write_private(self.path, plistlib.dumps(agent, fmt=plistlib.FMT_XML))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the API


class _Autostart(Protocol):
    @property
    def location(self) -> str: ...

    def read(self) -> list[str] | None: ...

    def write(self, command: list[str]) -> None: ...

    def remove(self) -> None: ...


def _unreadable(location: str, exc: Exception) -> SettingsError:
    return SettingsError(
        f"Could not read the start-at-login entry {location}.",
        hint="Turn starting at login off and on again to rewrite it.",
        details=f"{type(exc).__name__}: {exc}",
        setting=SETTING,
    )


def _autostart(platform: str, home: Path | None, run_key: RunKey | None) -> _Autostart | None:
    if platform == "win32":
        return _RunKeyAutostart(run_key if run_key is not None else WindowsRunKey())
    home = home if home is not None else Path.home()
    if platform == "darwin":
        return _LaunchAgentAutostart(home)
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return _DesktopAutostart(home)
    return None


def registered_command(
    *, platform: str = sys.platform, home: Path | None = None, run_key: RunKey | None = None
) -> list[str] | None:
    """The command that runs at login, None when the app does not start at login (or the
    entry was turned off outside the app)."""
    entry = _autostart(platform, home, run_key)
    return entry.read() if entry is not None else None


def is_enabled(
    *, platform: str = sys.platform, home: Path | None = None, run_key: RunKey | None = None
) -> bool:
    """Whether the app starts when the user logs in."""
    return registered_command(platform=platform, home=home, run_key=run_key) is not None


def enable(
    command: list[str] | None = None,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    run_key: RunKey | None = None,
) -> None:
    """Start ``command`` (by default :func:`default_command`) when the user logs in,
    replacing any entry there was."""
    entry = _autostart(platform, home, run_key)
    if entry is None:
        raise SettingsError("Starting at login is not supported on this system.", setting=SETTING)
    command = list(command) if command is not None else default_command(platform=platform)
    if not command or not command[0]:
        raise ValueError("the command to start at login is empty")
    try:
        entry.write(command)
    except OSError as exc:
        raise SettingsError(
            f"Could not turn on starting at login: {entry.location} could not be written.",
            hint="Check that your home folder is writable, then try again.",
            details=f"{type(exc).__name__}: {exc}",
            setting=SETTING,
        ) from exc


def disable(
    *, platform: str = sys.platform, home: Path | None = None, run_key: RunKey | None = None
) -> None:
    """Stop starting the app at login (nothing happens if it did not)."""
    entry = _autostart(platform, home, run_key)
    if entry is None:
        return
    try:
        entry.remove()
    except OSError as exc:
        raise SettingsError(
            f"Could not turn off starting at login: {entry.location} could not be removed.",
            hint="Remove it yourself, or check its permissions and try again.",
            details=f"{type(exc).__name__}: {exc}",
            setting=SETTING,
        ) from exc


def describe(
    *, platform: str = sys.platform, home: Path | None = None, run_key: RunKey | None = None
) -> str:
    """Where the start-at-login entry lives on this system (a file or a registry value)."""
    entry = _autostart(platform, home, run_key)
    return entry.location if entry is not None else "nowhere: not supported on this system"

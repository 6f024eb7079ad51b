"""The platform seam (app/system.py) on this OS, each behaviour proved by the OS itself.

A file "held open" is held the way each OS really refuses a replace: on Windows by an open
handle (Python never grants FILE_SHARE_DELETE), on Linux by the immutable attribute
(``chattr +i``: EPERM, as root too), on macOS by the user-immutable flag (``chflags
uchg``). Processes are real processes. The Windows and macOS branches run in the GitHub
Actions workflow (.github/workflows/tests.yml).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app import system

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _held(path: Path) -> Iterator[Callable[[], None]]:
    """Make the OS refuse to replace ``path`` until the yielded ``release`` is called."""
    if sys.platform == "win32":
        handle = open(path, "rb")  # noqa: SIM115 - released by the test's timing
        release = handle.close
    elif sys.platform == "darwin":
        subprocess.run(["chflags", "uchg", str(path)], check=True)

        def release() -> None:
            subprocess.run(["chflags", "nouchg", str(path)], check=False)
    else:
        if shutil.which("chattr") is None:
            pytest.skip("chattr (e2fsprogs) is not installed")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"this filesystem has no immutable attribute: {done.stderr!r}")

        def release() -> None:
            subprocess.run(["chattr", "-i", str(path)], check=False)

    try:
        yield release
    finally:
        release()


def test_replace_waits_out_a_brief_holder(tmp_path: Path) -> None:
    target, new = tmp_path / "state.json", tmp_path / "state.json.tmp"
    target.write_text("old")
    new.write_text("new")
    with _held(target) as release:
        timer = threading.Timer(0.15, release)
        timer.start()
        system.replace_file(new, target)  # retried until the holder let go
        timer.join()
    assert target.read_text(encoding="utf-8") == "new" and not new.exists()


def test_replace_fails_loudly_and_keeps_both_files_when_held_throughout(tmp_path: Path) -> None:
    target, new = tmp_path / "state.json", tmp_path / "state.json.tmp"
    target.write_text("old")
    new.write_text("new")
    with _held(target), pytest.raises(system.ReplaceFailed, match="another program has it open"):
        system.replace_file(new, target, attempts=3, delay=0.01)
    assert target.read_text(encoding="utf-8") == "old" and new.read_text(encoding="utf-8") == "new"


def test_write_private_leaves_no_temp_file_when_the_target_is_held(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.write_text("{}")
    with _held(target), pytest.raises(system.ReplaceFailed):
        system.write_private(target, b'{"a": 1}')
    assert target.read_text(encoding="utf-8") == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_write_private_is_atomic_durable_and_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "new" / "outbox.json"
    system.write_private(target, b"[1]")
    assert target.read_bytes() == b"[1]"
    if system.IS_POSIX:
        assert target.stat().st_mode & 0o777 == 0o600
    with open(target, "rb") as f:
        system.sync_file(f.fileno())  # F_FULLFSYNC on macOS, fsync elsewhere: no error


def test_this_process_is_alive_and_a_reused_pid_is_not_mistaken_for_it() -> None:
    me = system.this_process()
    assert me.pid == os.getpid() and me.started > 0
    assert system.process_alive(me.pid, me.started)
    assert system.owner_alive(str(me))
    # The same pid with another start time is another process (the pid was reused).
    assert not system.process_alive(me.pid, me.started - 3600)
    assert system.ProcessId.parse(str(me)) == me


def test_a_finished_process_is_gone_and_junk_owners_are_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not system.process_alive(child.pid)
    for junk in ("", "abc", "-5@1", "0", "12@x"):
        assert not system.owner_alive(junk)


@pytest.mark.skipif(sys.platform == "win32", reason="zombies are a POSIX thing")
def test_a_killed_unreaped_process_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = system.ProcessId(child.pid, system._start_time(child.pid)).started
        assert system.process_alive(child.pid, started)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while system.process_alive(child.pid, started) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not system.process_alive(child.pid, started)  # a zombie, not reaped yet
    finally:
        child.kill()
        child.wait()


STOPPER = """
import sys, time
from app import system
system.stop_on_signals()
try:
    # "ready" inside the try: the signal can land while print is still returning.
    print("ready", flush=True)
    for _ in range(300):  # short waits: on Windows only SIGINT cuts a long sleep short
        time.sleep(0.1)
except KeyboardInterrupt as exc:
    print("stopped cleanly by", exc, flush=True)
    sys.exit(130)
"""


def _stop_signal_cases() -> list[str]:
    if sys.platform == "win32":
        # Another process can only send Ctrl+Break (to a process group); "SIGTERM" there
        # is TerminateProcess, which no handler sees.
        return ["SIGBREAK"]
    return [s.name for s in system.stop_signals()]


@pytest.mark.parametrize("name", _stop_signal_cases())
def test_every_stop_signal_takes_the_ctrl_c_path(name: str) -> None:
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if name == "SIGBREAK" else 0
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPPER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        creationflags=flags,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    if name == "SIGBREAK":
        proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
    else:
        proc.send_signal(getattr(signal, name))
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert f"stopped cleanly by {name}" in out


def test_stop_signals_cover_this_os() -> None:
    names = {s.name for s in system.stop_signals()}
    if sys.platform == "win32":
        assert names == {"SIGINT", "SIGTERM", "SIGBREAK"}
    else:
        assert names == {"SIGINT", "SIGTERM", "SIGHUP"}


def test_json_on_stdout_is_utf8_whatever_the_locale() -> None:
    code = (
        "from app import system; system.utf8_stdio(); from app.cli.output import emit_json; "
        "emit_json({'name': 'Zoë Ångström 山田'})"
    )
    env = dict(os.environ, PYTHONIOENCODING="ascii", PYTHONUTF8="0")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.decode("utf-8")) == {"name": "Zoë Ångström 山田"}


def test_without_utf8_stdio_that_output_would_fail() -> None:
    """The case above is real: the same line under an ASCII stdout cannot be written."""
    code = "from app.cli.output import emit_json; emit_json({'name': 'Zoë'})"
    env = dict(os.environ, PYTHONIOENCODING="ascii", PYTHONUTF8="0")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode != 0 and b"UnicodeEncodeError" in done.stderr


@pytest.mark.parametrize(
    ("platform", "page"),
    [
        ("win32", "ms-settings:privacy-webcam"),
        ("darwin", "x-apple.systempreferences:com.apple.preference.security?Privacy_Camera"),
        ("linux", ""),
    ],
)
def test_privacy_pages(platform: str, page: str) -> None:
    assert system.privacy_page("camera", platform)[1] == page


def test_device_access_denied_reads_windows_consent_only_there() -> None:
    # Elsewhere there is no such switch; on Windows the consent store is read (a bool).
    result = system.device_access_denied("camera")
    assert result is False if sys.platform != "win32" else isinstance(result, bool)
    assert system.device_access_denied("microphone", platform="linux") is False

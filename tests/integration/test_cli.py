"""The vmsg command line: --version, --help, doctor, unknown input, not-yet-built commands."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__, cli, settings
from app.recorder import devices


def run_vmsg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process, as a user runs it (never a crash)."""
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert "This is a bug" not in done.stdout + done.stderr, done.stderr
    return done


def test_version() -> None:
    done = run_vmsg("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"vmsg {__version__}"


def test_help_lists_every_subcommand() -> None:
    done = run_vmsg("--help")
    assert done.returncode == 0
    for name in cli.COMMANDS:
        assert name in done.stdout
    for option in ("--version", "--verbose", "--profile"):
        assert option in done.stdout


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: vmsg" in err and "invalid choice: 'frobnicate'" in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["doctor", "--frobnicate"])
    assert info.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_every_command_is_built() -> None:
    handlers = {name: cli.handler_for(name) for name in cli.COMMANDS}
    unbuilt = [n for n, h in handlers.items() if h.__qualname__.startswith("_not_available")]
    assert unbuilt == []


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="only a Linux session can lack a display"
)
def test_the_desktop_app_without_a_display_says_so_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["gui"]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "vmsg demo" in err


def test_only_the_chosen_command_is_registered() -> None:
    """Building the parser imports nothing of a command that was not asked for."""
    parser = cli.build_parser("upload")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "--title" in sub.choices["upload"].format_help()
    assert sub.choices["send"].get_default("handler") is None  # a placeholder only
    assert cli.command_in(["--profile", "send", "upload", "x.mp4"]) == "upload"
    assert cli.command_in(["-v", "--version"]) is None


def test_help_and_version_import_no_media_or_network_library() -> None:
    code = (
        "import sys; from app import cli\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try: cli.main(argv)\n"
        "    except SystemExit: pass\n"
        "heavy = {'av', 'cv2', 'numpy', 'PySide6', 'msal', 'requests', 'jinja2'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _installed_script(name: str) -> str:
    """Where pip put a console script (``Scripts\\vmsg.exe`` on Windows)."""
    import shutil
    import sysconfig

    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    assert found, f"{name} is not installed next to this Python"
    return found


def test_python_dash_m_app_is_vmsg() -> None:
    assert (
        run_vmsg("--version").stdout
        == subprocess.run(
            [_installed_script("vmsg"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )


def test_app_errors_are_printed_once_with_their_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.errors import KalturaError

    def boom(_args: object) -> int:
        raise KalturaError("The partner id 5 does not exist.", hint="Check the profile.")

    original = cli.build_parser
    monkeypatch.setattr(
        cli, "build_parser", lambda command=None, handlers=None: original(command, {"doctor": boom})
    )
    assert cli.main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert "vmsg: The partner id 5 does not exist." in err
    assert "Check the profile." in err
    assert "Traceback" not in err


def test_doctor_reports_versions_devices_keyring_paths_and_profiles() -> None:
    done = run_vmsg("doctor")
    out = done.stdout
    for label in (
        "Video Messaging: ",
        "Python: ",
        "Qt (PySide6): ",
        "FFmpeg (PyAV): FFmpeg",
        "PortAudio: ",
        "Keyring: ",
        "Log file: ",
        "Settings file: ",
        "Policy file: ",
        "Profile Sandbox (active)",
        "Sign-in storage (Sandbox): ",
    ):
        assert label in out, label
    assert done.returncode == 0, out  # nothing required is missing here
    if not list(Path("/dev").glob("video[0-9]*")):
        assert "Cameras: none found" in out  # this machine has no camera


def test_doctor_fails_with_what_to_do_when_policy_is_invalid(tmp_path: Path) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text('{"policy_version": 1, "recording": {"preset": 4}}', encoding="utf-8")
    done = run_vmsg("doctor", env={"VMSG_POLICY": str(bad)})
    assert done.returncode == 1
    assert "[FAIL] Policy file" in done.stdout and str(bad) in done.stdout
    assert "Something required is missing" in done.stdout


def test_doctor_shows_each_profiles_endpoints() -> None:
    s = settings.Settings()
    org = settings.Profile(name="Contoso", kind="organization")
    org.kaltura.partner_id = 4242
    org.microsoft.client_id = "cid-123"
    s.profiles["Contoso"] = org
    settings.save(s)
    out = run_vmsg("doctor").stdout
    assert "Profile Contoso: Kaltura https://www.kaltura.com partner 4242" in out
    assert "client cid-123" in out
    assert "incomplete: Kaltura app token id" in out


def test_doctor_reports_reset_settings(tmp_path: Path) -> None:
    from app import paths

    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text("{oops", encoding="utf-8")
    out = run_vmsg("doctor").stdout
    assert "[warn] Settings file" in out and "not valid JSON" in out


@pytest.mark.needs_audio
def test_doctor_lists_the_pulseaudio_input() -> None:
    if not any("pulse" in m.name.lower() for m in devices.list_microphones()):
        pytest.skip("no PulseAudio input here (the test runner starts one: dev.sh test)")
    out = run_vmsg("doctor").stdout
    assert "Microphone: " in out and "pulse" in out.lower()

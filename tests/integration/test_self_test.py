"""``vmsg --self-test`` and ``video-messaging --self-test`` on this installation (a source
checkout here; the frozen bundles run the same in the release workflow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.workflow.selftest import run_self_test

ROOT = Path(__file__).resolve().parents[2]
FLOW = "record_upload_send"


def _run(code: str) -> tuple[int, dict[str, object], str]:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    done = subprocess.run(
        [sys.executable, "-c", code, "--self-test"],
        cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300,
        check=False,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_command_lines_self_test_passes() -> None:
    code, report, err = _run("import sys; from app.cli import main; sys.exit(main())")
    assert code == 0, (report, err)
    assert report["self_test"] == "passed" and report["unexpected_stderr"] == []
    checks = report["checks"]
    assert isinstance(checks, dict)
    assert {"opencv", "pyav", "portaudio", "msal", "keyring", FLOW} <= set(checks)
    assert "1 email sent and received" in checks[FLOW]


def test_the_desktop_apps_self_test_opens_the_window_too() -> None:
    code, report, err = _run("import sys; from app.ui.entry import main; sys.exit(main())")
    assert code == 0, (report, err)
    checks = report["checks"]
    assert isinstance(checks, dict)
    assert "offscreen" in checks["qt"] and checks["main_window"].startswith("painted")
    assert checks["qt_warnings"] == "none"


def test_a_failing_piece_or_a_library_writing_to_stderr_fails_it() -> None:
    def broken() -> str:
        raise RuntimeError("libsomething.so: cannot open shared object file")

    def noisy() -> str:
        os.write(2, b"[h264 @ 0x1] no encoder found\n")
        os.write(2, b"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear\n")
        return "fine, it says"

    report = run_self_test(extra=[("broken", broken), ("noisy", noisy)])
    result = report.to_dict()
    assert result["self_test"] == "failed" and not report.ok
    assert result["checks"]["broken"].startswith("FAILED: RuntimeError: libsomething.so")
    # The codec complaint fails it; ALSA probing a machine without a sound card does not.
    assert result["unexpected_stderr"] == ["[h264 @ 0x1] no encoder found"]
    assert result["checks"][FLOW].startswith("recorded")  # the rest still ran


def test_a_windowed_app_without_stderr_still_runs_it() -> None:
    """A windowed executable started without a console (Windows) has no stderr at all:
    ``sys.stderr`` is None and descriptor 2 is closed. The self-test runs and decides."""
    code = (
        "import os, sys\n"
        "os.close(2); sys.stderr = None\n"
        "from app.workflow.selftest import run_self_test\n"
        "report = run_self_test()\n"
        "print(report.to_dict()['self_test'], report.stderr, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "passed []"
    # The capture itself with no descriptor 2: what is written is caught, and afterwards
    # descriptor 2 is closed again, as it was.
    capture = (
        "import os, sys\n"
        "os.close(2); sys.stderr = None\n"
        "from app.workflow.selftest import captured_stderr\n"
        "with captured_stderr() as lines:\n"
        "    os.write(2, b'from a library\\n')\n"
        "try:\n"
        "    os.fstat(2); state = 'open'\n"
        "except OSError:\n"
        "    state = 'closed'\n"
        "print(lines, state, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", capture], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.stdout.strip() == "['from a library'] closed", done.stdout + done.stderr

"""(c) The app is killed during a take; started again, it recovers the take and offers it.

The first app runs in its own process (``vmsg gui --quick-record``, offscreen), records with
upload while recording, and is killed with SIGKILL once a few seconds are on disk. The
second app, in the test's process, reconciles at start: the take is finalized up to its
last complete fragment and the window offers it; "Review and send it" opens it in Review,
where it is trimmed like a new take (it has no recording session).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app import paths
from app.recorder import media, sidecar
from tests.helpers import posix_signals, short_dir, socket_file, wait_until
from tests.integration.ui.conftest import write_settings
from tests.integration.workflow.conftest import kaltura_calls


def _recording_take() -> Path | None:
    for video in paths.recordings_dir().glob("*.mp4"):
        try:
            state = sidecar.read_state(video)
            _end, fragments = media.complete_fragments_end(video)
        except Exception:  # being written: look again
            continue
        if state.state == "recording" and fragments >= 3:
            return video
    return None


def _start_app(tmp_path: Path, log_name: str, *args: str) -> tuple[Any, dict[str, str], Path]:
    """``vmsg gui ARGS`` in its own process, offscreen, with a temporary folder of its own
    (its single-instance socket is private to the test); stderr goes to ``log_name``."""
    write_settings()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(short_dir(tmp_path))}
    log = tmp_path / log_name
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "gui", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    return proc, env, log


def test_a_take_killed_mid_recording_is_recovered_and_offered(
    qtbot: Any, sandbox: Any, desktop_factory: Any, tmp_path: Path
) -> None:
    first, _env, log = _start_app(tmp_path, "first-app.log", "--quick-record")
    try:
        wait_until(lambda: _recording_take() is not None or first.poll() is not None, timeout=120)
        assert first.poll() is None, log.read_text(encoding="utf-8")
        video = _recording_take()
        assert video is not None
    finally:
        first.kill()  # SIGKILL; TerminateProcess on Windows
        first.wait(30)
    assert sidecar.read_state(video).state == "recording"  # the kill left it unfinished

    app = desktop_factory()
    report = app.report
    assert [t.path for t in report.recovered] == [video]
    assert report.recovered[0].duration >= 2.0
    banner = app.window.banner
    assert banner.isVisible() and "recovered" in banner.plain_text()
    offer = next(b for b in banner.buttons if b.text() == "Review and send it")
    with qtbot.waitSignal(app.recording.finished, timeout=30_000) as finished:
        qtbot.mouseClick(offer, Qt.MouseButton.LeftButton)
    take = finished.args[0]
    assert take.path == video and take.duration >= 2.0
    assert app.window.stack.currentWidget() is app.window.review
    qtbot.waitUntil(lambda: app.window.review.player is not None, timeout=30_000)
    assert sidecar.read_state(video).state == "recovered"
    # The take was streaming to Kaltura when it was killed: its upload resumed at start-up
    # into the same entry, which the recovered take now carries.
    [resumed] = [u for u in report.uploads if u.path == video]
    assert take.entry_id == resumed.entry_id and take.uploaded
    # Trimmed in Review: a new file, which replaces that entry's content (same entry, same
    # link), and is what Compose sends.
    review = app.window.review
    review.trim.setFocus()
    qtbot.keyClick(review.trim, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert review.trim.trimmed
    with qtbot.waitSignal(app.recording.trimmed, timeout=60_000) as trimmed:
        qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    new = trimmed.args[0]
    assert new.path != video and new.duration < take.duration - 0.8
    assert new.entry_id == resumed.entry_id and new.uploaded
    assert media.check_playable(new.path).playable
    qtbot.waitUntil(lambda: app.window.stack.currentWidget() is app.window.compose, timeout=5000)
    assert app.window.compose.take == new
    assert kaltura_calls(sandbox, "media", "updateContent") == 1
    assert kaltura_calls(sandbox, "media", "add") == 1  # never a second entry


@posix_signals
def test_a_stop_signal_during_a_take_keeps_it_final(
    qtbot: Any, sandbox: Any, tmp_path: Path
) -> None:
    """SIGTERM (logout, shutdown) quits the app like its Quit menu: the take is finished
    and kept, not left for recovery."""
    proc, _env, log = _start_app(tmp_path, "app.log", "--quick-record")
    try:
        wait_until(lambda: _recording_take() is not None or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, log.read_text(encoding="utf-8")
        video = _recording_take()
        assert video is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text(encoding="utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert sidecar.read_state(video).state == "final"
    assert media.check_playable(video).playable


@socket_file
@posix_signals
def test_a_second_launch_hands_over_and_quick_record_records_in_the_running_app(
    sandbox: Any, tmp_path: Path
) -> None:
    """`vmsg gui --quick-record` (what an OS keyboard shortcut runs) reaches the running
    app, which starts a quick recording; the second process exits at once."""
    from app.ui.single_instance import server_name

    first, env, log = _start_app(tmp_path, "first.log")
    try:
        path = Path(env["TMPDIR"]) / server_name()
        wait_until(lambda: path.exists() or first.poll() is not None, timeout=60)
        assert first.poll() is None, log.read_text(encoding="utf-8")
        assert _recording_take() is None
        second = subprocess.run(
            [sys.executable, "-m", "app", "gui", "--quick-record"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        wait_until(lambda: _recording_take() is not None, timeout=60)  # the first one records
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0, log.read_text(encoding="utf-8")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)

"""The Review page against the sandbox: a trim that fails, a take trimmed without its
recording session, Space for play/pause, and the title typed becoming the entry's name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.kaltura.uploader import EntryMetadata
from app.sandbox.testing import write_mp4
from app.workflow.take import Take, take_from_file
from tests.integration.workflow.conftest import kaltura_calls


def record_take(qtbot: Any, app: Any, seconds: float = 2.0) -> Take:
    """Record ``seconds`` with upload (Ctrl+R twice) and wait for Review to open it."""
    window, rec = app.window, app.recording
    window.actions_by_name["record"].trigger()
    qtbot.waitUntil(lambda: rec.state == "recording", timeout=60_000)
    qtbot.waitUntil(lambda: rec.elapsed() >= seconds, timeout=30_000)
    with qtbot.waitSignal(rec.finished, timeout=60_000) as finished:
        window.actions_by_name["record"].trigger()
    take: Take = finished.args[0]
    assert take.uploaded, take.upload_error
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.review, timeout=5000)
    qtbot.waitUntil(lambda: window.review.player is not None, timeout=30_000)
    return take


def trim_one_second_off_the_start(qtbot: Any, review: Any) -> None:
    review.trim.setFocus()
    qtbot.keyClick(review.trim, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert review.trim.trimmed


def test_a_failed_trim_is_shown_on_review_and_keeps_the_take(
    qtbot: Any, sandbox: Any, desktop_factory: Any
) -> None:
    app = desktop_factory()
    window, rec = app.window, app.recording
    take = record_take(qtbot, app)
    review = window.review
    trim_one_second_off_the_start(qtbot, review)
    # The take's file is unreadable when the trim reads it (the player keeps its own copy
    # open, so Review still plays it).
    kept = take.path.with_name("kept.mp4")
    take.path.replace(kept)
    take.path.write_bytes(b"\0\0\0\x10junk" + b"not a video" * 100)
    qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    assert review.next_button.text() == "Trimming…"
    # Review is usable again and says why, where the person is; the take is kept.
    qtbot.waitUntil(review.next_button.isEnabled, timeout=60_000)
    assert window.stack.currentWidget() is review
    assert review.next_button.text() == "Next: write the email"
    assert review.banner.isVisible() and "cannot be read" in review.banner.plain_text()
    assert not window.record.banner.isVisible()
    assert review.take == take and rec.take == take and rec.state == "finished"
    # With the file back, "Try again" trims it and goes on to Compose.
    kept.replace(take.path)
    retry = next(b for b in review.banner.buttons if b.text() == "Try again")
    with qtbot.waitSignal(rec.trimmed, timeout=60_000) as trimmed:
        qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    assert trimmed.args[0].entry_id == take.entry_id and trimmed.args[0].uploaded
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.compose, timeout=5000)


def test_a_take_with_an_entry_but_no_session_is_trimmed_into_that_entry(
    qtbot: Any, sandbox: Any, desktop_factory: Any, tmp_path: Path
) -> None:
    app = desktop_factory()
    window, rec = app.window, app.recording
    video = write_mp4(tmp_path / "take.mp4", seconds=3.0)
    uploaded = app.services.uploads().upload_file(video, EntryMetadata(name="A take"))
    take = replace(take_from_file(video), entry_id=uploaded.entry_id, uploaded=True)
    with qtbot.waitSignal(rec.finished, timeout=10_000):
        rec.adopt(take)  # as "Review and send it" does with a recovered take
    review = window.review
    qtbot.waitUntil(lambda: review.player is not None, timeout=30_000)
    assert rec.session is None
    trim_one_second_off_the_start(qtbot, review)
    with qtbot.waitSignal(rec.trimmed, timeout=60_000) as trimmed:
        qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    new = trimmed.args[0]
    assert new.path != video and new.duration < take.duration - 0.8
    assert new.entry_id == take.entry_id and new.uploaded, new.upload_error
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.compose, timeout=5000)
    assert window.compose.take == new
    # The same entry plays the trimmed take: no second entry.
    entry = sandbox.kaltura.store.entries.get(take.entry_id)
    content = sandbox.kaltura.entries.content_path(entry)
    assert content.read_bytes() == new.path.read_bytes()
    assert kaltura_calls(sandbox, "media", "add") == 1
    assert kaltura_calls(sandbox, "media", "updateContent") == 1


def test_space_plays_and_pauses_on_review_and_types_in_the_title(
    qtbot: Any, desktop_factory: Any, tmp_path: Path
) -> None:
    app = desktop_factory()
    window = app.window
    video = write_mp4(tmp_path / "take.mp4", seconds=3.0)
    with qtbot.waitSignal(app.recording.finished, timeout=10_000):
        app.recording.adopt(take_from_file(video))
    review = window.review
    qtbot.waitUntil(lambda: review.player is not None, timeout=30_000)
    player = review.player
    # Space plays and pauses with the focus anywhere on the page, not only on Play.
    review.trim.setFocus()
    qtbot.waitUntil(review.trim.hasFocus, timeout=5000)
    qtbot.keyClick(review.trim, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: player.playing, timeout=5000)
    qtbot.keyClick(review.trim, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not player.playing, timeout=5000)
    # In the title, Space is a space.
    review.title.clear()
    review.title.setFocus()
    qtbot.waitUntil(review.title.hasFocus, timeout=5000)
    qtbot.keyClicks(review.title, "Hi Ann")
    assert review.title.text() == "Hi Ann"
    assert not player.playing


def test_the_title_typed_on_review_renames_the_entry(
    qtbot: Any, sandbox: Any, desktop_factory: Any
) -> None:
    app = desktop_factory()
    window = app.window
    take = record_take(qtbot, app)
    assert sandbox.kaltura.store.entries.get(take.entry_id)["name"].startswith("Video message")
    review = window.review
    review.title.setText("Quarterly hello")
    qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.compose, timeout=5000)
    qtbot.waitUntil(
        lambda: sandbox.kaltura.store.entries.get(take.entry_id)["name"] == "Quarterly hello",
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: app.recording.take.title == "Quarterly hello", timeout=5000)
    # Back to Review and on again with the same title: nothing more to rename.
    window.back_to_review()
    qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.compose, timeout=5000)
    # A rename would have been started by the click: let any finish before counting.
    qtbot.waitUntil(
        lambda: not [t for t in app.tasks.running() if t.name == "rename the take"],
        timeout=10_000,
    )
    assert kaltura_calls(sandbox, "media", "update") == 1


def test_a_trim_left_running_for_an_old_take_never_blocks_the_next(
    qtbot: Any, desktop_factory: Any
) -> None:
    """A trim still running when the person moved on to another take is dropped when it
    ends; the take now in Review starts with Next ready (it stayed on "Trimming…")."""
    app = desktop_factory()
    take = record_take(qtbot, app)
    review = app.window.review
    review._trimming = True  # what a trim of the previous take left behind
    review.next_button.setEnabled(False)
    review.next_button.setText("Trimming…")
    review.show_take(take)
    assert review.next_button.isEnabled() and review.next_button.text().startswith("Next")
    qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.window.stack.currentWidget() is app.window.compose, timeout=5000)

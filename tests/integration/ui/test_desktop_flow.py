"""The desktop app end to end, driven like a person would, against the sandbox.

(a) Record 5 s with a pause, copy the link before stop, trim, pick two recipients by
typing into the autocomplete, send: the sandbox mailbox holds two personal messages whose
landing links answer 200, and the take went up once (one entry; the trim replaced its
content; sending uploaded nothing).
(b) Quick record from the tray menu, straight to Compose, to a sent message.

Tests wait on signals and conditions, never on fixed sleeps; Qt warnings fail them.
"""

from __future__ import annotations

from typing import Any

import requests
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tests.integration.workflow.conftest import kaltura_calls


def get(url: str) -> requests.Response:
    s = requests.Session()
    s.trust_env = False
    return s.get(url, timeout=10)


def pick_recipient(qtbot: Any, field: Any, user: Any) -> None:
    """Type the start of a person's name and take the suggestion with the keyboard."""
    field.edit.setFocus()
    qtbot.waitUntil(field.edit.hasFocus, timeout=5000)
    typed = user.displayName[: max(4, len(user.displayName) - 2)]
    qtbot.keyClicks(field.edit, typed)
    wanted = user.mail.casefold()

    def addresses() -> list[str]:
        rows = [field.model.index(r, 0) for r in range(field.model.rowCount())]
        return [str(i.data(Qt.ItemDataRole.UserRole + 1)).casefold() for i in rows]

    # If the machine is slow, an earlier lookup's list (for fewer letters) can show first:
    # wait for the one that has the person.
    try:
        qtbot.waitUntil(
            lambda: field.suggestions_visible() and wanted in addresses(), timeout=15_000
        )
    except qtbot.TimeoutError:
        raise AssertionError((typed, addresses())) from None
    popup = field.completer.popup()
    listed = addresses()
    for _ in range(listed.index(wanted)):
        qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: any(c.address and c.address.address.casefold() == wanted for c in field.chips),
        timeout=5000,
    )


def recipients(sandbox: Any, n: int) -> list[Any]:
    senders = {s["email"] for s in sandbox.manifest["senders"]}
    users = [u for u in sandbox.microsoft.directory.users if u.mail not in senders]
    # Distinct first letters, so each typed prefix has few suggestions.
    chosen: list[Any] = []
    for u in users:
        if len(u.displayName) >= 6 and all(u.displayName[:4] != c.displayName[:4] for c in chosen):
            chosen.append(u)
        if len(chosen) == n:
            return chosen
    raise AssertionError("the sandbox directory has too few people")


def test_record_pause_copy_link_trim_autocomplete_and_send(
    qtbot: Any, sandbox: Any, desktop_factory: Any
) -> None:
    app = desktop_factory()
    window = app.window
    rec = app.recording
    page = window.record
    assert window.stack.currentWidget() is page
    # Record (Ctrl+R), through the menu action as the shortcut does.
    with qtbot.waitSignal(rec.link_ready, timeout=60_000) as link_signal:
        window.actions_by_name["record"].trigger()
    link = link_signal.args[0]
    qtbot.waitUntil(lambda: rec.state == "recording", timeout=30_000)
    # The link works before stop, and "Copy link" copies it.
    qtbot.waitUntil(page.link_row.isVisible, timeout=5000)
    qtbot.mouseClick(page.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == link.landing_url
    assert rec.active
    assert get(link.landing_url).status_code == 200
    # Pause and resume (Space).
    qtbot.waitUntil(lambda: rec.elapsed() >= 2.0, timeout=30_000)
    window.actions_by_name["pause"].trigger()
    qtbot.waitUntil(lambda: rec.state == "paused", timeout=10_000)
    paused_at = rec.elapsed()
    window.actions_by_name["pause"].trigger()
    qtbot.waitUntil(lambda: rec.state == "recording", timeout=10_000)
    qtbot.waitUntil(lambda: rec.elapsed() >= 5.0, timeout=30_000)
    assert page.preview.frames_painted > 10  # the live picture ran
    # Stop (Ctrl+R again): the take opens in Review.
    with qtbot.waitSignal(rec.finished, timeout=60_000) as finished:
        window.actions_by_name["record"].trigger()
    take = finished.args[0]
    assert take.uploaded, take.upload_error
    assert take.entry_id == link.entry_id
    assert 5.0 <= take.duration < 8.0 and paused_at >= 2.0
    review = window.review
    assert window.stack.currentWidget() is review
    qtbot.waitUntil(lambda: review.player is not None, timeout=30_000)
    # Trim: the start handle one second in, by keyboard (Shift+Right).
    review.trim.setFocus()
    qtbot.keyClick(review.trim, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert abs(review.trim.start - 1.0) < 0.05 and review.trim.trimmed
    review.title.setText("Quarterly hello")
    with qtbot.waitSignal(rec.trimmed, timeout=60_000) as trimmed:
        qtbot.mouseClick(review.next_button, Qt.MouseButton.LeftButton)
    new_take = trimmed.args[0]
    assert new_take.entry_id == take.entry_id and new_take.uploaded, new_take.upload_error
    assert new_take.duration < take.duration - 0.8
    compose = window.compose
    qtbot.waitUntil(lambda: window.stack.currentWidget() is compose, timeout=5000)
    # Two recipients, picked from the suggestions while typing.
    people = recipients(sandbox, 2)
    for person in people:
        pick_recipient(qtbot, compose.to, person)
    assert len(compose.to.addresses()) == 2
    compose.note.setPlainText("Here is the update I promised.")
    # The preview shows the first recipient's email, from the real template.
    qtbot.waitUntil(
        lambda: "Here is the update I promised." in compose.preview.toPlainText(), timeout=30_000
    )
    assert people[0].displayName.split()[0] in compose.preview_caption.text()
    with qtbot.waitSignal(compose.sent, timeout=120_000) as sent:
        window.actions_by_name["send"].trigger()  # Ctrl+Enter
    result = sent.args[0]
    assert [m.state for m in result.messages] == ["sent", "sent"], [
        m.reason for m in result.messages
    ]
    assert window.stack.currentWidget() is window.sent
    # The sandbox's mailbox: two personal messages, each with a working landing link.
    sender = sandbox.manifest["senders"][0]["email"]
    mailbox = sandbox.microsoft.graph.sent_messages(sender)
    assert len(mailbox) == 2
    to = sorted(m["message"]["toRecipients"][0]["emailAddress"]["address"] for m in mailbox)
    assert to == sorted(p.mail for p in people)
    for message in result.messages:
        assert f"/landing/{take.entry_id}?" in message.landing_url
        assert get(message.landing_url).status_code == 200
    # The take went up once: one entry; the trim replaced its content; the send uploaded nothing.
    assert kaltura_calls(sandbox, "media", "add") == 1
    assert kaltura_calls(sandbox, "media", "updateContent") == 1
    assert kaltura_calls(sandbox, "uploadToken", "add") == 2


def test_quick_record_from_the_tray_menu_to_a_sent_message(
    qtbot: Any, sandbox: Any, desktop_factory: Any
) -> None:
    app = desktop_factory()
    rec = app.recording
    # Tray menu > Quick record.
    app.tray.quick_action.trigger()
    quick = app.quick
    assert quick is not None and quick.isVisible()
    assert quick.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    qtbot.waitUntil(lambda: rec.state == "recording", timeout=60_000)
    qtbot.waitUntil(lambda: rec.link is not None, timeout=60_000)
    qtbot.waitUntil(lambda: rec.elapsed() >= 2.0, timeout=30_000)
    # While recording, the tray menu offers Pause and Stop.
    app.tray.update_menu()
    assert app.tray.stop_action.isVisible() and app.tray.pause_action.isVisible()
    assert app.tray.state == "recording"
    with qtbot.waitSignal(rec.finished, timeout=60_000):
        qtbot.mouseClick(quick.stop_button, Qt.MouseButton.LeftButton)
    window = app.window
    compose = window.compose
    qtbot.waitUntil(lambda: window.stack.currentWidget() is compose, timeout=5000)
    assert not quick.isVisible()
    person = recipients(sandbox, 1)[0]
    pick_recipient(qtbot, compose.to, person)
    with qtbot.waitSignal(compose.sent, timeout=120_000) as sent:
        qtbot.mouseClick(compose.send_button, Qt.MouseButton.LeftButton)
    result = sent.args[0]
    assert [m.state for m in result.messages] == ["sent"]
    assert get(result.messages[0].landing_url).status_code == 200
    assert kaltura_calls(sandbox, "media", "add") == 1
    assert kaltura_calls(sandbox, "uploadToken", "add") == 1

"""Emails an earlier send left waiting (it was cancelled, or the app closed mid-send) are
offered when the app starts, and go out when the person says so, each once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.mail.message import parse_address
from app.sandbox.testing import write_mp4
from app.workflow.send import SendRequest, SendSession
from app.workflow.services import Services
from tests.helpers import delivered
from tests.integration.ui.conftest import write_settings


def test_waiting_emails_are_offered_at_start_and_sent_once_on_request(
    qtbot: Any, sandbox: Any, desktop_factory: Any, tmp_path: Path
) -> None:
    write_settings()
    video = write_mp4(tmp_path / "v.mp4", seconds=1.0)
    with Services.open() as services:
        session = SendSession(services, SendRequest.build(video, to=["ann@fabrikam.example"]))
        session.prepare()
        sent = session.run()
        assert sent.all_sent
        # What a cancelled send leaves: its messages queued, the video attached.
        outbox = services.outbox()
        job = outbox.add_job(
            outbox.job(sent.messages[0].job_id).composition,
            [parse_address("bo@fabrikam.example"), parse_address("cy@fabrikam.example")],
            entry_id=sent.entry_id,
        )
    app = desktop_factory()
    assert app.report.waiting == 2
    banner = app.window.banner
    assert banner.isVisible() and "2 emails of an earlier send are waiting" in banner.plain_text()
    send_now = next(b for b in banner.buttons if b.text() == "Send now")
    assert delivered(sandbox) == Counter({"ann@fabrikam.example": 1})  # nothing sent unasked
    qtbot.mouseClick(send_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "sending" not in app.busy, timeout=60_000)
    assert delivered(sandbox) == Counter(
        {"ann@fabrikam.example": 1, "bo@fabrikam.example": 1, "cy@fabrikam.example": 1}
    )
    assert app.services is not None
    assert {m.state for m in app.services.outbox().messages(job)} == {"sent"}
    assert not banner.isVisible()


def test_two_sends_at_once_stay_busy_until_both_end(desktop_factory: Any) -> None:
    """The waiting emails and a send from Compose can overlap: quitting asks, and the
    tray shows "sending", until the last of them ends."""
    app = desktop_factory()
    app.set_busy("sending", True)
    app.set_busy("sending", True)
    app.set_busy("sending", False)
    assert "sending" in app.busy
    app.set_busy("sending", False)
    assert "sending" not in app.busy
    app.set_busy("sending", False)  # one end too many never goes below idle
    app.set_busy("sending", True)
    assert "sending" in app.busy

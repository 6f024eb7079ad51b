"""Emails left waiting by a cancelled send: counted at start-up, offered in the history,
and sent on request, only their own send's, each once."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.errors import MailError, PolicyError
from app.mail.message import Composition, parse_address
from app.mail.pump import OutboxEvent
from app.sandbox.testing import write_mp4
from app.workflow.history import act, history
from app.workflow.send import DueResult, SendRequest, SendSession, send_due
from app.workflow.services import Services
from app.workflow.startup import reconcile
from tests.helpers import delivered
from tests.unit.mail.conftest import composition, gif, sender  # noqa: F401 - pytest fixtures

PEOPLE = [f"Person {i:02d} <p{i:02d}@fabrikam.example>" for i in range(45)]


def test_a_cancelled_sends_rest_is_offered_and_sent_on_request_once(
    sandbox: Any,
    plaintext_cache: None,
    tmp_path: Path,
    composition: Composition,  # noqa: F811
) -> None:
    video = write_mp4(tmp_path / "v.mp4", seconds=1.0)
    # Slow batches, so Cancel lands after the first batch and before the others.
    sandbox.microsoft.graph_server.faults.configure(latency_ms=500, match=r"/\$batch$")
    cancel = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, OutboxEvent) and event.kind == "message" and event.state == "sent":
            cancel.set()  # the person pressed Cancel once the first emails went out

    with Services.open() as services:
        session = SendSession(services, SendRequest.build(video, to=PEOPLE), on_event=on_event)
        session.prepare()
        result = session.run(cancel)
        sandbox.microsoft.graph_server.faults.reset()
        left = [m for m in result.messages if m.state == "queued"]
        first = delivered(sandbox)
        assert left and 0 < sum(first.values()) < len(PEOPLE)
        outbox = services.outbox()
        # Another send's waiting email (same video), and one whose video never arrived.
        other = outbox.add_job(
            composition, [parse_address("zoe@fabrikam.example")], entry_id=result.entry_id
        )
        no_video = outbox.add_job(composition, [parse_address("yan@fabrikam.example")])
        # A send from another profile: its mailbox and its Kaltura, not this one's.
        elsewhere = outbox.add_job(
            composition,
            [parse_address("xi@fabrikam.example")],
            entry_id=result.entry_id,
            profile="Contoso",
        )
        assert outbox.job(outbox.message(left[0].id).job_id).profile == services.profile_name

        report = reconcile(services, folders=[tmp_path])
        assert report.waiting == len(left) + 1  # not the one without a video, nor Contoso's

        jobs = {j.id: j for j in history(services)}
        ours = jobs[outbox.message(left[0].id).job_id]
        queued = [m for m in ours.messages if m.state == "queued"]
        assert len(queued) == len(left)
        assert all(m.actions() == ("send", "withdraw") for m in queued)
        [lonely] = jobs[no_video].messages
        assert lonely.actions() == ("withdraw",)  # nothing could send it
        [foreign] = jobs[elsewhere].messages
        assert foreign.actions() == ("withdraw",) and foreign.other_profile == "Contoso"
        with pytest.raises(MailError, match='sent from the profile "Contoso"'):
            act(services, foreign.id, "send")
        with pytest.raises(MailError, match='sent from the profile "Contoso"'):
            act(services, foreign.id, "resend")  # refused before the message changes
        assert outbox.message(foreign.id).state == "queued"

        act(services, queued[0].id, "send")

        assert {m.state for m in outbox.messages(ours.id)} == {"sent"}
        assert [m.state for m in outbox.messages(other)] == ["queued"]  # not its send
        assert [m.state for m in outbox.messages(no_video)] == ["queued"]
        # Everything of this profile's that waits, at once: the other send's, not Contoso's.
        assert send_due(services) == DueResult(sent=1, not_sent=0)
        assert [m.state for m in outbox.messages(other)] == ["sent"]
        assert [m.state for m in outbox.messages(elsewhere)] == ["queued"]
    mailbox = delivered(sandbox)
    expected = [parse_address(p).email for p in PEOPLE] + ["zoe@fabrikam.example"]
    assert sorted(mailbox) == sorted(expected)
    assert set(mailbox.values()) == {1}  # everybody once, nobody twice


def test_waiting_emails_wait_while_the_policy_is_invalid(
    sandbox: Any,
    plaintext_cache: None,
    composition: Composition,  # noqa: F811
) -> None:
    policy = Path(os.environ["VMSG_POLICY"])
    policy.write_text(json.dumps({"policy_version": 1, "no_such_key": True}))
    with Services.open() as services:
        services.outbox().add_job(
            composition, [parse_address("ann@fabrikam.example")], entry_id="1_abc"
        )
        with pytest.raises(PolicyError):
            send_due(services)
    assert delivered(sandbox) == Counter()


def test_send_now_says_what_did_not_go_out(
    sandbox: Any,
    plaintext_cache: None,
    composition: Composition,  # noqa: F811
) -> None:
    """Answers lost on the way back: the emails may have gone out, so they are not sent
    again, and the result counts them as not sent (the window says so)."""
    with Services.open() as services:
        job = services.outbox().add_job(
            composition,
            [parse_address("ann@fabrikam.example"), parse_address("bo@fabrikam.example")],
            entry_id="1_abc",
            profile=services.profile_name,
        )
        sandbox.microsoft.graph_server.faults.configure(
            failure_rate=1.0, failure_modes=["lost_response"], match=r"/sendMail$|/\$batch$"
        )
        try:
            result = send_due(services)
        finally:
            sandbox.microsoft.graph_server.faults.reset()
        assert result == DueResult(sent=0, not_sent=2)
        assert {m.state for m in services.outbox().messages(job)} == {"unknown"}

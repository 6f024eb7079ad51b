"""The pump: sends when link and network are there, retries only what is safe to retry.

The transport here is a scripted implementation of our own Transport protocol (the
real ones are tested against aiosmtpd and the Graph sandbox in tests/integration/mail).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from app.errors import NetworkError
from app.mail.message import Composition, OutgoingMessage, make_recipient
from app.mail.outbox import Outbox
from app.mail.pump import OutboxEvent, Pump
from app.mail.transports import DraftJournal, Outcome

Script = Callable[[OutgoingMessage, int], Outcome]


class ScriptedTransport:
    name = "graph"
    batch_size = 20

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[list[str]] = []
        self.tries: dict[str, int] = {}
        self.offline = False

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        exactly_once: bool = False,
        drafts: dict[str, tuple[str, bool]] | None = None,
        journal: DraftJournal | None = None,
    ) -> list[Outcome]:
        if self.offline:
            raise NetworkError("offline")
        self.calls.append([m.to.email for m in messages])
        out = []
        for m in messages:
            n = self.tries.get(m.to.email, 0)
            self.tries[m.to.email] = n + 1
            out.append(self.script(m, n))
        return out


def link(entry: str, token: str, name: str) -> str:
    return f"https://videos.example/{entry}?t={token}&n={name}"


def setup(tmp_path: Path, composition: Composition, n: int, script: Script, **kw: object):
    box = Outbox(tmp_path / "o.db")
    transport = ScriptedTransport(script)
    events: list[OutboxEvent] = []
    pump = Pump(box, transport, link, on_event=events.append, backoff_base=0.01, **kw)  # type: ignore[arg-type]
    people = [make_recipient(f"p{i}@example.com", display_name=f"Pat{i} Doe") for i in range(n)]
    return box, transport, pump, events, people


def test_sends_in_batches_with_personal_links(tmp_path: Path, composition: Composition) -> None:
    box, transport, pump, events, people = setup(
        tmp_path, composition, 45, lambda m, n: Outcome(m.local_id, "sent")
    )
    job = box.add_job(composition, people, entry_id="1_abc")
    pump.run()
    assert [len(c) for c in transport.calls] == [20, 20, 5]
    msgs = box.messages(job)
    assert all(m.state == "sent" for m in msgs)
    assert all(m.landing_url == link("1_abc", m.token, m.recipient.first_name) for m in msgs)
    sent_events = [e for e in events if e.kind == "message" and e.state == "sent"]
    assert len(sent_events) == 45 and events[-1].kind == "idle"


def watch(pump: Pump, events: list[OutboxEvent]) -> dict[str, threading.Event]:
    """One event per OutboxEvent kind, set when the pump emits it (tests wait on these)."""
    seen: dict[str, threading.Event] = defaultdict(threading.Event)

    def on_event(event: OutboxEvent) -> None:
        events.append(event)
        seen[event.kind].set()

    pump.on_event = on_event
    return seen


def test_waits_for_the_video_then_sends(tmp_path: Path, composition: Composition) -> None:
    box, transport, pump, events, people = setup(
        tmp_path, composition, 3, lambda m, n: Outcome(m.local_id, "sent")
    )
    seen = watch(pump, events)
    job = box.add_job(composition, people)  # composed while the upload runs
    cancel = threading.Event()
    t = threading.Thread(target=pump.run, kwargs={"cancel": cancel, "job_id": job})
    t.start()
    try:
        assert seen["waiting_for_video"].wait(5)
        assert transport.calls == []
        box.attach_video(job, "1_late")
        pump.wake()  # right after the pump said it waits: the wake must not be lost
        t.join(timeout=10)
        assert not t.is_alive()
    finally:
        cancel.set()
        t.join(10)
    assert box.counts(job)["sent"] == 3


def test_unknown_is_never_resent_and_failures_are_retried(
    tmp_path: Path, composition: Composition
) -> None:
    def script(m: OutgoingMessage, n: int) -> Outcome:
        if m.to.email == "p0@example.com":
            return Outcome(m.local_id, "unknown", reason="lost answer")
        if m.to.email == "p1@example.com" and n < 2:
            return Outcome(m.local_id, "failed", reason="500")
        if m.to.email == "p2@example.com" and n == 0:
            return Outcome(m.local_id, "throttled", retry_after=0.05)
        if m.to.email == "p3@example.com":
            return Outcome(m.local_id, "failed", reason="400 bad address", retryable=False)
        return Outcome(m.local_id, "sent")

    box, transport, pump, _events, people = setup(tmp_path, composition, 5, script)
    job = box.add_job(composition, people, entry_id="1_x")
    pump.run()
    states = {m.recipient.email: m.state for m in box.messages(job)}
    assert states == {
        "p0@example.com": "unknown",
        "p1@example.com": "sent",
        "p2@example.com": "sent",
        "p3@example.com": "failed",
        "p4@example.com": "sent",
    }
    assert transport.tries["p0@example.com"] == 1
    assert transport.tries["p1@example.com"] == 3
    assert transport.tries["p3@example.com"] == 1


def test_gives_up_after_max_attempts(tmp_path: Path, composition: Composition) -> None:
    box, transport, pump, _e, people = setup(
        tmp_path,
        composition,
        1,
        lambda m, n: Outcome(m.local_id, "failed", reason="500"),
        max_attempts=3,
    )
    job = box.add_job(composition, people, entry_id="1_x")
    pump.run()
    (m,) = box.messages(job)
    assert m.state == "failed" and m.retryable and m.attempts == 3
    assert transport.tries["p0@example.com"] == 3
    box.resend(m.id)  # the user's choice
    pump.run()
    assert transport.tries["p0@example.com"] == 6


def test_offline_then_back_online(tmp_path: Path, composition: Composition) -> None:
    box, transport, pump, events, people = setup(
        tmp_path, composition, 2, lambda m, n: Outcome(m.local_id, "sent")
    )
    seen = watch(pump, events)
    transport.offline = True
    job = box.add_job(composition, people, entry_id="1_x")
    cancel = threading.Event()
    t = threading.Thread(target=pump.run, kwargs={"cancel": cancel, "job_id": job})
    t.start()
    try:
        assert seen["waiting_for_network"].wait(5)
        assert box.counts(job)["sent"] == 0 and transport.calls == []
        assert any(e.state == "failed" and e.reason == "offline" for e in events)
        transport.offline = False
        pump.wake()
        t.join(timeout=10)
        assert not t.is_alive()
    finally:
        cancel.set()
        t.join(10)
    assert box.counts(job)["sent"] == 2


def test_cancel_stops_a_waiting_pump(tmp_path: Path, composition: Composition) -> None:
    box, _t, pump, _e, people = setup(
        tmp_path, composition, 1, lambda m, n: Outcome(m.local_id, "sent")
    )
    seen = watch(pump, _e)
    box.add_job(composition, people)  # no video: the pump would wait
    cancel = threading.Event()
    t = threading.Thread(target=pump.run, kwargs={"cancel": cancel, "max_wait": 60})
    t.start()
    assert seen["waiting_for_video"].wait(5)  # it is waiting now, not before
    cancel.set()
    t.join(timeout=5)
    assert not t.is_alive()  # it would otherwise wait up to max_wait (60 s)


def test_broken_template_at_send_time_fails_that_job(
    tmp_path: Path, composition: Composition
) -> None:
    user = tmp_path / "templates"
    (user / "mine").mkdir(parents=True)
    (user / "mine" / "body.html").write_text("<p>{{ recipient.first_name }}</p>")
    from dataclasses import replace

    from app.mail.templates import TemplateCatalog

    comp = replace(composition, template="mine")
    box, transport, pump, _e, people = setup(
        tmp_path,
        comp,
        2,
        lambda m, n: Outcome(m.local_id, "sent"),
        catalog=TemplateCatalog(user=user),
    )
    job = box.add_job(comp, people, entry_id="1_x")
    (user / "mine" / "body.html").write_text("<p>{{ recipient.nick }}</p>")  # edited meanwhile
    pump.run()
    msgs = box.messages(job)
    assert all(m.state == "failed" and not m.retryable and "nick" in m.reason for m in msgs)
    assert transport.calls == []

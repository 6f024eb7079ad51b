"""Sending through the Graph sandbox: batching, personal links, faults, exactly-once."""

from __future__ import annotations

import base64
import re
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

from app.mail.message import Composition, make_recipient
from app.mail.outbox import Outbox
from app.mail.pump import OutboxEvent, Pump
from app.mail.transports.graph import GraphTransport
from app.sandbox.httpd import FaultConfig
from tests.integration.mail.conftest import MailEnv, get

HREF = re.compile(r'href="([^"]+)"')


def people(n: int) -> list:
    return [
        make_recipient(f"guest{i:03d}@fabrikam.example", display_name=f"Guest{i:03d} Tester")
        for i in range(n)
    ]


def recipients_of(record: dict) -> list[str]:
    msg = record["message"]
    return [r["emailAddress"]["address"] for r in msg.get("toRecipients", [])]


def test_fifty_recipients_three_requests_personal_links(
    mail_env: MailEnv, composition: Composition, tmp_path: Path
) -> None:
    comp = replace(composition, sender=mail_env.sender(), template="personal-note")
    events: list[OutboxEvent] = []
    with Outbox(tmp_path / "outbox.db") as box:
        job = box.add_job(comp, people(50), entry_id=mail_env.entry_id)
        client = mail_env.graph()
        client.request("GET", "/me")  # sign in first, so the log below is only the sends
        mail_env.ms.graph_server.faults.clear_log()
        Pump(box, GraphTransport(client), mail_env.link, on_event=events.append).run()
        assert box.counts(job)["sent"] == 50
        rows = {m.recipient.email: m for m in box.messages(job)}
    graph_calls = mail_env.graph_requests()
    assert len(graph_calls) == 3 and all(r.path == "/v1.0/$batch" for r in graph_calls)
    box_msgs = mail_env.mailbox()
    assert len(box_msgs) == 50
    seen = Counter()
    for rec in box_msgs:
        (addr,) = recipients_of(rec)
        seen[addr] += 1
        msg = rec["message"]
        html = msg["body"]["content"]
        first = rows[addr].recipient.first_name
        assert f"Hi {first}," in html
        assert "ccRecipients" not in msg or not msg["ccRecipients"]
        (att,) = msg["attachments"]
        assert att["isInline"] is True and att["contentId"] == "video-preview"
        assert base64.b64decode(att["contentBytes"]) == composition.preview.data
        assert 'src="cid:video-preview"' in html
        links = {h.replace("&amp;", "&") for h in HREF.findall(html) if "/landing/" in h}
        assert links == {rows[addr].landing_url}
        assert f"r={rows[addr].token}" in rows[addr].landing_url
    assert set(seen.values()) == {1} and len(seen) == 50
    # Every personal landing link answers from the Kaltura sandbox, greeting the recipient.
    for row in list(rows.values())[:50]:
        resp = get(row.landing_url)
        assert resp.status_code == 200
        assert f"Hi {row.recipient.first_name}," in resp.text
    per_recipient = [e for e in events if e.kind == "message" and e.state == "sent"]
    assert len(per_recipient) == 50


def test_faults_lose_nothing_and_duplicate_nothing(
    mail_env: MailEnv, composition: Composition, tmp_path: Path
) -> None:
    comp = replace(composition, sender=mail_env.sender())
    faults = mail_env.ms.graph_server.faults
    with Outbox(tmp_path / "outbox.db") as box:
        job = box.add_job(comp, people(200), entry_id=mail_env.entry_id)
        client = mail_env.graph(max_retries=3)
        client.request("GET", "/me")
        faults.clear_log()
        faults.configure(
            FaultConfig(
                failure_rate=0.3,
                failure_modes=["500", "reset", "lost_response"],
                match=r"/\$batch$",
                seed=51,  # meets all three failure modes in this run
            )
        )
        Pump(box, GraphTransport(client), mail_env.link, backoff_base=0.01).run()
        faults.reset()
        msgs = box.messages(job)
    log = mail_env.graph_requests(r"/\$batch$")
    injected = Counter(r.fault for r in log if r.fault)
    assert set(injected) == {"500", "reset", "lost_response"}, injected  # all three met
    delivered = Counter(a for rec in mail_env.mailbox() for a in recipients_of(rec))
    assert max(delivered.values()) == 1  # 0 duplicated
    states = Counter(m.state for m in msgs)
    assert set(states) <= {"sent", "unknown"}, states  # 0 lost: each is sent or flagged
    for m in msgs:
        if m.state == "sent":
            assert delivered[m.recipient.email] == 1
        else:
            assert m.reason and m.hint
    unknown = [m for m in msgs if m.state == "unknown"]
    # Only batches that met a fault can be unknown (a reset while the body was still being
    # written is reported by the Graph client as never sent, and then simply retried).
    # A 500 is an answer ("not run"), so its messages are retried and end "sent"; only
    # requests that got no answer (reset, lost response) can leave messages "unknown".
    assert len(unknown) <= 20 * (injected.get("reset", 0) + injected.get("lost_response", 0))
    # Every batch accepted whose answer was lost is unknown, and was delivered exactly once.
    lost_after_accept = sum(1 for m in unknown if delivered[m.recipient.email] == 1)
    assert lost_after_accept == 20 * injected.get("lost_response", 0)
    assert sum(delivered.values()) == states["sent"] + lost_after_accept


def test_exactly_once_with_faults_sends_every_message_once(
    mail_env: MailEnv, composition: Composition, tmp_path: Path
) -> None:
    comp = replace(composition, sender=mail_env.sender())
    faults = mail_env.ms.graph_server.faults
    with Outbox(tmp_path / "outbox.db") as box:
        job = box.add_job(comp, people(200), entry_id=mail_env.entry_id, exactly_once=True)
        client = mail_env.graph(exactly_once=True, max_retries=3)
        client.request("GET", "/me")
        faults.clear_log()
        faults.configure(
            FaultConfig(
                failure_rate=0.3,
                failure_modes=["500", "reset", "lost_response"],
                match=r"/\$batch$",
                seed=4,  # meets all three failure modes in this run
            )
        )
        transport = GraphTransport(client, verify_delay=0.0)
        Pump(box, transport, mail_env.link, backoff_base=0.01, max_attempts=40).run()
        faults.reset()
        msgs = box.messages(job)
    injected = Counter(r.fault for r in mail_env.graph_requests(r"/\$batch$") if r.fault)
    assert set(injected) == {"500", "reset", "lost_response"}, injected
    assert Counter(m.state for m in msgs) == {"sent": 200}
    delivered = Counter(a for rec in mail_env.mailbox() for a in recipients_of(rec))
    assert len(delivered) == 200 and set(delivered.values()) == {1}
    assert all(m.draft_id and m.remote_id == m.draft_id for m in msgs)


def test_per_item_throttling_is_retried_after_retry_after(
    mail_env: MailEnv, composition: Composition, tmp_path: Path
) -> None:
    """Two senders at once exceed the mailbox's four concurrent requests: items get 429."""
    comp = replace(composition, sender=mail_env.sender())
    mail_env.ms.graph.mailbox_delay_s = 0.15
    with Outbox(tmp_path / "outbox.db") as box:
        job = box.add_job(comp, people(40), entry_id=mail_env.entry_id)
        client = mail_env.graph(max_concurrency=4)
        pumps = [Pump(box, GraphTransport(client), mail_env.link) for _ in range(2)]
        threads = [threading.Thread(target=p.run) for p in pumps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        history = [h for m in box.messages(job) for h in box.history(m.id)]
        assert box.counts(job)["sent"] == 40
    throttled = [h for h in history if h[1] == "queued" and "wait" in h[2]]
    assert throttled, "expected some items to be throttled (429 per item)"
    delivered = Counter(a for rec in mail_env.mailbox() for a in recipients_of(rec))
    assert len(delivered) == 40 and set(delivered.values()) == {1}

"""The outbox state machine: durable, atomic, and never resending an unknown message."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.errors import MailError
from app.mail.message import Composition, make_recipient
from app.mail.outbox import UNKNOWN_HINT, Outbox, OutboxError


def people(n: int) -> list:
    return [make_recipient(f"p{i}@example.com", display_name=f"Person{i} Test") for i in range(n)]


def test_one_queued_message_per_recipient_with_unique_tokens(
    tmp_path: Path, composition: Composition
) -> None:
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(
            composition, [*people(5), make_recipient("P0@example.com")], entry_id="1_x"
        )
        msgs = box.messages(job)
        assert [m.recipient.email for m in msgs] == [f"p{i}@example.com" for i in range(5)]
        assert all(m.state == "queued" for m in msgs)
        tokens = {m.token for m in msgs}
        assert len(tokens) == 5 and all(len(t) >= 20 for t in tokens)
        assert box.job(job).composition == composition


def test_wal_and_survives_restart(tmp_path: Path, composition: Composition) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        job = box.add_job(composition, people(3))
        (_, first), *_ = box.claim_due(transport="graph", limit=1) or [(None, None)]
    assert first is None  # no video yet: nothing is due
    with Outbox(path) as box:
        assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        box.attach_video(job, "1_abc")
        claimed = box.claim_due(transport="graph", limit=2)
        assert [m.state for _, m in claimed] == ["sending", "sending"]
        box.record_sent(claimed[0][1].id, remote_id="r1")
    with Outbox(path) as box:
        counts = box.counts(job)
        assert counts["sent"] == 1 and counts["sending"] == 1 and counts["queued"] == 1
        assert box.job(job).composition.preview.data == composition.preview.data


def test_crash_while_sending_makes_unknown_not_resent(
    tmp_path: Path, composition: Composition
) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        job = box.add_job(composition, people(2), entry_id="1_x")
        claimed = box.claim_due(transport="graph", limit=20)
    with Outbox(path) as box:
        moved = box.recover()
        assert sorted(moved) == sorted(m.id for _, m in claimed)
        msgs = box.messages(job)
        assert all(m.state == "unknown" for m in msgs)
        assert msgs[0].hint == UNKNOWN_HINT and "Sent Items" in msgs[0].hint
        assert box.claim_due(transport="graph", limit=20) == []  # never automatically
        assert not box.pending()


def test_crash_in_exactly_once_mode_rechecks_the_draft(
    tmp_path: Path, composition: Composition
) -> None:
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, people(2), entry_id="1_x", exactly_once=True)
        (_, a), (_, b) = box.claim_due(transport="graph", limit=20)
        box.draft_created(a.id, "DRAFT-A")
        box.send_requested([a.id])
        box.recover()
        ma, mb = box.message(a.id), box.message(b.id)
        assert (ma.state, ma.draft_id, ma.verify_first) == ("queued", "DRAFT-A", True)
        assert (mb.state, mb.draft_id, mb.verify_first) == ("queued", None, False)
        assert len(box.claim_due(transport="graph", limit=20)) == 2
        del job


def test_unknown_resend_and_mark_sent(tmp_path: Path, composition: Composition) -> None:
    with Outbox(tmp_path / "o.db") as box:
        box.add_job(composition, people(2), entry_id="1_x")
        (_, a), (_, b) = box.claim_due(transport="graph", limit=20)
        box.record_unknown(a.id, "no answer")
        box.record_unknown(b.id, "no answer")
        box.mark_sent(a.id)
        assert box.message(a.id).state == "sent"
        box.resend(b.id)
        assert box.message(b.id).state == "queued"
        assert [m.id for _, m in box.claim_due(transport="graph", limit=20)] == [b.id]
        with pytest.raises(OutboxError, match="sent"):
            box.resend(a.id)  # a sent message cannot be sent again by mistake
        assert [h[1] for h in box.history(b.id)] == ["sending", "unknown", "queued", "sending"]


def test_failed_retry_schedule_and_throttle(tmp_path: Path, composition: Composition) -> None:
    now = [1000.0]
    with Outbox(tmp_path / "o.db", clock=lambda: now[0]) as box:
        box.add_job(composition, people(2), entry_id="1_x")
        (_, a), (_, b) = box.claim_due(transport="graph", limit=20)
        box.record_failed(a.id, "500 from server", retryable=True, retry_at=1010.0)
        box.record_throttled(b.id, 1005.0)
        assert box.message(a.id).state == "failed" and box.message(a.id).reason == "500 from server"
        assert box.message(b.id).attempts == 0  # a throttled attempt does not count
        assert box.claim_due(transport="graph", limit=20) == []
        now[0] = 1006.0
        assert [m.id for _, m in box.claim_due(transport="graph", limit=20)] == [b.id]
        now[0] = 1011.0
        assert [m.id for _, m in box.claim_due(transport="graph", limit=20)] == [a.id]
        box.record_failed(a.id, "refused: 400", retryable=False, retry_at=None)
        assert box.claim_due(transport="graph", limit=20) == []
        assert box.message(a.id).hint


def test_claims_are_atomic_across_threads(tmp_path: Path, composition: Composition) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as setup:
        setup.add_job(composition, people(60), entry_id="1_x")
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        with Outbox(path) as box:
            while claimed := box.claim_due(transport="graph", limit=7):
                with lock:
                    got.extend(m.id for _, m in claimed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 60 and len(set(got)) == 60


def test_cancel_and_transport_filter(tmp_path: Path, composition: Composition) -> None:
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, people(3), entry_id="1_x", transport="smtp")
        assert box.claim_due(transport="graph", limit=20) == []
        assert box.cancel_job(job) == 3
        assert box.counts(job)["cancelled"] == 3
        with pytest.raises(MailError):
            box.add_job(composition, [])
        with pytest.raises(OutboxError):
            box.attach_video("nope", "1_x")


def test_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(MailError, match="cannot be opened"):
        Outbox(path)

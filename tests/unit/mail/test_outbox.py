"""The outbox state machine: durable, atomic, and never resending an unknown message."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.errors import MailError
from app.mail.message import Composition, make_recipient
from app.mail.outbox import UNKNOWN_HINT, Outbox, OutboxError
from tests.helpers import assert_mode

#: A process that is not running: what a crashed sender leaves as the owner of its claims.
GONE = "999999999@1.00"


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
        claimed = box.claim_due(transport="graph", limit=20, owner=GONE)
    with Outbox(path) as box:
        moved = box.recover()  # at once: no waiting for the claims to grow old
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
        (_, a), (_, b) = box.claim_due(transport="graph", limit=20, owner=GONE)
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


def test_an_outbox_that_cannot_be_opened_nor_moved_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "o.db").mkdir()  # a folder where the database should be
    with pytest.raises(MailError, match="cannot be opened"):
        Outbox(tmp_path / "o.db")


def test_a_live_senders_claims_are_left_alone(tmp_path: Path, composition: Composition) -> None:
    with Outbox(tmp_path / "o.db") as box:
        box.add_job(composition, people(2), entry_id="1_x")
        claimed = box.claim_due(transport="graph", limit=20)  # by this (running) process
        assert box.recover() == []
        assert {box.message(m.id).state for _, m in claimed} == {"sending"}


def test_a_sender_claims_only_its_own_job(tmp_path: Path, composition: Composition) -> None:
    with Outbox(tmp_path / "o.db") as box:
        older = box.add_job(composition, people(2), entry_id="1_x")
        mine = box.add_job(composition, people(3), entry_id="1_y")
        claimed = box.claim_due(transport="graph", limit=20, job_id=mine)
        assert {m.job_id for _, m in claimed} == {mine} and len(claimed) == 3
        assert box.counts(older)["queued"] == 2  # left for whoever sends that job


def test_the_same_send_again_resumes_its_job(tmp_path: Path, composition: Composition) -> None:
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, people(5), entry_id="1_x", fingerprint="F1")
        a, b, c, d, _e = (m for _, m in box.claim_due(transport="graph", limit=20, owner=GONE))
        box.record_sent(a.id)
        box.record_failed(b.id, "refused", retryable=False, retry_at=None)
        box.record_unknown(c.id, "no answer")
        box.release(d.id)  # back to the queue
        box.cancel(d.id)  # withdrawn when the run was interrupted
        box.recover()  # _e: its sender died
        found = box.find_job("F1")
        assert found is not None and found.id == job and box.find_job("F2") is None
        resumed = box.resume_job(job)
        # Sent stays sent, unknown stays unknown (never resent by itself); failed and
        # withdrawn go out again; the dead sender's message is unknown, not resent.
        assert (resumed.sent, resumed.unknown, resumed.to_send) == (1, 2, 2)
        states = {m.id: m.state for m in box.messages(job)}
        assert states[a.id] == "sent" and states[c.id] == "unknown"
        assert states[b.id] == "queued" and states[d.id] == "queued"


def test_withdraw_a_job_or_one_message(tmp_path: Path, composition: Composition) -> None:
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, people(3))  # waiting for its video
        first = box.messages(job)[0]
        assert box.withdraw(first.id) == 1
        assert box.withdraw(job) == 2
        assert {m.state for m in box.messages(job)} == {"cancelled"}
        assert not box.pending()


def test_an_outbox_of_the_first_schema_is_upgraded(
    tmp_path: Path, composition: Composition
) -> None:
    path = tmp_path / "old.db"
    with Outbox(path) as box:
        job = box.add_job(composition, people(1), entry_id="1_x")
        box._db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    with Outbox(path) as box:
        assert box._db.execute("SELECT value FROM meta").fetchone()[0] == "2"
        assert box.job(job).fingerprint == ""
        assert len(box.claim_due(transport="graph", limit=5)) == 1


def test_an_outbox_from_a_newer_version_is_kept_aside_and_a_new_one_started(
    tmp_path: Path, composition: Composition
) -> None:
    path = tmp_path / "new.db"
    with Outbox(path) as box:
        box.add_job(composition, people(1))
        box._db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with Outbox(path) as box:
        assert box.recovered_from is not None and "newer version" in box.damage
        assert box.recovered_from.name.startswith("new.db.damaged-")
        with Outbox(box.recovered_from) as kept:  # the old one is intact, for a newer app
            assert kept.recovered_from is None or "newer" in kept.damage
        assert box.jobs() == []  # a fresh outbox that works
        box.add_job(composition, people(2))
        assert len(box.messages()) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pages"])
def test_a_damaged_outbox_is_kept_aside_once_and_a_new_one_works(
    tmp_path: Path, composition: Composition, damage: str
) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        for _ in range(40):  # a few pages of data
            box.add_job(composition, people(5))
        box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a database at all" * 100)
    elif damage == "truncated":
        data = data[: len(data) // 3]
    else:  # scribble over the data pages, keeping the header
        for i in range(4096, len(data), 997):
            data[i] = (data[i] + 123) % 256
    path.write_bytes(bytes(data))
    with Outbox(path) as box:
        assert box.recovered_from is not None, "damage not detected"
        assert box.recovered_from.read_bytes() == bytes(data)  # kept as it was
        assert_mode(box.recovered_from, 0o600)  # still the owner's only
        box.add_job(composition, people(1))
        assert len(box.messages()) == 1
    kept = sorted(p.name for p in tmp_path.iterdir() if ".damaged-" in p.name)
    assert len([k for k in kept if not k.endswith(("-wal", "-shm"))]) == 1

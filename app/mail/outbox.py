"""The outbox: every message the user asked to send, durably, with where it stands.

A persistent SQLite database (WAL, in the data dir) holding *jobs* (one per press of
Send: the composition, the preview bytes, the video's entry id once known) and one
*message* per recipient. Each message moves::

    queued -> sending -> sent
                      -> failed   (with the reason; retried automatically while retryable)
                      -> unknown  (the request went out and no answer came back)
    queued/failed -> cancelled   (the user withdrew it)

``unknown`` is never resent automatically: Graph's sendMail has no idempotency key, so
the user is told to check Sent Items, then :meth:`Outbox.resend` or
:meth:`Outbox.mark_sent`. In exactly-once mode (the policy's ``exactly_once_sending``,
which needs Mail.ReadWrite) each message is a draft created once; its id is recorded
here before it is sent, and after an ambiguous send the draft is checked before any
retry, so nothing ends ``unknown`` and nothing goes out twice.

Each claimed message records its owner (the sending process's pid and start time,
``app.system``): a message whose owner is gone is settled at once by :meth:`Outbox.recover`
(``unknown``, or in exactly-once mode queued to be checked), never silently repeated, and a
message a live process is sending is left alone. A job is identified by what it sends (its
*fingerprint*, computed by the caller): :meth:`Outbox.find_job` finds an earlier job of the
same send, and :meth:`Outbox.resume_job` queues again only what did not go out, so running
the same send twice never sends twice. A sender claims messages of its own job only. Messages can be
queued before the video's link exists (:meth:`Outbox.attach_video` supplies it later);
:class:`app.mail.pump.Pump` sends them when both the link and the network are there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app import paths, system
from app.errors import MailError
from app.mail.message import (
    Composition,
    Recipient,
    composition_from_json,
    composition_to_json,
    new_token,
)

log = logging.getLogger(__name__)

State = Literal["queued", "sending", "sent", "failed", "unknown", "cancelled"]
STATES: tuple[State, ...] = ("queued", "sending", "sent", "failed", "unknown", "cancelled")
FINAL_STATES = frozenset({"sent", "cancelled"})

UNKNOWN_HINT = (
    "The request reached the mail server but no answer came back, so it may have been sent. "
    "Check your Sent Items, then resend or mark as sent."
)

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    composition TEXT NOT NULL,
    preview BLOB,
    entry_id TEXT,
    transport TEXT NOT NULL,
    exactly_once INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    seq INTEGER NOT NULL,
    address TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('queued','sending','sent','failed','unknown','cancelled')),
    reason TEXT NOT NULL DEFAULT '',
    retryable INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    draft_id TEXT,
    verify_first INTEGER NOT NULL DEFAULT 0,
    remote_id TEXT NOT NULL DEFAULT '',
    landing_url TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_by_state ON messages(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS messages_by_job ON messages(job_id, seq);
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY,
    entry_id TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    message_id TEXT NOT NULL,
    at REAL NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
"""


def default_path() -> Path:
    return paths.data_dir() / "outbox.sqlite3"


@dataclass(frozen=True)
class Job:
    id: str
    created_at: float
    composition: Composition
    entry_id: str | None
    transport: str
    exactly_once: bool
    #: What the job sends, as the caller identified it ("" for jobs older than that).
    fingerprint: str = ""
    #: The profile whose mailbox and Kaltura the job belongs to ("" for older jobs): one
    #: outbox serves every profile, and only that profile's sign-in may send its messages.
    profile: str = ""


@dataclass(frozen=True)
class Resumed:
    """What :meth:`Outbox.resume_job` found: where the earlier send of a job stands."""

    job_id: str
    #: Went out already: not sent again.
    sent: int
    #: May have gone out (no answer came): not sent again; the user checks Sent Items.
    unknown: int
    #: Queued (again) to go out now.
    to_send: int
    #: Being sent by another process right now.
    in_flight: int


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    job_id: str
    seq: int
    recipient: Recipient
    token: str
    state: State
    reason: str
    retryable: bool
    attempts: int
    next_attempt_at: float
    draft_id: str | None
    verify_first: bool
    remote_id: str
    landing_url: str
    sent_at: float | None

    @property
    def hint(self) -> str:
        """What the user can do about this message, for the UI and the CLI."""
        if self.state == "unknown":
            return UNKNOWN_HINT
        if self.state == "failed" and not self.retryable:
            return "Fix the problem named above, then resend."
        return ""


class OutboxError(MailError):
    """The outbox refused a change (e.g. resending a message that was sent)."""


class _Unusable(Exception):
    """Internal: the database opened but cannot be used (damaged, or newer)."""


class Outbox:
    """The durable message store. Thread-safe; several processes may share the file (WAL)."""

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path or default_path()
        self.clock = clock
        paths.private_app_dir(self.path.parent)
        if not self.path.exists():
            # Created owner-only before SQLite opens it; its -wal and -shm files copy the
            # database file's permissions (recipients and notes are in there).
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        system.private_file(self.path)
        self._lock = threading.RLock()
        #: Where a damaged (or newer, unreadable) outbox was moved when this one started
        #: afresh, and why; None when the file was fine. A front end tells the user.
        self.recovered_from: Path | None = None
        self.damage = ""
        try:
            self._open()
        except (sqlite3.DatabaseError, _Unusable) as exc:
            self._close_quietly()
            self.damage = str(exc)
            try:
                self.recovered_from = self._move_aside()
            except OSError as move_failed:
                raise MailError(
                    f"The outbox at {self.path} cannot be opened ({exc}), nor moved aside "
                    f"({move_failed.strerror or move_failed}).",
                    hint="Check that the folder can be written to, and move the file away.",
                ) from exc
            log.warning(
                "outbox %s unusable (%s); moved to %s, starting a new one",
                self.path, exc, self.recovered_from,
            )  # fmt: skip
            try:
                self._open()
            except (sqlite3.DatabaseError, _Unusable) as again:
                self._close_quietly()
                raise MailError(
                    f"The outbox at {self.path} cannot be opened: {again}.",
                    hint="Check that the disk is not full and the folder can be written to.",
                ) from again

    def _open(self) -> None:
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.row_factory = sqlite3.Row
        check = self._db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise _Unusable(f"damaged ({check[0] if check else 'no answer'})")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # macOS: fsync stops at the drive's cache; F_FULLFSYNC reaches the disk (no-op
        # elsewhere). A message marked sent must still be marked after a power cut.
        self._db.execute("PRAGMA fullfsync=ON")
        self._db.execute("PRAGMA checkpoint_fullfsync=ON")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _move_aside(self) -> Path:
        """Keep the unusable database (and its -wal/-shm) next to it, once per version."""
        kept = system.keep_damaged(self.path, move=True)
        for suffix in ("-wal", "-shm"):
            extra = self.path.with_name(self.path.name + suffix)
            if extra.exists():
                system.replace_file(extra, kept.with_name(kept.name + suffix))
        return kept

    def _migrate(self) -> None:
        """Bring a database written by an older version up to :data:`SCHEMA_VERSION`."""
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row and str(row[0]).isdigit() else 0
        if version > SCHEMA_VERSION:
            raise _Unusable(f"written by a newer version of the app (schema {version})")
        columns = {
            table: {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for table in ("jobs", "messages")
        }
        if "fingerprint" not in columns["jobs"]:
            self._db.execute("ALTER TABLE jobs ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''")
        if "profile" not in columns["jobs"]:  # older versions read past an added column
            self._db.execute("ALTER TABLE jobs ADD COLUMN profile TEXT NOT NULL DEFAULT ''")
        if "owner" not in columns["messages"]:
            self._db.execute("ALTER TABLE messages ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS jobs_by_fingerprint ON jobs(fingerprint, created_at)"
        )
        self._db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so concurrent senders never race."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----------------------------------------------------------------- composing

    def add_job(
        self,
        composition: Composition,
        recipients: Sequence[Recipient],
        *,
        transport: str = "graph",
        exactly_once: bool = False,
        entry_id: str | None = None,
        fingerprint: str = "",
        profile: str = "",
    ) -> str:
        """Queue one message per recipient. Returns the job id. Validate before calling this.

        ``fingerprint`` identifies what the job sends (see :meth:`find_job`); ``profile``
        is whose it is (see :attr:`Job.profile`)."""
        if not recipients:
            raise MailError("There is nobody to send to.", hint="Add at least one recipient.")
        seen: set[str] = set()
        unique = []
        for r in recipients:
            if r.email.lower() not in seen:  # the same person twice gets one email
                seen.add(r.email.lower())
                unique.append(r)
        job_id = uuid.uuid4().hex
        now = self.clock()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs(id, created_at, composition, preview, entry_id, transport, "
                "exactly_once, fingerprint, profile) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    now,
                    json.dumps(composition_to_json(composition)),
                    composition.preview.data or None,
                    entry_id,
                    transport,
                    int(exactly_once),
                    fingerprint,
                    profile,
                ),
            )
            for seq, r in enumerate(unique):
                db.execute(
                    "INSERT INTO messages(id, job_id, seq, address, display_name, first_name, "
                    "last_name, token, state, created_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?, 'queued', ?, ?)",
                    (
                        uuid.uuid4().hex,
                        job_id,
                        seq,
                        r.email,
                        r.display_name,
                        r.first_name,
                        r.last_name,
                        new_token(),
                        now,
                        now,
                    ),
                )
        return job_id

    def attach_video(self, job_id: str, entry_id: str) -> None:
        """The video's entry exists now: the job's messages may go out."""
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET entry_id=? WHERE id=?", (entry_id, job_id))
            if cur.rowcount != 1:
                raise OutboxError(f"There is no send job {job_id!r} in the outbox.")

    def find_job(self, fingerprint: str) -> Job | None:
        """The most recent job that sends exactly this (same fingerprint), if any."""
        if not fingerprint:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE fingerprint=? ORDER BY created_at DESC LIMIT 1",
                (fingerprint,),
            ).fetchone()
        return _job(row) if row is not None else None

    def resume_job(self, job_id: str) -> Resumed:
        """The same send again: what was withdrawn or failed is queued again; what went
        out (sent) or may have (unknown) is left as it is, never sent a second time."""
        now = self.clock()
        counts = {"sent": 0, "unknown": 0, "queued": 0, "sending": 0}
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, state FROM messages WHERE job_id=? ORDER BY seq", (job_id,)
            ).fetchall()
            if not rows:
                raise OutboxError(f"There is no send job {job_id!r} in the outbox.")
            for r in rows:
                state = r["state"]
                if state in ("cancelled", "failed"):
                    self._move(db, r["id"], state, "queued", "sent again", now)
                    db.execute(
                        "UPDATE messages SET next_attempt_at=0, attempts=0, retryable=1 WHERE id=?",
                        (r["id"],),
                    )
                    state = "queued"
                counts[state] = counts.get(state, 0) + 1
        return Resumed(
            job_id,
            sent=counts["sent"],
            unknown=counts["unknown"],
            to_send=counts["queued"],
            in_flight=counts["sending"],
        )

    # ----------------------------------------------------------------- reading

    def job(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise OutboxError(f"There is no send job {job_id!r} in the outbox.")
        return _job(row)

    def jobs(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
        return [_job(r) for r in rows]

    def message(self, message_id: str) -> OutboxMessage:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id=?", (message_id,)).fetchone()
        if row is None:
            raise OutboxError(f"There is no message {message_id!r} in the outbox.")
        return _message(row)

    def messages(
        self, job_id: str | None = None, *, state: State | None = None
    ) -> list[OutboxMessage]:
        sql = "SELECT * FROM messages"
        cond: list[str] = []
        args: list[Any] = []
        if job_id is not None:
            cond.append("job_id=?")
            args.append(job_id)
        if state is not None:
            cond.append("state=?")
            args.append(state)
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        sql += " ORDER BY created_at, seq"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_message(r) for r in rows]

    def counts(self, job_id: str | None = None) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        for m in self.messages(job_id):
            out[m.state] += 1
        return out

    def history(self, message_id: str) -> list[tuple[str, str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT from_state, to_state, reason FROM history WHERE message_id=? "
                "ORDER BY rowid",
                (message_id,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def preview_data(self, job_id: str) -> bytes:
        with self._lock:
            row = self._db.execute("SELECT preview FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bytes(row[0]) if row and row[0] else b""

    def pending(self) -> bool:
        """True while some message may still go out without the user doing anything."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM messages WHERE state IN ('queued','sending') OR "
                "(state='failed' AND retryable=1 AND next_attempt_at>0)"
            ).fetchone()
        return bool(row[0])

    # ----------------------------------------------------------------- the sender's side

    def claim_due(
        self,
        *,
        transport: str,
        limit: int,
        now: float | None = None,
        job_id: str | None = None,
        owner: str | None = None,
    ) -> list[tuple[Job, OutboxMessage]]:
        """Atomically move up to ``limit`` due messages of one job to ``sending``.

        Due: queued or auto-retryable failed, whose time has come, whose job has its video.
        ``job_id``: only that job's messages. The claim records ``owner`` (default: this
        process), so a crash is settled at the next start instead of waiting.
        """
        now = self.clock() if now is None else now
        owner = str(system.this_process()) if owner is None else owner
        with self._tx() as db:
            row = db.execute(
                "SELECT m.job_id FROM messages m JOIN jobs j ON j.id=m.job_id "
                "WHERE j.transport=? AND j.entry_id IS NOT NULL AND m.next_attempt_at<=? AND "
                "(m.state='queued' OR (m.state='failed' AND m.retryable=1 AND "
                "m.next_attempt_at>0)) AND (? IS NULL OR m.job_id=?) "
                "ORDER BY m.next_attempt_at, m.created_at, m.seq LIMIT 1",
                (transport, now, job_id, job_id),
            ).fetchone()
            if row is None:
                return []
            job_id = row[0]
            rows = db.execute(
                "SELECT * FROM messages WHERE job_id=? AND next_attempt_at<=? AND "
                "(state='queued' OR (state='failed' AND retryable=1 AND next_attempt_at>0)) "
                "ORDER BY seq LIMIT ?",
                (job_id, now, limit),
            ).fetchall()
            claimed = []
            for r in rows:
                self._move(db, r["id"], r["state"], "sending", "", now, attempts_inc=True)
                db.execute("UPDATE messages SET owner=? WHERE id=?", (owner, r["id"]))
            job = _job(db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())
            for r in rows:
                claimed.append(
                    _message(db.execute("SELECT * FROM messages WHERE id=?", (r["id"],)).fetchone())
                )
        return [(job, m) for m in claimed]

    def waiting_for_video(self, job_id: str | None = None) -> list[str]:
        """Jobs (or only ``job_id``) with messages to send but no video yet."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT j.id FROM jobs j JOIN messages m ON m.job_id=j.id "
                "WHERE j.entry_id IS NULL AND m.state IN ('queued','failed') "
                "AND (? IS NULL OR j.id=?)",
                (job_id, job_id),
            ).fetchall()
        return [r[0] for r in rows]

    def next_due_at(self, *, transport: str, job_id: str | None = None) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(m.next_attempt_at) FROM messages m JOIN jobs j ON j.id=m.job_id "
                "WHERE j.transport=? AND j.entry_id IS NOT NULL AND (m.state='queued' OR "
                "(m.state='failed' AND m.retryable=1 AND m.next_attempt_at>0)) "
                "AND (? IS NULL OR j.id=?)",
                (transport, job_id, job_id),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def set_landing_url(self, message_id: str, url: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET landing_url=? WHERE id=?", (url, message_id))

    # DraftJournal: written before the next step, so a crash in between loses nothing.
    def draft_created(self, local_id: str, draft_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET draft_id=?, verify_first=0, updated_at=? WHERE id=?",
                (draft_id, self.clock(), local_id),
            )

    def send_requested(self, local_ids: Sequence[str]) -> None:
        with self._tx() as db:
            for lid in local_ids:
                db.execute(
                    "UPDATE messages SET verify_first=1, updated_at=? WHERE id=?",
                    (self.clock(), lid),
                )

    def record_sent(self, message_id: str, *, remote_id: str = "", reason: str = "") -> None:
        with self._tx() as db:
            self._move(db, message_id, "sending", "sent", reason, self.clock())
            db.execute(
                "UPDATE messages SET remote_id=?, sent_at=?, verify_first=0 WHERE id=?",
                (remote_id, self.clock(), message_id),
            )

    def record_failed(
        self,
        message_id: str,
        reason: str,
        *,
        retryable: bool,
        retry_at: float | None,
        verify_first: bool | None = None,
    ) -> None:
        """``retry_at`` None: no automatic retry (the user decides)."""
        with self._tx() as db:
            self._move(db, message_id, "sending", "failed", reason, self.clock())
            db.execute(
                "UPDATE messages SET retryable=?, next_attempt_at=? WHERE id=?",
                (int(retryable), retry_at if (retryable and retry_at) else 0, message_id),
            )
            if verify_first is not None:
                db.execute(
                    "UPDATE messages SET verify_first=? WHERE id=?", (int(verify_first), message_id)
                )

    def record_throttled(self, message_id: str, retry_at: float, reason: str = "") -> None:
        """Back to the queue until ``retry_at``; a throttled attempt does not count."""
        with self._tx() as db:
            self._move(db, message_id, "sending", "queued", reason or "throttled", self.clock())
            db.execute(
                "UPDATE messages SET next_attempt_at=?, attempts=MAX(attempts-1,0) WHERE id=?",
                (retry_at, message_id),
            )

    def record_unknown(self, message_id: str, reason: str) -> None:
        with self._tx() as db:
            self._move(db, message_id, "sending", "unknown", reason, self.clock())

    def release(self, message_id: str, reason: str = "not sent") -> None:
        """Give a claimed message back to the queue untouched (cancelled before it was sent)."""
        with self._tx() as db:
            self._move(db, message_id, "sending", "queued", reason, self.clock())
            db.execute("UPDATE messages SET attempts=MAX(attempts-1,0) WHERE id=?", (message_id,))

    # ----------------------------------------------------------------- the user's side

    def resend(self, message_id: str) -> None:
        """Queue an unknown or failed message again (the user checked Sent Items)."""
        with self._tx() as db:
            self._move(
                db, message_id, ("unknown", "failed", "cancelled"), "queued", "resend", self.clock()
            )
            db.execute(
                "UPDATE messages SET next_attempt_at=0, attempts=0, retryable=1 WHERE id=?",
                (message_id,),
            )

    def mark_sent(self, message_id: str) -> None:
        """The user found an unknown message in Sent Items."""
        with self._tx() as db:
            self._move(
                db, message_id, ("unknown", "failed"), "sent", "marked as sent", self.clock()
            )
            db.execute("UPDATE messages SET sent_at=? WHERE id=?", (self.clock(), message_id))

    def cancel(self, message_id: str) -> None:
        with self._tx() as db:
            self._move(db, message_id, ("queued", "failed"), "cancelled", "cancelled", self.clock())

    def cancel_job(self, job_id: str) -> int:
        """Withdraw every message of a job that has not gone out. Returns how many."""
        n = 0
        for m in self.messages(job_id):
            if m.state in ("queued", "failed"):
                try:
                    self.cancel(m.id)
                    n += 1
                except OutboxError:
                    pass  # it moved meanwhile (a sender claimed it)
        return n

    # ----------------------------------------------------------------- uploads

    def remember_upload(self, key: str, entry_id: str) -> None:
        """A video file (identified by ``key``) is in Kaltura as ``entry_id``: reuse it."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads(key, entry_id, at) VALUES (?,?,?)",
                (key, entry_id, self.clock()),
            )

    def find_upload(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT entry_id FROM uploads WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    # ----------------------------------------------------------------- start-up

    def recover(self, *, older_than: float = 600.0) -> list[str]:
        """Settle messages left ``sending`` by a process that is gone. Returns their ids.

        A message records who claimed it: when that process no longer runs, the message is
        settled at once. sendMail/SMTP: ``unknown`` (it may have gone out; never resent by
        itself). Exactly-once (draft) jobs: back to the queue, marked to check the draft
        before anything is sent again. A message a live process is sending is left alone.
        Messages claimed before owners were recorded fall back to ``older_than`` seconds.
        """
        now = self.clock()
        moved = []
        with self._tx() as db:
            rows = db.execute(
                "SELECT m.id, m.draft_id, m.owner, m.updated_at, j.exactly_once FROM messages m "
                "JOIN jobs j ON j.id=m.job_id WHERE m.state='sending'"
            ).fetchall()
            for r in rows:
                owner = str(r["owner"] or "")
                if owner:
                    if system.owner_alive(owner):
                        continue
                elif r["updated_at"] > now - older_than:
                    continue
                moved.append(r["id"])
                if r["exactly_once"]:
                    self._move(
                        db, r["id"], "sending", "queued", "interrupted; checking the draft", now
                    )
                    if r["draft_id"]:
                        db.execute("UPDATE messages SET verify_first=1 WHERE id=?", (r["id"],))
                else:
                    self._move(
                        db, r["id"], "sending", "unknown", "the app stopped while sending", now
                    )
        return moved

    def withdraw(self, job_or_message_id: str) -> int:
        """Withdraw what has not gone out of a job (or one message). Returns how many."""
        with self._lock:
            is_job = self._db.execute(
                "SELECT 1 FROM jobs WHERE id=?", (job_or_message_id,)
            ).fetchone()
        if is_job:
            return self.cancel_job(job_or_message_id)
        self.cancel(job_or_message_id)
        return 1

    # ----------------------------------------------------------------- internals

    def _move(  # noqa: PLR0917 - reads as a sentence at every call site
        self,
        db: sqlite3.Connection,
        message_id: str,
        from_state: str | tuple[str, ...],
        to_state: State,
        reason: str,
        now: float,
        *,
        attempts_inc: bool = False,
    ) -> None:
        allowed = (from_state,) if isinstance(from_state, str) else from_state
        row = db.execute("SELECT state FROM messages WHERE id=?", (message_id,)).fetchone()
        if row is None:
            raise OutboxError(f"There is no message {message_id!r} in the outbox.")
        if row[0] not in allowed:
            raise OutboxError(
                f"This message is {row[0]}; it cannot become {to_state}.",
                hint="Refresh the outbox view." if row[0] != "sent" else "It was sent already.",
            )
        db.execute(
            "UPDATE messages SET state=?, reason=?, updated_at=?, attempts=attempts+? WHERE id=?",
            (to_state, reason, now, int(attempts_inc), message_id),
        )
        db.execute(
            "INSERT INTO history(message_id, at, from_state, to_state, reason) VALUES (?,?,?,?,?)",
            (message_id, now, row[0], to_state, reason),
        )


def _job(row: sqlite3.Row) -> Job:
    preview = bytes(row["preview"]) if row["preview"] else b""
    return Job(
        id=row["id"],
        created_at=row["created_at"],
        composition=composition_from_json(json.loads(row["composition"]), preview),
        entry_id=row["entry_id"],
        transport=row["transport"],
        exactly_once=bool(row["exactly_once"]),
        fingerprint=str(row["fingerprint"] or ""),
        profile=str(row["profile"] or ""),
    )


def _message(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        job_id=row["job_id"],
        seq=row["seq"],
        recipient=Recipient(
            email=row["address"],
            display_name=row["display_name"],
            first_name=row["first_name"],
            last_name=row["last_name"],
        ),
        token=row["token"],
        state=row["state"],
        reason=row["reason"],
        retryable=bool(row["retryable"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        draft_id=row["draft_id"],
        verify_first=bool(row["verify_first"]),
        remote_id=row["remote_id"],
        landing_url=row["landing_url"],
        sent_at=row["sent_at"],
    )

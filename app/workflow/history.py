"""What was sent, where each message stands, and who watched: the History a front end shows.

:func:`history` reads the profile's outbox: one :class:`SentJob` per send (newest first)
with each recipient's message and the actions the outbox allows for its state
(:meth:`SentMessage.actions`). :func:`act` performs one (resend, mark as sent, withdraw)
and sends what became due. :class:`ViewWatcher` asks Kaltura for the plays and views of
the sent videos and reports each increase once, as :class:`Watched`, so a front end can
say "Ann watched your video"; per recipient where the landing page reports it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from app.errors import AppError

if TYPE_CHECKING:
    from app.mail.outbox import Job, OutboxMessage
    from app.workflow.events import OnEvent
    from app.workflow.services import Services

log = logging.getLogger(__name__)

Action = Literal["send", "resend", "mark_sent", "withdraw"]

#: What a person may do with a message in each state. A queued message waits for a
#: sender (a send was cancelled or the app quit mid-send): "Send now" sends it.
ACTIONS: dict[str, tuple[Action, ...]] = {
    "queued": ("send", "withdraw"),
    "failed": ("resend", "withdraw"),
    "unknown": ("mark_sent", "resend"),
    "cancelled": ("resend",),
}

ACTION_LABELS: dict[Action, str] = {
    "send": "Send now",
    "resend": "Send again",
    "mark_sent": "It was sent",
    "withdraw": "Don't send",
}


@dataclass(frozen=True)
class SentMessage:
    """One recipient's message of a send."""

    id: str
    name: str
    address: str
    state: str
    reason: str
    hint: str
    sent_at: float | None
    landing_url: str
    token: str
    #: False when its send's video never finished uploading: nothing can send it then.
    has_video: bool = True
    #: The profile it was sent from, when that is not the open one: only that profile
    #: may send it (its mailbox, its Kaltura links). "" for the open profile's.
    other_profile: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address

    def actions(self) -> tuple[Action, ...]:
        found = ACTIONS.get(self.state, ())
        if not self.has_video or self.other_profile:
            found = tuple(a for a in found if a not in ("send", "resend"))
        return found


@dataclass(frozen=True)
class SentJob:
    """One send: its video, when, and each recipient's message."""

    id: str
    created_at: float
    title: str
    entry_id: str
    subject: str
    messages: tuple[SentMessage, ...]
    plays: int = 0
    views: int = 0

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.messages:
            out[m.state] = out.get(m.state, 0) + 1
        return out

    @property
    def summary(self) -> str:
        """ "3 sent, 1 unknown" in plain words."""
        order = ("sent", "sending", "queued", "failed", "unknown", "cancelled")
        counts = self.counts
        words = {"cancelled": "withdrawn", "unknown": "may have gone out"}
        return ", ".join(f"{counts[s]} {words.get(s, s)}" for s in order if counts.get(s))

    @property
    def needs_attention(self) -> bool:
        return any(m.state in ("failed", "unknown") for m in self.messages)


def _message(row: OutboxMessage, *, has_video: bool, other_profile: str) -> SentMessage:
    return SentMessage(
        id=row.id,
        name=row.recipient.display_name,
        address=row.recipient.email,
        state=row.state,
        reason=row.reason,
        hint=row.hint,
        sent_at=row.sent_at,
        landing_url=row.landing_url,
        token=row.token,
        has_video=has_video,
        other_profile=other_profile,
    )


def _job(job: Job, rows: Iterable[OutboxMessage], profile: str) -> SentJob:
    from app.workflow.send import belongs_to  # noqa: PLC0415

    other = "" if belongs_to(job, profile) else job.profile
    comp = job.composition
    return SentJob(
        id=job.id,
        created_at=job.created_at,
        title=comp.video_title,
        entry_id=job.entry_id or "",
        subject=comp.subject or "",
        messages=tuple(
            _message(r, has_video=bool(job.entry_id), other_profile=other) for r in rows
        ),
    )


def history(services: Services, *, limit: int = 100) -> list[SentJob]:
    """The profile's sends, newest first (messages of a stopped sender settled first)."""
    outbox = services.outbox()
    outbox.recover()
    jobs = sorted(outbox.jobs(), key=lambda j: j.created_at, reverse=True)[:limit]
    return [_job(j, outbox.messages(j.id), services.profile_name) for j in jobs]


def act(
    services: Services,
    message_id: str,
    action: Action,
    *,
    on_event: OnEvent | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Do ``action`` to one message; a message sent or resent goes out now (with the
    rest of its send that is due)."""
    from app.workflow.send import require_own, send_due  # noqa: PLC0415

    outbox = services.outbox()
    if action == "send":
        services.require_valid_policy()
        send_due(services, message_id=message_id, on_event=on_event, cancel=cancel)
    elif action == "withdraw":
        outbox.withdraw(message_id)
    elif action == "mark_sent":
        outbox.mark_sent(message_id)
    elif action == "resend":
        services.require_valid_policy()
        require_own(services, message_id)  # before the message changes state
        outbox.resend(message_id)
        send_due(services, message_id=message_id, on_event=on_event, cancel=cancel)
    else:  # pragma: no cover - the Literal type rules it out
        raise ValueError(f"unknown action {action!r}")


@dataclass(frozen=True)
class Watched:
    """A sent video was watched (again): its new counts and what changed."""

    entry_id: str
    title: str
    plays: int
    views: int
    new_plays: int
    new_views: int


@dataclass
class ViewWatcher:
    """Reports each increase of a sent video's plays/views once (see the module doc).

    The first look only learns the counts (nothing is reported for what happened before
    the app started); each later :meth:`check` reports what grew since.
    """

    known: dict[str, tuple[int, int]] = field(default_factory=dict)
    _primed: bool = False

    def check(
        self, services: Services, jobs: Iterable[SentJob], cancel: threading.Event | None = None
    ) -> tuple[list[SentJob], list[Watched]]:
        """``jobs`` with their counts filled in, and what was watched since the last check."""
        from app.kaltura import entries  # noqa: PLC0415

        jobs = list(jobs)
        ids = sorted({j.entry_id for j in jobs if j.entry_id})
        if not ids:
            self._primed = True
            return jobs, []
        if cancel is not None and cancel.is_set():
            return jobs, []
        try:
            counts = entries.views(services.uploads().session, ids)
        except AppError as exc:
            log.info("could not read the views of sent videos: %s", exc.message)
            return jobs, []
        watched: list[Watched] = []
        out: list[SentJob] = []
        titles = {j.entry_id: j.title for j in jobs}
        for job in jobs:
            c = counts.get(job.entry_id)
            out.append(job if c is None else replace(job, plays=c.plays, views=c.views))
        for entry_id, c in counts.items():
            before = self.known.get(entry_id)
            self.known[entry_id] = (c.plays, c.views)
            if not self._primed or before is None:
                continue
            new_plays, new_views = c.plays - before[0], c.views - before[1]
            if new_plays > 0 or new_views > 0:
                watched.append(
                    Watched(
                        entry_id,
                        titles.get(entry_id, ""),
                        c.plays,
                        c.views,
                        max(0, new_plays),
                        max(0, new_views),
                    )
                )
        self._primed = True
        return out, watched

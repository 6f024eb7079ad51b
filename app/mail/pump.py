"""The worker that empties the outbox: it sends when the video link and the network are there.

:class:`Pump` claims due messages (one job at a time, at most a transport batch), renders
each for its recipient with its own landing link, hands the batch to the transport and
records every outcome. Retries are decided here and only here:

- ``failed`` and retryable: again after a capped exponential backoff, up to
  ``max_attempts`` attempts; then it waits for the user.
- ``throttled``: back in the queue after the server's Retry-After (not an attempt).
- ``unknown``: never again by itself (see :mod:`app.mail.outbox`).

It is driven by a UI or the CLI: :meth:`Pump.run` blocks until the work is done or
``cancel`` is set (checked between batches and while waiting), :meth:`Pump.wake` cuts a
wait short (the video link arrived, the network came back), and ``on_event`` receives an
:class:`OutboxEvent` for every state change, per recipient.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.errors import AppError, MailError, NetworkError
from app.mail.message import OutgoingMessage, build_message
from app.mail.outbox import Job, Outbox, OutboxMessage
from app.mail.templates import TemplateCatalog
from app.mail.transports import Outcome, Transport

log = logging.getLogger(__name__)

#: (entry id, recipient token, recipient name) -> the recipient's landing URL.
LinkBuilder = Callable[[str, str, str], str]


@dataclass(frozen=True)
class OutboxEvent:
    """One thing that happened: a message changed state, or the pump is waiting."""

    kind: str  # "message" | "waiting_for_video" | "waiting_for_network" | "idle"
    job_id: str = ""
    message_id: str = ""
    address: str = ""
    state: str = ""
    reason: str = ""
    attempt: int = 0
    landing_url: str = ""
    remote_id: str = ""


class Pump:
    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        link_for: LinkBuilder,
        *,
        on_event: Callable[[OutboxEvent], None] | None = None,
        catalog: TemplateCatalog | None = None,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.link_for = link_for
        self.on_event = on_event
        self.catalog = catalog or TemplateCatalog()
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.clock = clock
        self._wake = threading.Event()

    def wake(self) -> None:
        """Stop waiting and look at the outbox now (video attached, network back)."""
        self._wake.set()

    def _emit(self, event: OutboxEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _backoff(self, attempts: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1)))

    # ----------------------------------------------------------------- one batch

    def run_once(self, job_id: str | None = None) -> int:
        """Send one batch of due messages (of ``job_id`` only, when given). Returns how
        many were handled (0: nothing due)."""
        claimed = self.outbox.claim_due(
            transport=self.transport.name, limit=self.transport.batch_size, job_id=job_id
        )
        if not claimed:
            return 0
        job = claimed[0][0]
        rows = [m for _, m in claimed]
        messages: list[OutgoingMessage] = []
        ready: list[OutboxMessage] = []
        for row in rows:
            self._emit(_event(job, row, "sending"))
            try:
                messages.append(self._render(job, row))
                ready.append(row)
            except MailError as exc:
                # The template changed (or broke) since the message was queued.
                self.outbox.record_failed(row.id, exc.message, retryable=False, retry_at=None)
                self._emit(_event(job, row, "failed", exc.message))
        if not messages:
            return len(rows)
        drafts: dict[str, tuple[str, bool]] = {
            r.id: (r.draft_id, r.verify_first) for r in ready if r.draft_id is not None
        }
        offline = ""
        try:
            outcomes = self.transport.send(
                messages,
                exactly_once=job.exactly_once,
                drafts=drafts,
                journal=self.outbox,
            )
        except NetworkError as exc:
            # Nothing left the machine: offline. Everything waits and tries again.
            outcomes = [
                Outcome(m.local_id, "failed", reason=exc.message, retryable=True) for m in messages
            ]
            offline = exc.message
        except AppError as exc:
            # Refused as a whole (sign-in needed, Mail.Send not approved): the user must act.
            outcomes = [
                Outcome(m.local_id, "failed", reason=exc.user_message(), retryable=False)
                for m in messages
            ]
        by_id = {r.id: r for r in ready}
        for out in outcomes:
            self._apply(job, by_id[out.local_id], out)
        if offline:
            self._emit(OutboxEvent("waiting_for_network", job_id=job.id, reason=offline))
        return len(rows)

    def _render(self, job: Job, row: OutboxMessage) -> OutgoingMessage:
        assert job.entry_id is not None
        url = row.landing_url
        if not url:
            name = row.recipient.first_name or row.recipient.display_name
            url = self.link_for(job.entry_id, row.token, name)
            self.outbox.set_landing_url(row.id, url)
        return build_message(
            job.composition,
            row.recipient,
            url,
            token=row.token,
            local_id=row.id,
            catalog=self.catalog,
        )

    def _apply(self, job: Job, row: OutboxMessage, out: Outcome) -> None:
        now = self.clock()
        attempt = row.attempts
        if out.kind == "sent":
            self.outbox.record_sent(row.id, remote_id=out.remote_id, reason=out.reason)
        elif out.kind == "unknown":
            self.outbox.record_unknown(row.id, out.reason)
        elif out.kind == "throttled":
            wait = out.retry_after if out.retry_after is not None else self._backoff(attempt)
            self.outbox.record_throttled(row.id, now + wait, out.reason or "throttled")
        else:
            auto = out.retryable and attempt < self.max_attempts
            retry_at = now + (out.retry_after or self._backoff(attempt)) if auto else None
            self.outbox.record_failed(
                row.id,
                out.reason,
                retryable=out.retryable,
                retry_at=retry_at,
                verify_first=out.verify_first or None,
            )
        state = {"throttled": "queued"}.get(out.kind, out.kind)
        fresh = self.outbox.message(row.id)
        self._emit(
            OutboxEvent(
                "message",
                job_id=job.id,
                message_id=row.id,
                address=row.recipient.email,
                state=state,
                reason=out.reason,
                attempt=attempt,
                landing_url=fresh.landing_url,
                remote_id=out.remote_id,
            )
        )

    # ----------------------------------------------------------------- the loop

    def run(
        self,
        cancel: threading.Event | None = None,
        *,
        job_id: str | None = None,
        until_idle: bool = True,
        max_wait: float = 30.0,
    ) -> None:
        """Send until nothing more can go out by itself (``until_idle``) or ``cancel`` is set.

        With ``job_id``, send that job's messages only (another job's are sent by whoever
        runs that job, or by :meth:`drain`, which says which job each belongs to) and stop
        as soon as it needs nothing more from the pump. Waits (for the video, for a retry
        time, for the network) end early on :meth:`wake`.
        """
        cancel = cancel or threading.Event()
        announced_video: set[str] = set()
        while not cancel.is_set():
            # Cleared before looking at the outbox, so a wake() from now on (the video's
            # link attached, the network back) ends the wait below instead of being lost.
            self._wake.clear()
            handled = self.run_once(job_id)
            if handled:
                continue
            if job_id is not None and not self._job_active(job_id):
                return
            waiting = self.outbox.waiting_for_video(job_id)
            for jid in waiting:
                if jid not in announced_video:
                    announced_video.add(jid)
                    self._emit(OutboxEvent("waiting_for_video", job_id=jid))
            due = self.outbox.next_due_at(transport=self.transport.name, job_id=job_id)
            if due is None and not waiting and until_idle:
                self._emit(OutboxEvent("idle"))
                return
            wait = max_wait if due is None else max(0.0, min(max_wait, due - self.clock()))
            end = time.monotonic() + wait
            # Short slices so that both wake() and the caller's cancel event end the wait.
            while not cancel.is_set() and not self._wake.is_set():
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(min(remaining, 0.2))

    def drain(
        self,
        cancel: threading.Event | None = None,
        *,
        horizon: float = 60.0,
        job_id: str | None = None,
    ) -> None:
        """Send what is due now or within ``horizon`` seconds (of ``job_id`` only, when
        given), then return.

        Unlike :meth:`run` it does not wait for videos that are still uploading (their
        messages stay queued for whoever attaches the video).
        """
        cancel = cancel or threading.Event()
        while not cancel.is_set():
            if self.run_once(job_id):
                continue
            due = self.outbox.next_due_at(transport=self.transport.name, job_id=job_id)
            if due is None:
                return
            wait = due - self.clock()
            if wait > horizon:
                return
            if wait > 0:
                cancel.wait(wait)

    def _job_active(self, job_id: str) -> bool:
        for m in self.outbox.messages(job_id):
            if m.state in ("queued", "sending"):
                return True
            if m.state == "failed" and m.retryable and m.next_attempt_at > 0:
                return True
        return False


def _event(job: Job, row: OutboxMessage, state: str, reason: str = "") -> OutboxEvent:
    return OutboxEvent(
        "message",
        job_id=job.id,
        message_id=row.id,
        address=row.recipient.email,
        state=state,
        reason=reason,
        attempt=row.attempts,
        landing_url=row.landing_url,
    )

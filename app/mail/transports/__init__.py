"""How rendered messages leave the machine: Microsoft Graph (default) or SMTP.

A transport takes a list of :class:`~app.mail.message.OutgoingMessage` (at most
``batch_size``) and reports one :class:`Outcome` per message. It never retries a message
whose fate is uncertain; it says so (``unknown``) and the outbox decides. The outbox is
the only place that retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.mail.message import OutgoingMessage

#: sent: the server accepted it. failed: it certainly did not go out (``retryable`` says
#: whether trying again can help). unknown: the request went out and no answer came back.
#: throttled: the server asked us to come back after ``retry_after`` seconds.
OutcomeKind = Literal["sent", "failed", "unknown", "throttled"]


@dataclass(frozen=True)
class Outcome:
    local_id: str
    kind: OutcomeKind
    reason: str = ""
    retryable: bool = True
    retry_after: float | None = None
    #: The server's id for the message, when it gives one (Graph draft id, SMTP Message-ID).
    remote_id: str = ""
    #: Exactly-once mode: the next attempt must first check whether the draft went out.
    verify_first: bool = False


class DraftJournal(Protocol):
    """Where the Graph draft flow records its progress, durably, before the next step."""

    def draft_created(self, local_id: str, draft_id: str) -> None: ...

    def send_requested(self, local_ids: Sequence[str]) -> None: ...


class Transport(Protocol):
    name: str
    batch_size: int

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        exactly_once: bool = False,
        drafts: dict[str, tuple[str, bool]] | None = None,
        journal: DraftJournal | None = None,
    ) -> list[Outcome]:
        """Send ``messages``; one Outcome per message, in order.

        ``drafts`` maps a local id to (draft id, verify first) for messages whose draft
        already exists (exactly-once mode); ``journal`` records new drafts and send requests.
        """
        ...


__all__ = ["DraftJournal", "Outcome", "OutcomeKind", "Transport"]

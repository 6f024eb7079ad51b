"""Sending through the user's own Microsoft 365 mailbox with Microsoft Graph.

Default mode: ``POST /me/sendMail`` items in JSON ``$batch`` requests of up to 20 (so 50
recipients take 3 HTTP requests). Each item has its own status: 202 is sent, 429 is
throttled (come back after that item's Retry-After), a 5xx the server reports for the
item is a retryable failure, and anything that leaves the item's fate open (a lost
answer for the whole batch, a missing item, 504) is ``unknown``: sendMail has no
idempotency key, so such a message is never sent again by itself.

Exactly-once mode (the policy's ``exactly_once_sending``; needs Mail.ReadWrite), the
draft flow (docs/protocols.md, "Graph: drafts and exactly-once sending"):
``POST /me/messages`` with ``Prefer: IdType="ImmutableId"``
creates each draft once and its id is written to the outbox (``journal``) before
anything else; then ``POST /me/messages/{id}/send``. Before any send that follows an
uncertain one, ``GET /me/messages/{id}`` is asked whether the item is still a draft:
``isDraft: false`` means it went out. One draft can be sent at most once, so retries
cannot duplicate. A draft created by a request whose answer was lost is orphaned in
Drafts at worst, never sent.

A batch body grows with the inline preview (base64); batches are also capped by bytes,
and a 413 for a whole batch splits it in two (nothing was run).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from app.errors import NetworkError
from app.mail.message import OutgoingMessage
from app.mail.transports import DraftJournal, Outcome
from app.microsoft.graph import GraphAmbiguousError, GraphError, parse_retry_after

log = logging.getLogger(__name__)

MAX_BATCH = 20
#: No documented cap for a whole $batch body was found (docs/protocols.md, "Graph: JSON
#: batching"); each sendMail item is held to ~4 MB. 20 messages with a 1 MB GIF preview
#: (1.34 MB in base64) fit in one batch under this cap; a 413 for the whole batch splits it
#: (nothing was run).
DEFAULT_MAX_BATCH_BYTES = 40_000_000
IMMUTABLE_ID = 'IdType="ImmutableId"'


class BatchClient(Protocol):
    """What this transport needs of :class:`app.microsoft.graph.GraphClient`."""

    def batch(
        self, requests_: list[dict[str, Any]], *, timeout: float = 60.0
    ) -> list[dict[str, Any]]: ...


def _header(item: dict[str, Any], name: str) -> str | None:
    headers = item.get("headers") or {}
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _error_text(item: dict[str, Any]) -> str:
    body = item.get("body")
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code", "")
            message = err.get("message", "")
            return f"{code}: {message}".strip(": ")
    return ""


class GraphTransport:
    name = "graph"
    batch_size = MAX_BATCH

    def __init__(
        self,
        client: BatchClient,
        *,
        save_to_sent_items: bool = True,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        verify_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 120.0,
    ) -> None:
        self.client = client
        self.save_to_sent_items = save_to_sent_items
        self.max_batch_bytes = max_batch_bytes
        #: Before checking an uncertain send: Sent Items can lag behind (docs/protocols.md,
        #: "Graph: drafts and exactly-once sending").
        self.verify_delay = verify_delay
        self._sleep = sleep
        self.timeout = timeout
        #: HTTP requests this transport made (each batch is one), for tests and benchmarks.
        self.http_requests = 0

    # ----------------------------------------------------------------- entry point

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        exactly_once: bool = False,
        drafts: dict[str, tuple[str, bool]] | None = None,
        journal: DraftJournal | None = None,
    ) -> list[Outcome]:
        if not messages:
            return []
        if exactly_once:
            result = self._send_exactly_once(messages, drafts or {}, journal)
        else:
            result = self._send_mail(messages)
        return [result[m.local_id] for m in messages]

    # ----------------------------------------------------------------- batching

    def _run(
        self, entries: list[tuple[str, dict[str, Any]]], first: bool
    ) -> list[tuple[str, dict[str, Any] | Exception]]:
        """Run (local id, request) pairs in byte-capped batches.

        Returns (local id, item or exception). A NetworkError before anything was sent is
        raised (offline: the pump waits); later ones are reported per item.
        """
        out: list[tuple[str, dict[str, Any] | Exception]] = []
        chunk: list[tuple[str, dict[str, Any]]] = []
        size = 0
        chunks: list[list[tuple[str, dict[str, Any]]]] = []
        for lid, req in entries:
            req_size = len(json.dumps(req.get("body") or {}))
            if chunk and (len(chunk) >= MAX_BATCH or size + req_size > self.max_batch_bytes):
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append((lid, req))
            size += req_size
        if chunk:
            chunks.append(chunk)
        for i, ch in enumerate(chunks):
            out.extend(self._run_chunk(ch, raise_offline=first and i == 0))
        return out

    def _run_chunk(
        self, chunk: list[tuple[str, dict[str, Any]]], *, raise_offline: bool
    ) -> list[tuple[str, dict[str, Any] | Exception]]:
        reqs = []
        for n, (_, req) in enumerate(chunk, start=1):
            reqs.append({"id": str(n), **req})
        try:
            self.http_requests += 1
            items = self.client.batch(reqs, timeout=self.timeout)
        except GraphAmbiguousError as exc:
            return [(lid, exc) for lid, _ in chunk]
        except NetworkError as exc:
            if _cut_mid_stream(exc):
                # The TLS stream broke after it was open: the batch may have been read and
                # run. Never "offline" (that would resend); the caller treats it as lost.
                ambiguous = GraphAmbiguousError(
                    "The secure connection to Microsoft 365 broke before it answered; the "
                    "messages may or may not have been sent, so they were not sent again.",
                    hint="Check the Sent Items folder before sending again.",
                    details=exc.details,
                )
                return [(lid, ambiguous) for lid, _ in chunk]
            if raise_offline:
                raise
            return [(lid, exc) for lid, _ in chunk]
        except GraphError as exc:
            if exc.status == 413 and len(chunk) > 1:
                half = len(chunk) // 2
                return self._run_chunk(chunk[:half], raise_offline=raise_offline) + (
                    self._run_chunk(chunk[half:], raise_offline=False)
                )
            return [(lid, exc) for lid, _ in chunk]
        by_id = {str(item.get("id")): item for item in items}
        return [(lid, by_id.get(str(n), {"status": 0})) for n, (lid, _) in enumerate(chunk, 1)]

    # ----------------------------------------------------------------- sendMail

    def _send_mail(self, messages: Sequence[OutgoingMessage]) -> dict[str, Outcome]:
        entries = [
            (
                m.local_id,
                {
                    "method": "POST",
                    "url": "/me/sendMail",
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "message": m.graph_message(),
                        "saveToSentItems": self.save_to_sent_items,
                    },
                },
            )
            for m in messages
        ]
        result: dict[str, Outcome] = {}
        for lid, item in self._run(entries, first=True):
            result[lid] = self._mail_outcome(lid, item)
        return result

    @staticmethod
    def _exception_outcome(lid: str, exc: Exception, *, ambiguous_kind: str = "unknown") -> Outcome:
        if isinstance(exc, GraphAmbiguousError):
            if ambiguous_kind == "unknown":
                return Outcome(lid, "unknown", reason=exc.message)
            return Outcome(lid, "failed", reason=exc.message, retryable=True, verify_first=True)
        if isinstance(exc, NetworkError):
            return Outcome(lid, "failed", reason=exc.message, retryable=True)
        if isinstance(exc, GraphError):
            retryable = exc.status in (429, 503) or exc.status == 0
            return Outcome(lid, "failed", reason=exc.user_message(), retryable=retryable)
        raise exc

    def _mail_outcome(self, lid: str, item: dict[str, Any] | Exception) -> Outcome:
        if isinstance(item, Exception):
            return self._exception_outcome(lid, item)
        status = int(item.get("status") or 0)
        detail = _error_text(item)
        if status in (200, 202, 204):
            return Outcome(lid, "sent")
        if status == 429 or (status == 503 and _header(item, "Retry-After")):
            return Outcome(
                lid,
                "throttled",
                reason=f"Microsoft 365 asked to wait ({status})",
                retry_after=parse_retry_after(_header(item, "Retry-After")),
            )
        if status in (500, 502, 503):
            # Graph reports this item failed; it did not send it.
            return Outcome(lid, "failed", reason=f"Microsoft 365 error {status} {detail}".strip())
        if status in (0, 504):
            return Outcome(lid, "unknown", reason="Microsoft 365 gave no answer for this message")
        return Outcome(lid, "failed", reason=_refusal(status, detail), retryable=False)

    # ----------------------------------------------------------------- draft flow

    def _send_exactly_once(
        self,
        messages: Sequence[OutgoingMessage],
        drafts: dict[str, tuple[str, bool]],
        journal: DraftJournal | None,
    ) -> dict[str, Outcome]:
        result: dict[str, Outcome] = {}
        have = {lid: did for lid, (did, _) in drafts.items() if did}
        first = True

        # 1. An earlier send may have gone out: ask before sending again.
        to_verify = [m for m in messages if m.local_id in have and drafts[m.local_id][1]]
        if to_verify:
            if self.verify_delay > 0:
                self._sleep(self.verify_delay)
            entries = [
                (
                    m.local_id,
                    {
                        "method": "GET",
                        "url": f"/me/messages/{_quoted(have[m.local_id])}?$select=id,isDraft",
                        "headers": {"Prefer": IMMUTABLE_ID},
                    },
                )
                for m in to_verify
            ]
            for lid, item in self._run(entries, first=first):
                first = False
                if isinstance(item, Exception):
                    result[lid] = self._exception_outcome(lid, item, ambiguous_kind="verify")
                    if result[lid].kind == "failed":
                        result[lid] = Outcome(
                            lid, "failed", reason=result[lid].reason, retryable=True,
                            verify_first=True,
                        )  # fmt: skip
                    continue
                status = int(item.get("status") or 0)
                body = item.get("body") if isinstance(item.get("body"), dict) else {}
                assert isinstance(body, dict)
                if status == 200 and body.get("isDraft") is False:
                    result[lid] = Outcome(
                        lid, "sent", reason="found in Sent Items", remote_id=have[lid]
                    )
                elif status == 200:
                    pass  # still a draft: the send never happened; send it below
                elif status == 404:
                    result[lid] = Outcome(
                        lid,
                        "failed",
                        reason="The draft of this message is no longer in your mailbox "
                        "(deleted?), so it was not sent.",
                        retryable=False,
                    )
                elif status == 429:
                    result[lid] = Outcome(
                        lid, "throttled", reason="Microsoft 365 asked to wait",
                        retry_after=parse_retry_after(_header(item, "Retry-After")),
                    )  # fmt: skip
                else:
                    result[lid] = Outcome(
                        lid, "failed", reason=f"Could not check the draft ({status}).",
                        retryable=True, verify_first=True,
                    )  # fmt: skip

        # 2. Create the drafts that do not exist yet (once each).
        to_create = [m for m in messages if m.local_id not in have and m.local_id not in result]
        if to_create:
            entries = [
                (
                    m.local_id,
                    {
                        "method": "POST",
                        "url": "/me/messages",
                        "headers": {"Content-Type": "application/json", "Prefer": IMMUTABLE_ID},
                        "body": m.graph_message(),
                    },
                )
                for m in to_create
            ]
            for lid, item in self._run(entries, first=first):
                if isinstance(item, Exception):
                    # No draft id known: creating again later can at worst orphan a draft.
                    out = self._exception_outcome(lid, item, ambiguous_kind="verify")
                    result[lid] = Outcome(lid, "failed", reason=out.reason, retryable=out.retryable)
                    continue
                status = int(item.get("status") or 0)
                body = item.get("body") if isinstance(item.get("body"), dict) else {}
                assert isinstance(body, dict)
                draft_id = body.get("id")
                if status in (200, 201) and isinstance(draft_id, str) and draft_id:
                    have[lid] = draft_id
                    if journal is not None:
                        journal.draft_created(lid, draft_id)
                elif status == 429:
                    result[lid] = Outcome(
                        lid, "throttled", reason="Microsoft 365 asked to wait",
                        retry_after=parse_retry_after(_header(item, "Retry-After")),
                    )  # fmt: skip
                elif status >= 500 or status == 0:
                    result[lid] = Outcome(
                        lid, "failed", reason=f"Creating the draft failed ({status}).",
                        retryable=True,
                    )  # fmt: skip
                else:
                    result[lid] = Outcome(
                        lid, "failed", reason=_refusal(status, _error_text(item)), retryable=False
                    )
            first = False

        # 3. Send each draft by id; record "a send may be in flight" first.
        to_send = [m for m in messages if m.local_id not in result and m.local_id in have]
        if to_send:
            if journal is not None:
                journal.send_requested([m.local_id for m in to_send])
            entries = [
                (
                    m.local_id,
                    {
                        "method": "POST",
                        "url": f"/me/messages/{quote(have[m.local_id], safe='')}/send",
                    },
                )
                for m in to_send
            ]
            try:
                sent_items = self._run(entries, first=first)
            except NetworkError as exc:
                sent_items = [(m.local_id, exc) for m in to_send]
            for lid, item in sent_items:
                if isinstance(item, Exception):
                    reason = getattr(item, "message", str(item))
                    result[lid] = Outcome(
                        lid, "failed", reason=reason, retryable=True, verify_first=True,
                        remote_id=have[lid],
                    )  # fmt: skip
                    continue
                status = int(item.get("status") or 0)
                if status in (200, 202, 204):
                    result[lid] = Outcome(lid, "sent", remote_id=have[lid])
                elif status == 429:
                    result[lid] = Outcome(
                        lid, "throttled", reason="Microsoft 365 asked to wait",
                        retry_after=parse_retry_after(_header(item, "Retry-After")),
                    )  # fmt: skip
                elif status >= 500 or status in (0, 404) or _already_sent(status, item):
                    # 404: the draft moved (sent a moment ago?); 400 ErrorInvalidOperation:
                    # "already sent". Either way the next attempt looks before it sends.
                    result[lid] = Outcome(
                        lid, "failed", reason=f"Sending the draft failed ({status}); it will be "
                        "checked before it is sent again.", retryable=True, verify_first=True,
                        remote_id=have[lid],
                    )  # fmt: skip
                else:
                    result[lid] = Outcome(
                        lid, "failed", reason=_refusal(status, _error_text(item)),
                        retryable=False, remote_id=have[lid],
                    )  # fmt: skip
        return result


_MID_STREAM_TLS = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def _cut_mid_stream(exc: BaseException) -> bool:
    """True when a NetworkError hides a TLS stream cut after the handshake.

    The Graph client reports every requests SSLError as NetworkError ("never sent"), but an
    unexpected EOF can come after the whole request was written (see the mail integration
    notes); a certificate or protocol-version failure really is "never sent".
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, _MID_STREAM_TLS):
            return True
        if isinstance(cur, ssl.SSLCertVerificationError):
            return False
        linked = [*getattr(cur, "args", ()), getattr(cur, "reason", None)]
        stack.extend(a for a in linked if isinstance(a, BaseException))
        stack.extend([cur.__cause__, cur.__context__])
    return False


def _already_sent(status: int, item: dict[str, Any]) -> bool:
    return status == 400 and _error_text(item).startswith("ErrorInvalidOperation")


def _quoted(message_id: str) -> str:
    # Immutable ids are base64 and can hold "/" and "=": they go in one path segment.
    return quote(message_id, safe="")


def _refusal(status: int, detail: str) -> str:
    if status == 403:
        return (
            "Microsoft 365 refused to send from this mailbox (access denied). Your "
            "administrator may need to approve the app's mail permission."
            + (f" [{detail}]" if detail else "")
        )
    if status == 401:
        return "Microsoft 365 did not accept your sign-in; sign in again."
    if status == 413:
        return "The message is too large for Microsoft 365."
    return f"Microsoft 365 refused the message ({status}{': ' + detail if detail else ''})."

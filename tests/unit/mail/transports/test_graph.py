"""Item statuses the Graph sandbox cannot produce (item-level 500/504, a missing item, 413
for a whole batch), fed through a scripted ``batch()``; the real round trips are in
tests/integration/mail/test_graph_send.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.errors import NetworkError
from app.mail.message import Composition, OutgoingMessage, build_message, make_recipient
from app.mail.transports.graph import GraphTransport
from app.microsoft.graph import GraphAmbiguousError, GraphError


class ScriptedBatch:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[dict[str, Any]]] = []

    def batch(
        self, requests_: list[dict[str, Any]], *, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        self.calls.append(requests_)
        result = self.answer(requests_)
        if isinstance(result, Exception):
            raise result
        return list(result)


def messages(composition: Composition, n: int) -> list[OutgoingMessage]:
    return [
        build_message(
            composition,
            make_recipient(f"p{i}@example.com"),
            "https://v.example/x",
            local_id=f"m{i}",
        )
        for i in range(n)
    ]


def test_item_statuses_map_to_outcomes(composition: Composition) -> None:
    statuses = [202, 429, 500, 503, 504, 400, 403, 0]

    def answer(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r, st in zip(reqs, statuses, strict=True):
            item: dict[str, Any] = {"id": r["id"], "status": st, "headers": {}, "body": None}
            if st == 429:
                item["headers"] = {"retry-after": "7"}
            if st in (400, 403):
                item["body"] = {"error": {"code": "ErrorInvalidRecipients", "message": "bad"}}
            out.append(item)
        return out

    client = ScriptedBatch(answer)
    outs = GraphTransport(client).send(messages(composition, len(statuses)))
    kinds = [(o.kind, o.retryable) for o in outs]
    assert kinds == [
        ("sent", True), ("throttled", True), ("failed", True), ("failed", True),
        ("unknown", True), ("failed", False), ("failed", False), ("unknown", True),
    ]  # fmt: skip
    assert outs[1].retry_after == 7.0
    assert "ErrorInvalidRecipients" in outs[5].reason and "administrator" in outs[6].reason
    (reqs,) = client.calls
    assert all(r["url"] == "/me/sendMail" and r["method"] == "POST" for r in reqs)
    assert [r["id"] for r in reqs] == [str(i) for i in range(1, 9)]


def test_ambiguous_batch_makes_every_item_unknown(composition: Composition) -> None:
    client = ScriptedBatch(lambda reqs: GraphAmbiguousError("lost"))
    outs = GraphTransport(client).send(messages(composition, 3))
    assert {o.kind for o in outs} == {"unknown"}


def test_offline_is_raised_so_the_pump_waits(composition: Composition) -> None:
    client = ScriptedBatch(lambda reqs: NetworkError("offline"))
    with pytest.raises(NetworkError):
        GraphTransport(client).send(messages(composition, 2))


def test_413_splits_the_batch(composition: Composition) -> None:
    def answer(reqs: list[dict[str, Any]]) -> Any:
        if len(reqs) > 2:
            return GraphError("too large", status=413)
        return [{"id": r["id"], "status": 202, "headers": {}, "body": None} for r in reqs]

    client = ScriptedBatch(answer)
    outs = GraphTransport(client).send(messages(composition, 5))
    assert all(o.kind == "sent" for o in outs)
    assert [len(c) for c in client.calls] == [5, 2, 3, 1, 2]  # halves until it fits


def test_byte_cap_splits_before_sending(composition: Composition) -> None:
    client = ScriptedBatch(
        lambda reqs: [{"id": r["id"], "status": 202, "headers": {}, "body": None} for r in reqs]
    )
    msgs = messages(composition, 7)
    size = max(
        len(json.dumps({"message": m.graph_message(), "saveToSentItems": True})) for m in msgs
    )
    GraphTransport(client, max_batch_bytes=size * 3 + 10).send(msgs)
    assert [len(c) for c in client.calls] == [3, 3, 1]


def test_draft_flow_checks_before_resending(composition: Composition) -> None:
    """A message whose earlier send was uncertain is looked up first; found sent -> sent."""

    def answer(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in reqs:
            if r["method"] == "GET":
                is_draft = "D0" not in r["url"]
                out.append({"id": r["id"], "status": 200, "headers": {},
                            "body": {"id": "x", "isDraft": is_draft}})  # fmt: skip
            else:
                out.append({"id": r["id"], "status": 202, "headers": {}, "body": None})
        return out

    client = ScriptedBatch(answer)
    msgs = messages(composition, 2)
    requested: list[str] = []

    class Journal:
        def draft_created(self, local_id: str, draft_id: str) -> None:
            raise AssertionError("no new draft expected")

        def send_requested(self, local_ids: Any) -> None:
            requested.extend(local_ids)

    outs = GraphTransport(client, verify_delay=0).send(
        msgs, exactly_once=True, drafts={"m0": ("D0", True), "m1": ("D1", True)}, journal=Journal()
    )
    assert [(o.kind, o.remote_id) for o in outs] == [("sent", "D0"), ("sent", "D1")]
    assert requested == ["m1"]  # only the one still a draft was sent again
    get_batch, send_batch = client.calls
    assert [r["method"] for r in get_batch] == ["GET", "GET"]
    assert [r["url"] for r in send_batch] == ["/me/messages/D1/send"]


def test_already_sent_answer_is_checked_not_failed(composition: Composition) -> None:
    def answer(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"id": r["id"], "status": 400, "headers": {},
             "body": {"error": {"code": "ErrorInvalidOperation", "message": "already sent"}}}
            for r in reqs
        ]  # fmt: skip

    outs = GraphTransport(ScriptedBatch(answer), verify_delay=0).send(
        messages(composition, 1), exactly_once=True, drafts={"m0": ("D0", False)}
    )
    assert (outs[0].kind, outs[0].retryable, outs[0].verify_first) == ("failed", True, True)


def _network_error_from(cause: BaseException) -> NetworkError:
    try:
        raise NetworkError("The secure connection to Microsoft 365 failed.") from cause
    except NetworkError as exc:
        return exc


def test_tls_stream_cut_is_ambiguous_not_offline(composition: Composition) -> None:
    """A TLS EOF after the handshake may come after Graph read the batch: never resend."""
    import ssl

    import requests

    eof = requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    client = ScriptedBatch(lambda reqs: _network_error_from(eof))
    outs = GraphTransport(client).send(messages(composition, 2))
    assert {o.kind for o in outs} == {"unknown"}


def test_certificate_failure_is_offline(composition: Composition) -> None:
    import ssl

    import requests

    bad_cert = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "self-signed"))
    client = ScriptedBatch(lambda reqs: _network_error_from(bad_cert))
    with pytest.raises(NetworkError):
        GraphTransport(client).send(messages(composition, 2))

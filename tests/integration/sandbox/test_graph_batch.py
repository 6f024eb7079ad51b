"""Graph JSON batching and the per-mailbox concurrency limit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from app.sandbox.microsoft import MicrosoftSandbox
from tests.fixtures.sandbox_microsoft import sign_in
from tests.integration.sandbox.test_graph import Graph, assert_graph_error
from tests.integration.sandbox.test_graph_mail import message

SCOPES = ("User.Read", "Mail.Send", "Mail.ReadWrite", "People.Read", "User.ReadBasic.All")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def graph(ms_sandbox: MicrosoftSandbox) -> Graph:
    return Graph(ms_sandbox, sign_in(ms_sandbox, SCOPES)["access_token"])


def send_item(rid: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "method": "POST",
        "url": "/me/sendMail",
        "headers": JSON,
        "body": {"message": message(subject=f"batch {rid}")},
        **extra,
    }


def by_id(r: requests.Response) -> dict[str, dict[str, Any]]:
    assert r.status_code == 200, r.text
    return {item["id"]: item for item in r.json()["responses"]}


def test_batch_of_sendmails_and_gets(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    reqs = [send_item(str(i)) for i in range(1, 4)]
    reqs.append({"id": "me", "method": "GET", "url": "/me?$select=displayName"})
    reqs.append({"id": "u", "method": "GET", "url": "users?$filter=startswith(surname,'O''B')"})
    items = by_id(graph("POST", "/$batch", json={"requests": reqs}))
    for i in ("1", "2", "3"):
        assert items[i]["status"] == 202 and "body" not in items[i]
    assert items["me"]["status"] == 200 and set(items["me"]["body"]) >= {"displayName", "id"}
    assert any(u["surname"] == "O'Brien" for u in items["u"]["body"]["value"])
    subjects = sorted(
        m["message"]["subject"]
        for m in ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"])
    )
    assert subjects == ["batch 1", "batch 2", "batch 3"]


def test_batch_of_21_is_400_and_nothing_runs(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    r = graph("POST", "/$batch", json={"requests": [send_item(str(i)) for i in range(21)]})
    assert_graph_error(r, 400, "BadRequest")
    assert ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"]) == []
    assert (
        graph(
            "POST", "/$batch", json={"requests": [send_item(str(i)) for i in range(20)]}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"requests": [send_item("1"), send_item("1")]},
        {
            "requests": [
                {"id": "1", "method": "POST", "url": "/me/sendMail", "body": {"message": {}}}
            ]
        },
        {"requests": []},
        {"requests": "all of them"},
        {"nope": []},
        {"requests": [{"id": 1, "method": "GET", "url": "/me"}]},
        {"requests": [{"id": "1", "method": "BREW", "url": "/me"}]},
        {"requests": [{"id": "1", "method": "GET"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]}]},
        {
            "requests": [
                {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]},
                {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
            ]
        },
        {"requests": [{"id": "1", "method": "GET", "url": "/me", "headers": {"a": 1}}]},
        [1, 2, 3],
    ],
)
def test_bad_batch_envelopes_are_400(
    ms_sandbox: MicrosoftSandbox, graph: Graph, payload: Any
) -> None:
    assert_graph_error(graph("POST", "/$batch", json=payload), 400, "BadRequest")
    assert ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"]) == []


def test_malformed_batch_json(graph: Graph) -> None:
    assert_graph_error(graph("POST", "/$batch", data=b"{[", headers=JSON), 400, "BadRequest")
    assert_graph_error(graph("GET", "/$batch"), 405, "Request_BadRequest")


def test_depends_on_and_424(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    bad = send_item("bad")
    bad["body"] = {"message": message(toRecipients=[])}
    reqs = [
        send_item("a"),
        send_item("b", dependsOn=["a"]),
        bad,
        send_item("after-bad", dependsOn=["bad"]),
        send_item("chain", dependsOn=["after-bad"]),
    ]
    items = by_id(graph("POST", "/$batch", json={"requests": reqs}))
    assert items["a"]["status"] == 202 and items["b"]["status"] == 202
    assert items["bad"]["status"] == 400
    assert items["bad"]["body"]["error"]["code"] == "ErrorInvalidRecipients"
    assert items["after-bad"]["status"] == 424 and items["chain"]["status"] == 424
    sent = {
        m["message"]["subject"]
        for m in ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"])
    }
    assert sent == {"batch a", "batch b"}


def test_item_errors_are_per_item(graph: Graph) -> None:
    reqs = [
        {"id": "abs", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"},
        {"id": "nope", "method": "GET", "url": "/nothing"},
        {
            "id": "nested",
            "method": "POST",
            "url": "/$batch",
            "headers": JSON,
            "body": {"requests": []},
        },
        {"id": "adv", "method": "GET", "url": "/users?$filter=endswith(mail,'x')"},
        {
            "id": "adv-ok",
            "method": "GET",
            "url": "/users?$filter=endswith(mail,'x')&$count=true",
            "headers": {"ConsistencyLevel": "eventual"},
        },
        {"id": "ok", "method": "GET", "url": "/me"},
    ]
    items = by_id(graph("POST", "/$batch", json={"requests": reqs}))
    assert items["abs"]["status"] == 400 and items["nope"]["status"] == 400
    assert items["nested"]["status"] == 400
    assert items["adv"]["status"] == 400
    assert items["adv"]["body"]["error"]["code"] == "Request_UnsupportedQuery"
    assert items["adv-ok"]["status"] == 200 and items["ok"]["status"] == 200
    inner = items["nope"]["body"]["error"]["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}


def test_batch_items_inherit_the_envelope_token(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        r = s.post(
            f"{ms_sandbox.graph_url}/$batch",
            json={"requests": [{"id": "1", "method": "GET", "url": "/me"}]},
            timeout=10,
        )
    item = by_id(r)["1"]
    assert item["status"] == 401 and item["body"]["error"]["code"] == "InvalidAuthenticationToken"


def test_five_concurrent_requests_from_one_mailbox_get_a_429(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    # Long enough that all five overlap even when a loaded machine starts them slowly.
    ms_sandbox.graph.mailbox_delay_s = 2.0
    barrier = threading.Barrier(5)
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        g = Graph(ms_sandbox, graph.token)
        assert g("GET", "/me").status_code == 200  # TLS handshake done before the race
        barrier.wait()
        r = g("POST", "/me/sendMail", json={"message": message(subject=f"c{i}")})
        with lock:
            statuses.append(r.status_code)
            if r.status_code == 429:
                bodies.append(r.json())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses.count(429) >= 1, statuses
    assert statuses.count(202) >= 1
    err = bodies[0]["error"]
    assert err["code"] == "ApplicationThrottled"
    assert err["message"] == "Application is over its MailboxConcurrency limit."
    # only the accepted ones were stored
    assert len(ms_sandbox.graph.sent_messages(ms_sandbox.senders[0]["email"])) == statuses.count(
        202
    )


def test_batch_items_count_against_the_mailbox_limit(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    ms_sandbox.graph.mailbox_delay_s = 0.4
    # a batch alone dispatches at most four at a time: all 8 succeed
    items = by_id(
        graph("POST", "/$batch", json={"requests": [send_item(str(i)) for i in range(8)]})
    )
    assert [i["status"] for i in items.values()] == [202] * 8
    # while a batch holds four slots, a fifth request for the mailbox is throttled
    ms_sandbox.graph.mailbox_delay_s = 3.0  # the fifth request must come while they wait
    result: dict[str, requests.Response] = {}
    other = Graph(ms_sandbox, graph.token)
    assert other("GET", "/me").status_code == 200  # connected before the batch starts
    t = threading.Thread(
        target=lambda: result.setdefault(
            "batch",
            graph("POST", "/$batch", json={"requests": [send_item(f"x{i}") for i in range(4)]}),
        )
    )
    t.start()
    deadline = time.monotonic() + 10
    while ms_sandbox.graph.in_flight(ms_sandbox.senders[0]["email"]) < 4:
        assert time.monotonic() < deadline, "the batch never reached the server"
        time.sleep(0.01)
    assert_graph_error(
        other("POST", "/me/sendMail", json={"message": message()}), 429, "ApplicationThrottled"
    )
    t.join(30)
    assert all(i["status"] == 202 for i in by_id(result["batch"]).values())


def test_other_mailboxes_are_not_affected(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    ms_sandbox.graph.mailbox_delay_s = 0.3
    t = threading.Thread(
        target=lambda: graph(
            "POST", "/$batch", json={"requests": [send_item(f"x{i}") for i in range(4)]}
        )
    )
    t.start()
    megan = Graph(
        ms_sandbox,
        sign_in(ms_sandbox, SCOPES, login_hint=ms_sandbox.senders[2]["email"])["access_token"],
    )
    assert megan("POST", "/me/sendMail", json={"message": message()}).status_code == 202
    t.join(30)

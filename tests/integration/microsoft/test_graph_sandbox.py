"""The Graph client against the sandbox Graph server: paging, batching, concurrency, errors."""

from __future__ import annotations

import threading
from typing import Any

import msal
import pytest

from app.microsoft import graph as g
from app.microsoft.auth import DeviceCodePrompt, http_client_for
from app.microsoft.search import DIRECTORY_DENIED_NOTICE, GraphDirectory, RecipientSearch
from tests.integration.microsoft.conftest import make_graph, make_signin


class NarrowTokens:
    """A token with fewer scopes than the app asks for: what a tenant that did not approve
    some permissions hands out. Obtained from the sandbox with real MSAL (device code)."""

    def __init__(self, ms_sandbox: Any, scopes: list[str]) -> None:
        self.app = msal.PublicClientApplication(
            ms_sandbox.client_id,
            authority=ms_sandbox.identity.authority,
            instance_discovery=False,
            http_client=http_client_for(str(ms_sandbox.ca_file)),
        )
        flow = self.app.initiate_device_flow(scopes=scopes)
        result = self.app.acquire_token_by_device_flow(flow)
        assert "access_token" in result, result
        self.token = result["access_token"]

    def access_token(self, force_refresh: bool = False) -> str:
        return str(self.token)

    def handle_claims_challenge(self, claims: str) -> None:
        raise AssertionError("no challenge expected")


def narrow_graph(ms_sandbox: Any, scopes: list[str]) -> g.GraphClient:
    return g.GraphClient(
        ms_sandbox.graph_url, NarrowTokens(ms_sandbox, scopes), ca_file=str(ms_sandbox.ca_file)
    )


@pytest.fixture
def graph(ms_sandbox: Any) -> g.GraphClient:
    signin = make_signin(ms_sandbox, prefer_device_code=True)
    signin.sign_in()
    return make_graph(ms_sandbox, signin)


def test_next_link_paging_over_the_directory(graph: g.GraphClient) -> None:
    pages = list(
        graph.pages(
            "/users",
            params={"$top": "50", "$select": "id,mail"},
            headers={"ConsistencyLevel": "eventual"},
        )
    )
    ids = [u["id"] for page in pages for u in page["value"]]
    assert len(pages) > 2
    assert len(ids) == len(set(ids)) >= 500


def test_never_more_than_four_in_flight_so_graph_never_throttles_concurrency(
    ms_sandbox: Any, graph: g.GraphClient
) -> None:
    ms_sandbox.graph_server.faults.configure(latency_ms=30)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            graph.get_json("/me/people", params={"$top": "5"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert graph.peak_in_flight == 4
    log = ms_sandbox.graph_server.faults.request_log(r"/me/people")
    assert all(r.status == 200 for r in log)


def test_batch_returns_each_item(graph: g.GraphClient) -> None:
    items = [
        {"id": "1", "method": "GET", "url": "/me"},
        {"id": "2", "method": "GET", "url": "/users?$top=1"},
        {"id": "3", "method": "GET", "url": "/no/such/thing"},
    ]
    out = graph.batch(items)
    assert [o["id"] for o in out] == ["1", "2", "3"]
    assert out[0]["status"] == 200 and out[1]["status"] == 200
    assert out[2]["status"] >= 400


def test_batch_lost_answer_is_ambiguous_and_sent_once(
    ms_sandbox: Any, graph: g.GraphClient
) -> None:
    ms_sandbox.graph_server.faults.configure(
        failure_rate=1.0, failure_modes=["lost_response"], match=r"/\$batch"
    )
    with pytest.raises(g.GraphAmbiguousError):
        graph.batch([{"id": "1", "method": "GET", "url": "/me"}])
    assert len(ms_sandbox.graph_server.faults.request_log(r"/\$batch")) == 1


def test_mail_without_consent_says_the_admin_has_not_approved(ms_sandbox: Any) -> None:
    client = narrow_graph(ms_sandbox, ["User.Read", "People.Read"])
    message = {
        "message": {
            "subject": "x",
            "body": {"contentType": "Text", "content": "x"},
            "toRecipients": [{"emailAddress": {"address": "megan.bowen@contoso.example"}}],
        }
    }
    with pytest.raises(g.MailNotApproved) as info:
        client.request("POST", "/me/sendMail", json=message, retry=False)
    assert "administrator has not approved this app to send mail" in info.value.message
    assert "docs/admin-guide.md" in info.value.hint


def test_directory_refused_falls_back_to_people_and_says_so_once(ms_sandbox: Any) -> None:
    client = narrow_graph(ms_sandbox, ["User.Read", "People.Read", "Mail.Send"])
    directory = GraphDirectory(client)
    engine = RecipientSearch(directory, lambda _r: None)
    try:
        first = engine.search("Maria")
        second = engine.search("Conor")
    finally:
        engine.close()
        directory.close()
    assert first.error is None and first.notice == DIRECTORY_DENIED_NOTICE
    assert second.notice == ""
    assert not directory.directory_allowed
    users_calls = ms_sandbox.graph_server.faults.request_log(r"^/v1\.0/users$")
    assert len(users_calls) == 1 and users_calls[0].status == 403


def test_account_without_a_mailbox_is_told_so(ms_sandbox: Any) -> None:
    upn = ms_sandbox.no_mailbox_user["email"]
    ms_sandbox.identity.auto_approve = False

    def approve(prompt: DeviceCodePrompt) -> None:
        ms_sandbox.identity.approve_device_code(prompt.user_code, upn=upn)

    signin = make_signin(ms_sandbox, prefer_device_code=True, on_device_code=approve)
    account = signin.sign_in()
    assert account.username.casefold() == upn.casefold()
    client = make_graph(ms_sandbox, signin)
    with pytest.raises(g.NoMailbox, match="no mailbox"):
        client.request(
            "POST",
            "/me/sendMail",
            json={"message": {"subject": "x", "body": {"contentType": "Text", "content": "x"}}},
            retry=False,
        )

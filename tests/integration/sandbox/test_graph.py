"""The Graph sandbox: auth errors, /me, /users ($filter, paging, advanced queries), people."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.sandbox.httpd import FaultConfig
from app.sandbox.microsoft import MicrosoftSandbox
from tests.fixtures.sandbox_microsoft import sign_in

Factory = Callable[..., MicrosoftSandbox]
ALL = ("User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All")


class Graph:
    """A tiny client for the tests: one session, one token."""

    def __init__(self, ms: MicrosoftSandbox, token: str) -> None:
        self.ms = ms
        self.token = token
        self.s = ms.session()

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = path if path.startswith("https://") else self.ms.graph_url + path
        return self.s.request(method, url, headers=headers, timeout=30, **kw)


@pytest.fixture
def graph(ms_sandbox: MicrosoftSandbox) -> Graph:
    return Graph(ms_sandbox, sign_in(ms_sandbox, ALL)["access_token"])


def assert_graph_error(
    r: requests.Response, status: int, code: str, message: str | None = None
) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "innerError"}
    assert err["code"] == code
    if message is not None:
        assert err["message"] == message
    inner = err["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
    assert inner["request-id"] == r.headers["request-id"]


# ---------------------------------------------------------------- auth


def test_missing_and_garbage_tokens_are_401(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        r = s.get(f"{ms_sandbox.graph_url}/me", timeout=10, headers={"client-request-id": "c-1"})
        assert_graph_error(r, 401, "InvalidAuthenticationToken", "Access token is empty.")
        assert r.json()["error"]["innerError"]["client-request-id"] == "c-1"
        assert r.headers["WWW-Authenticate"].startswith("Bearer ")
        for bad in ("garbage", "a.b.c", "Bearer", "x" * 5000, "ünïcødé.ťøķęñ.✓"):
            value = f"Bearer {bad}".encode()  # raw UTF-8 bytes on the wire
            r = s.get(f"{ms_sandbox.graph_url}/me", headers={"Authorization": value}, timeout=10)
            assert_graph_error(r, 401, "InvalidAuthenticationToken")
        r = s.get(
            f"{ms_sandbox.graph_url}/me",
            headers={"Authorization": "Basic dXNlcjpwdw=="},
            timeout=10,
        )
        assert_graph_error(r, 401, "InvalidAuthenticationToken")


def test_expired_token_is_401_with_www_authenticate(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    assert graph("GET", "/me").status_code == 200
    ms_sandbox.identity.expire_all_tokens()
    r = graph("GET", "/me")
    assert_graph_error(
        r, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
    )
    assert 'authorization_uri="' in r.headers["WWW-Authenticate"]


def test_token_expires_by_the_clock(ms_sandbox_factory: Factory) -> None:
    now = [1_800_000_000.0]
    ms = ms_sandbox_factory(clock=lambda: now[0], access_token_lifetime=300)
    g = Graph(ms, sign_in(ms, ALL)["access_token"])
    assert g("GET", "/me").status_code == 200
    now[0] += 301
    assert_graph_error(
        g("GET", "/me"),
        401,
        "InvalidAuthenticationToken",
        "Access token has expired or is not yet valid.",
    )


def test_missing_scopes_are_403_with_the_right_code(ms_sandbox: MicrosoftSandbox) -> None:
    g = Graph(ms_sandbox, sign_in(ms_sandbox, ["User.Read"])["access_token"])
    assert_graph_error(
        g("GET", "/users"),
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
    assert_graph_error(
        g("GET", "/me/people"),
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
    assert_graph_error(g("POST", "/me/sendMail", json={}), 403, "ErrorAccessDenied")
    assert_graph_error(g("POST", "/me/messages", json={}), 403, "ErrorAccessDenied")
    mail_only = Graph(ms_sandbox, sign_in(ms_sandbox, ["Mail.Send"])["access_token"])
    assert_graph_error(mail_only("GET", "/me"), 403, "Authorization_RequestDenied")


def test_claims_challenge_until_a_token_with_matching_claims(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    claims_b64 = ms_sandbox.identity.require_claims_challenge()
    r = graph("GET", "/me")
    assert_graph_error(r, 401, "InvalidAuthenticationToken")
    header = r.headers["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in header
    sent = re.search(r'claims="([^"]+)"', header)
    assert sent is not None and sent.group(1) == claims_b64
    claims = base64.b64decode(claims_b64).decode()
    assert json.loads(claims)["access_token"]["nbf"]["essential"] is True
    # a fresh token without the claims does not help; one requested with them does
    assert (
        graph.__class__(ms_sandbox, sign_in(ms_sandbox, ALL)["access_token"])(
            "GET", "/me"
        ).status_code
        == 401
    )
    good = Graph(ms_sandbox, sign_in(ms_sandbox, ALL, claims=claims)["access_token"])
    assert good("GET", "/me").status_code == 200
    ms_sandbox.identity.require_claims_challenge(False)
    assert graph("GET", "/me").status_code == 200


def test_unknown_resource_version_and_method(graph: Graph) -> None:
    assert_graph_error(
        graph("GET", "/nothing"), 400, "BadRequest", "Resource not found for the segment 'nothing'."
    )
    r = graph.s.get(f"{graph.ms.graph.base_url}/v9.9/me", timeout=10)
    assert_graph_error(r, 400, "BadRequest")
    assert_graph_error(graph("DELETE", "/me"), 405, "Request_BadRequest")
    assert_graph_error(graph("GET", "/me/%00%ff/..%2f..%2fetc"), 400, "BadRequest")


def test_throttle_on_demand_gives_429_retry_after(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    ms_sandbox.graph_server.faults.configure(FaultConfig(throttle_next=1, retry_after_seconds=3))
    r = graph("GET", "/me")
    assert r.headers["Retry-After"] == "3"
    assert_graph_error(r, 429, "TooManyRequests", "Please retry again later.")
    assert graph("GET", "/me").status_code == 200


# ---------------------------------------------------------------- /me and /users


def test_me_and_select(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    me = graph("GET", "/me").json()
    assert me["userPrincipalName"] == ms_sandbox.senders[0]["email"]
    assert me["@odata.context"].endswith("$metadata#users/$entity")
    small = graph("GET", "/me", params={"$select": "displayName,MAIL"}).json()
    assert set(small) == {"@odata.context", "displayName", "mail", "id"}
    assert_graph_error(graph("GET", "/me", params={"$select": "shoeSize"}), 400, "BadRequest")


def test_user_by_upn_or_id_and_not_found(ms_sandbox: MicrosoftSandbox, graph: Graph) -> None:
    zoe = next(u for u in ms_sandbox.directory.users if u.givenName == "Zoë")
    assert graph("GET", f"/users/{zoe.mail}").json()["id"] == zoe.id
    assert graph("GET", f"/users/{zoe.id}").json()["displayName"] == zoe.displayName
    assert_graph_error(
        graph("GET", "/users/nobody@contoso.example"), 404, "Request_ResourceNotFound"
    )


def _names(r: requests.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [u["displayName"] for u in r.json()["value"]]


def test_startswith_or_filter_with_quote_escaping(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    flt = "startswith(displayName,'o''b') or startswith(surname,'o''b') or startswith(mail,'o''b')"
    names = _names(graph("GET", "/users", params={"$filter": flt}))
    assert "Conor O'Brien" in names
    assert all("o'b" in n.casefold() for n in names)
    maria = _names(
        graph("GET", "/users", params={"$filter": "startsWith(givenName,'Mari')", "$top": "999"})
    )
    assert len(maria) >= 3 and all(
        n.casefold().startswith("mari") or "mari" in n.casefold() for n in maria
    )
    expected = {
        u.displayName
        for u in ms_sandbox.directory.users
        if u.givenName.casefold().startswith("mari") or u.userPrincipalName.startswith("mari")
    }
    both = _names(
        graph(
            "GET",
            "/users",
            params={
                "$filter": "startswith(givenName,'mari') or startswith(userPrincipalName,'mari')",
                "$top": "999",
            },
        )
    )
    assert set(both) == expected
    eq = graph(
        "GET", "/users", params={"$filter": f"mail eq '{ms_sandbox.senders[1]['email']}'"}
    ).json()
    assert [u["mail"] for u in eq["value"]] == [ms_sandbox.senders[1]["email"]]


def test_unicode_filter_values(graph: Graph) -> None:
    assert "Zoë Dubois" in _names(
        graph("GET", "/users", params={"$filter": "startswith(displayName,'Zoë')"})
    )
    assert _names(graph("GET", "/users", params={"$filter": "startswith(displayName,'Γιώ')"}))
    assert _names(graph("GET", "/users", params={"$filter": "startswith(surname,'王')"}))
    assert (
        _names(graph("GET", "/users", params={"$filter": "startswith(displayName,'\U0001f600')"}))
        == []
    )


@pytest.mark.parametrize(
    "flt",
    [
        "startswith(displayName,'x'",
        "startswith(displayName,'x) or",
        "startswith(displayName)",
        "displayName",
        "displayName gt 'a'",
        "frobnicate(displayName,'a')",
        "startswith(displayName,'a') or",
        "(startswith(displayName,'a')",
        "startswith(displayName,'a') xor startswith(mail,'b')",
        "",
        "startswith(displayName,'a');DROP TABLE users",
        "\x00",
    ],
)
def test_bad_filter_syntax_is_invalid_filter_clause(graph: Graph, flt: str) -> None:
    r = graph("GET", "/users", params={"$filter": flt})
    assert_graph_error(r, 400, "BadRequest")
    assert r.json()["error"]["message"].startswith("Invalid filter clause")


def test_filter_on_unsupported_property(graph: Graph) -> None:
    r = graph("GET", "/users", params={"$filter": "startswith(jobTitle,'a')"})
    assert_graph_error(r, 400, "Request_UnsupportedQuery")


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "endswith(mail,'@contoso.example')"},
        {"$filter": "mail ne 'a@contoso.example'"},
        {"$filter": "not(startswith(displayName,'a'))"},
        {"$search": '"displayName:mar"'},
        {"$filter": "startswith(displayName,'a')", "$orderby": "displayName"},
    ],
)
def test_advanced_queries_need_consistency_level(graph: Graph, params: dict[str, str]) -> None:
    assert_graph_error(graph("GET", "/users", params=params), 400, "Request_UnsupportedQuery")
    ok = graph(
        "GET",
        "/users",
        params={**params, "$count": "true"},
        headers={"ConsistencyLevel": "eventual"},
    )
    assert ok.status_code == 200, ok.text
    assert isinstance(ok.json()["@odata.count"], int)


def test_endswith_with_consistency_level_really_filters(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    r = graph(
        "GET",
        "/users",
        params={"$filter": "endswith(surname,'ova')", "$count": "true", "$top": "999"},
        headers={"ConsistencyLevel": "eventual"},
    )
    expected = sum(u.surname.endswith("ova") for u in ms_sandbox.directory.users)
    assert r.json()["@odata.count"] == expected
    assert all(u["surname"].endswith("ova") for u in r.json()["value"])


def test_count_without_header_is_silently_ignored(graph: Graph) -> None:
    body = graph("GET", "/users", params={"$count": "true", "$top": "1"}).json()
    assert "@odata.count" not in body and len(body["value"]) == 1


def test_search_with_consistency_level(graph: Graph) -> None:
    r = graph(
        "GET",
        "/users",
        params={"$search": '"displayName:obrien" OR "surname:o\'brien"'},
        headers={"ConsistencyLevel": "eventual"},
    )
    assert "Conor O'Brien" in _names(r)
    bad = graph(
        "GET", "/users", params={"$search": "mar"}, headers={"ConsistencyLevel": "eventual"}
    )
    assert_graph_error(bad, 400, "BadRequest")


def test_top_limits_and_unknown_options(graph: Graph) -> None:
    assert len(graph("GET", "/users").json()["value"]) == 100
    assert len(graph("GET", "/users", params={"$top": "999"}).json()["value"]) == 999
    for top in ("1000", "0", "-1", "abc", ""):
        assert_graph_error(graph("GET", "/users", params={"$top": top}), 400, "Request_BadRequest")
    assert_graph_error(graph("GET", "/users", params={"$skip": "10"}), 400, "Request_BadRequest")
    assert_graph_error(graph("GET", "/users", params={"$frob": "1"}), 400, "BadRequest")


def test_paging_with_next_link_covers_everything_once(
    ms_sandbox: MicrosoftSandbox, graph: Graph
) -> None:
    flt = "startswith(displayName,'m') or startswith(surname,'m')"
    url: str | None = ms_sandbox.graph_url + "/users"
    params: dict[str, str] | None = {"$filter": flt, "$top": "7", "$select": "id,displayName"}
    seen: list[str] = []
    pages = 0
    while url:
        body = graph("GET", url, params=params).json()
        params = None  # follow the full nextLink, never rebuild it
        seen += [u["id"] for u in body["value"]]
        assert set(body["value"][0]) == {"id", "displayName"}
        url = body.get("@odata.nextLink")
        pages += 1
    d = ms_sandbox.directory
    expected = [
        u.id
        for u in d.users
        if u.displayName.casefold().startswith("m") or u.surname.casefold().startswith("m")
    ]
    assert seen == expected and pages == -(-len(expected) // 7)


def test_tampered_or_foreign_skiptoken_is_rejected(graph: Graph) -> None:
    body = graph("GET", "/users", params={"$top": "5"}).json()
    link = body["@odata.nextLink"]
    token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    assert_graph_error(
        graph("GET", "/users", params={"$top": "5", "$skiptoken": token[:-2] + "xx"}),
        400,
        "Request_BadRequest",
    )
    other = graph(
        "GET",
        "/users",
        params={"$top": "5", "$skiptoken": token, "$filter": "startswith(mail,'a')"},
    )
    assert_graph_error(other, 400, "Request_BadRequest")
    assert_graph_error(
        graph("GET", "/users", params={"$skiptoken": "!!!"}), 400, "Request_BadRequest"
    )


def test_orderby_alone_is_supported(graph: Graph) -> None:
    names = _names(graph("GET", "/users", params={"$orderby": "displayName desc", "$top": "20"}))
    assert names == sorted(names, key=str.casefold, reverse=True)
    assert_graph_error(
        graph("GET", "/users", params={"$orderby": "shoeSize"}), 400, "Request_UnsupportedQuery"
    )


# ---------------------------------------------------------------- people


def test_people_default_page_relevance_order_and_select(graph: Graph) -> None:
    body = graph("GET", "/me/people").json()
    assert len(body["value"]) == 10
    scores = [p["scoredEmailAddresses"][0]["relevanceScore"] for p in body["value"]]
    assert scores == sorted(scores, reverse=True)
    assert body["value"][0]["personType"]["class"] == "Person"
    sel = graph(
        "GET", "/me/people", params={"$select": "displayName,scoredEmailAddresses", "$top": "3"}
    ).json()
    assert len(sel["value"]) == 3 and set(sel["value"][0]) == {
        "id",
        "displayName",
        "scoredEmailAddresses",
    }


def test_people_search_fuzzy(graph: Graph) -> None:
    hits = graph("GET", "/me/people", params={"$search": '"zoe"', "$top": "50"}).json()["value"]
    assert any(p["displayName"] == "Zoë Dubois" for p in hits)
    fuzzy = graph("GET", "/me/people", params={"$search": "garcai"}).json()["value"]
    assert any(p["surname"] == "García" for p in fuzzy)
    obrien = graph("GET", "/me/people", params={"$search": "o'brien"}).json()["value"]
    assert obrien and obrien[0]["surname"] == "O'Brien"


def test_people_bad_parameters(graph: Graph) -> None:
    assert_graph_error(
        graph("GET", "/me/people", params={"$top": "0"}), 400, "ErrorInvalidParameter"
    )
    assert_graph_error(
        graph("GET", "/me/people", params={"$search": "a", "$skip": "5"}),
        400,
        "ErrorInvalidParameter",
    )
    assert_graph_error(
        graph("GET", "/me/people", params={"$orderby": "x"}), 400, "ErrorInvalidParameter"
    )
    assert graph("GET", "/me/people", params={"$skip": "5", "$top": "2"}).status_code == 200


def test_admin_api_on_the_graph_server(ms_sandbox: MicrosoftSandbox) -> None:
    base = f"{ms_sandbox.graph.base_url}/_sandbox"
    with ms_sandbox.session() as s:
        s.headers.update(ms_sandbox.graph_server.faults.admin_headers())
        r = s.post(f"{base}/mailbox-delay", json={"seconds": 0.05}, timeout=10)
        assert r.json() == {"mailbox_delay_s": 0.05} and ms_sandbox.graph.mailbox_delay_s == 0.05
        assert (
            s.post(f"{base}/mailbox-delay", json={"seconds": "soon"}, timeout=10).status_code == 400
        )
        sent = s.post(
            f"{base}/sent-messages", json={"sender": ms_sandbox.senders[0]["email"]}, timeout=10
        )
        assert sent.json() == []
        assert s.get(f"{base}/health", timeout=10).json()["ok"] is True

"""The OData $filter parser, $search and skip tokens, plus fuzzing of the Graph WSGI app."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from app.sandbox.directory import Directory
from app.sandbox.graph_query import (
    Node,
    QueryError,
    SkipTokens,
    advanced_operators,
    evaluate,
    parse_filter,
    parse_select,
    search_users,
)
from app.sandbox.microsoft import MicrosoftSandbox
from tests.fixtures.sandbox_microsoft import sign_in

D = Directory(size=800)


def test_parse_startswith_or_with_escaped_quote() -> None:
    tree = parse_filter("startswith(displayName,'O''Brien') or startsWith(MAIL,'x')")
    assert tree == Node(
        "or",
        (
            Node("startswith", prop="displayName", value="O'Brien"),
            Node("startswith", prop="mail", value="x"),
        ),
    )
    assert advanced_operators(tree) == []


def test_precedence_and_parentheses() -> None:
    tree = parse_filter("startswith(mail,'a') or startswith(mail,'b') and surname eq 'C'")
    assert tree.op == "or" and tree.children[1].op == "and"
    grouped = parse_filter("(startswith(mail,'a') or startswith(mail,'b')) and surname eq 'C'")
    assert grouped.op == "and"


def test_advanced_operators_are_reported() -> None:
    tree = parse_filter("not(endswith(mail,'x')) or surname ne 'y'")
    assert sorted(advanced_operators(tree)) == ["endsWith", "ne", "not"]


def test_evaluate_matches_brute_force() -> None:
    tree = parse_filter("startswith(givenName,'ma') and not(startswith(surname,'g'))")
    expected = {
        u.index
        for u in D.users
        if u.givenName.casefold().startswith("ma") and not u.surname.casefold().startswith("g")
    }
    assert evaluate(tree, D) == expected
    user = D.users[5]
    assert evaluate(parse_filter(f"id eq '{user.id}'"), D) == {5}
    assert len(evaluate(parse_filter(f"id ne '{user.id}'"), D)) == len(D.users) - 1


def test_unknown_property_is_unsupported_query() -> None:
    with pytest.raises(QueryError) as info:
        parse_filter("startswith(city,'x')")
    assert info.value.code == "Request_UnsupportedQuery"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("()',= aeiorstwdnqmlx'\\\"$\x00é")), max_size=60))
def test_parser_never_fails_other_than_query_error(text: str) -> None:
    try:
        tree = parse_filter(text)
    except QueryError as exc:
        assert exc.code in ("BadRequest", "Request_UnsupportedQuery")
        return
    evaluate(tree, D)


def test_search_clauses() -> None:
    hits = search_users('"displayName:conor" AND "surname:o\'brien"', D)
    assert {D.users[i].displayName for i in hits} == {"Conor O'Brien"}
    for bad in ("conor", '"displayName"', 'x "displayName:a"', '"city:x"'):
        with pytest.raises(QueryError):
            search_users(bad, D)


def test_skip_tokens_are_bound_and_tamper_evident() -> None:
    tokens = SkipTokens(b"k" * 32)
    t = tokens.make("query-a", 200)
    assert tokens.read("query-a", t) == 200
    for bad_query, bad_token in (
        ("query-b", t),
        ("query-a", t[:-1]),
        ("query-a", "x"),
        ("query-a", t[:20] + "A" + t[21:]),
    ):
        with pytest.raises(QueryError):
            tokens.read(bad_query, bad_token)
    with pytest.raises(QueryError):
        SkipTokens(b"other" * 8).read("query-a", t)


def test_parse_select() -> None:
    assert parse_select("displayName, MAIL,,displayName", ["displayName", "mail"], "t") == [
        "displayName",
        "mail",
    ]
    with pytest.raises(QueryError):
        parse_select("nope", ["displayName"], "microsoft.graph.user")


# ---------------------------------------------------------------- WSGI fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "message",
                    "subject",
                    "body",
                    "toRecipients",
                    "emailAddress",
                    "address",
                    "attachments",
                    "contentBytes",
                    "@odata.type",
                    "saveToSentItems",
                    "requests",
                    "id",
                    "method",
                    "url",
                    "headers",
                    "dependsOn",
                    "contentType",
                    "content",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=json_values,
    path=st.sampled_from(["/v1.0/me/sendMail", "/v1.0/me/messages", "/v1.0/$batch"]),
)
def test_any_json_gets_a_graph_answer_never_a_500(
    ms_sandbox: MicrosoftSandbox, body: object, path: str
) -> None:
    token = _token(ms_sandbox)
    client = Client(ms_sandbox.graph)
    r = client.post(
        path,
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code in (200, 201, 202, 400, 413), r.get_data(as_text=True)
    if r.status_code >= 400:
        err = r.get_json()["error"]
        assert set(err) == {"code", "message", "innerError"}


_TOKENS: dict[int, str] = {}


def _token(ms: MicrosoftSandbox) -> str:
    key = id(ms)
    if key not in _TOKENS:
        _TOKENS.clear()
        scopes = ["User.Read", "Mail.Send", "Mail.ReadWrite", "User.ReadBasic.All"]
        _TOKENS[key] = sign_in(ms, scopes)["access_token"]
    return _TOKENS[key]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200), query=st.text(max_size=40))
def test_raw_bytes_and_odd_queries_never_crash(
    ms_sandbox: MicrosoftSandbox, raw: bytes, query: str
) -> None:
    token = _token(ms_sandbox)
    client = Client(ms_sandbox.graph)
    r = client.post("/v1.0/me/sendMail", data=raw, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (202, 400), r.get_data(as_text=True)
    r = client.get(
        "/v1.0/users", query_string={"$filter": query}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code in (200, 400)
    r = client.get(f"/v1.0/users/{query}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 400, 404)

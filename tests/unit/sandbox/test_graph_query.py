"""The OData $filter parser, $search and skip tokens (the Graph WSGI app is fuzzed in
tests/integration/sandbox/test_graph_fuzz.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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

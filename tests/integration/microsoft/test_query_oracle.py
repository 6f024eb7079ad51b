"""The ``$filter`` the search sends, read back by the sandbox's OData parser, for any text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.microsoft.search import users_filter
from app.sandbox.graph_query import parse_filter


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_any_prefix_round_trips_through_an_odata_parser(prefix: str) -> None:
    tree = parse_filter(users_filter(prefix))
    assert tree.op == "or"
    assert [(n.op, n.prop, n.value) for n in tree.children] == [
        ("startswith", prop, prefix)
        for prop in ("displayName", "surname", "mail", "userPrincipalName")
    ]

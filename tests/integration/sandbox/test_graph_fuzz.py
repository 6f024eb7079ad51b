"""Fuzzing the sandbox's Graph WSGI app: any JSON body, raw bytes, odd queries, never a 500.

It runs against the real identity and Graph sandbox (``ms_sandbox``), so it lives here.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from app.sandbox.microsoft import MicrosoftSandbox
from tests.fixtures.sandbox_microsoft import sign_in

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

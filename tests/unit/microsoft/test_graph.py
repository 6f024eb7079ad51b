"""The Graph client's own logic: retries, backoff, refresh, claims, paging, batching, errors."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import ssl
import threading
import time

import pytest
import requests

from app.errors import NetworkError, SignInRequired
from app.microsoft import graph as g
from tests.unit.microsoft.scripted import BASE, Reply, Tokens, graph_error, scripted_session


def client(handler, **kw):
    session, adapter = scripted_session(handler)
    sleeps: list[float] = []
    kw.setdefault("sleep", sleeps.append)
    kw.setdefault("rng", random.Random(1))
    c = g.GraphClient(BASE, kw.pop("tokens", Tokens()), session=session, **kw)
    return c, adapter, sleeps


def test_429_honours_retry_after_then_succeeds() -> None:
    replies = [
        Reply(429, graph_error("TooManyRequests"), {"Retry-After": "7"}),
        Reply(200, {"ok": 1}),
    ]
    c, adapter, sleeps = client(lambda r: replies.pop(0))
    assert c.get_json("/me") == {"ok": 1}
    assert sleeps == [7.0]
    assert len(adapter.requests) == 2


def test_503_and_504_without_retry_after_back_off_exponentially_with_jitter_and_a_cap() -> None:
    statuses = [503, 504, 503, 504, 503, 200]
    c, _, sleeps = client(
        lambda r: Reply(statuses.pop(0), {}), backoff_base=1.0, backoff_cap=4.0, max_retries=6
    )
    c.get_json("/me")
    caps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == 5
    for delay, cap in zip(sleeps, caps, strict=True):
        assert cap / 2 <= delay <= cap
    assert len(set(sleeps)) > 1  # jitter


def test_retries_exhausted_gives_a_throttled_error() -> None:
    c, adapter, _ = client(lambda r: Reply(429, graph_error("TooManyRequests")), max_retries=2)
    with pytest.raises(g.GraphThrottled, match="busy or limiting"):
        c.get_json("/me")
    assert len(adapter.requests) == 3


def test_retry_false_sends_once() -> None:
    c, adapter, _ = client(lambda r: Reply(429, graph_error("TooManyRequests")))
    with pytest.raises(g.GraphThrottled):
        c.request("POST", "/me/sendMail", json={}, retry=False)
    assert len(adapter.requests) == 1


def test_retry_after_http_date_and_garbage() -> None:
    assert g.parse_retry_after("5") == 5.0
    assert g.parse_retry_after("0.5") == 0.5
    assert g.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert g.parse_retry_after("soon") is None
    assert g.parse_retry_after("nan") is None
    assert g.parse_retry_after("-3") == 0.0


def test_401_refreshes_once_and_retries_with_the_new_token() -> None:
    seen: list[str] = []

    def handler(r: requests.PreparedRequest) -> Reply:
        seen.append(r.headers["Authorization"])
        return (
            Reply(401, graph_error("InvalidAuthenticationToken"))
            if len(seen) == 1
            else Reply(200, {"ok": 1})
        )

    tokens = Tokens()
    c, _, _ = client(handler, tokens=tokens)
    assert c.get_json("/me") == {"ok": 1}
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert tokens.calls == [False, True]


def test_401_twice_means_sign_in_again() -> None:
    c, adapter, _ = client(lambda r: Reply(401, graph_error("InvalidAuthenticationToken")))
    with pytest.raises(SignInRequired, match="did not accept your sign-in"):
        c.get_json("/me")
    assert len(adapter.requests) == 2


def test_claims_challenge_runs_interactive_sign_in_with_the_decoded_claims() -> None:
    claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    encoded = base64.b64encode(claims.encode()).decode()
    www = f'Bearer realm="", error="insufficient_claims", claims="{encoded}"'
    replies = [Reply(401, graph_error("InvalidAuthenticationToken"), {"WWW-Authenticate": www})]
    tokens = Tokens()
    c, _, _ = client(lambda r: replies.pop(0) if replies else Reply(200, {"ok": 1}), tokens=tokens)
    assert c.get_json("/me") == {"ok": 1}
    assert tokens.claims == [claims]


def test_claims_parsing_accepts_json_and_rejects_garbage() -> None:
    assert g.claims_from_www_authenticate('Bearer claims="{\\"a\\":1}"') == '{"a":1}'
    assert g.claims_from_www_authenticate("Bearer claims=\"{'a'}\"") is None
    assert g.claims_from_www_authenticate('Bearer claims="!!!"') is None
    assert g.claims_from_www_authenticate(None) is None
    assert g.claims_from_www_authenticate('Bearer error="invalid_token"') is None


def test_next_link_is_followed_as_given_and_consistency_level_re_sent() -> None:
    next_link = f"{BASE}/users?$skiptoken=X%27Y&$top=2&$filter=a"

    def handler(r: requests.PreparedRequest) -> Reply:
        if "$skiptoken" in (r.url or "") or "%24skiptoken" in (r.url or ""):
            return Reply(200, {"value": [3]})
        return Reply(200, {"value": [1, 2], "@odata.nextLink": next_link})

    c, adapter, _ = client(handler)
    pages = list(c.pages("/users", params={"$top": "2"}, headers={"ConsistencyLevel": "eventual"}))
    assert [p["value"] for p in pages] == [[1, 2], [3]]
    assert adapter.requests[1].url == next_link
    assert all(r.headers["ConsistencyLevel"] == "eventual" for r in adapter.requests)


def test_next_link_to_another_host_is_refused() -> None:
    c, _, _ = client(lambda r: Reply(200, {"value": [], "@odata.nextLink": "https://evil.test/x"}))
    with pytest.raises(g.InsecureURL, match=r"evil\.test"):
        list(c.pages("/users"))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://graph.microsoft.com/v1.0", True),
        ("http://127.0.0.1:8080/v1.0", True),
        ("http://localhost:8080/v1.0", True),
        ("http://[::1]:8080/v1.0", True),
        ("http://graph.microsoft.com/v1.0", False),
        ("http://10.0.0.1/v1.0", False),
        ("ftp://graph.microsoft.com", False),
    ],
)
def test_http_is_refused_except_loopback(url: str, ok: bool) -> None:
    if ok:
        g.check_url(url)
    else:
        with pytest.raises(g.InsecureURL, match="HTTPS"):
            g.GraphClient(url, Tokens())


def test_tls_adapter_requires_tls_1_2_and_verification() -> None:
    session = g.secure_session("/some/ca.pem")
    adapter = session.get_adapter("https://graph.microsoft.com")
    assert isinstance(adapter, g.TLS12Adapter)
    assert adapter.ssl_context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert adapter.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert session.verify == "/some/ca.pem" and session.trust_env is False
    assert g.secure_session().verify is True


def test_at_most_four_requests_in_flight() -> None:
    gate = threading.Barrier(4, timeout=5)
    lock = threading.Lock()
    active = [0, 0]

    def handler(r: requests.PreparedRequest) -> Reply:
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return Reply(200, {"ok": 1})

    c, _, _ = client(handler)
    threads = [threading.Thread(target=c.get_json, args=("/me",)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert active[1] == 4
    assert c.peak_in_flight == 4


def test_mail_403_says_the_admin_has_not_approved_sending() -> None:
    c, _, _ = client(lambda r: Reply(403, graph_error("ErrorAccessDenied", "Access is denied.")))
    with pytest.raises(g.MailNotApproved) as info:
        c.request("POST", "/me/sendMail", json={}, retry=False)
    assert "administrator has not approved this app to send mail" in info.value.message
    assert "docs/admin-guide.md" in info.value.hint


def test_directory_denied_and_no_mailbox_are_distinct() -> None:
    c, _, _ = client(lambda r: Reply(403, graph_error("Authorization_RequestDenied")))
    with pytest.raises(g.DirectoryAccessDenied):
        c.get_json("/users")
    c, _, _ = client(lambda r: Reply(404, graph_error("MailboxNotEnabledForRESTAPI")))
    with pytest.raises(g.NoMailbox, match="no mailbox"):
        c.get_json("/me/messages")


def test_other_errors_keep_graphs_code_and_a_non_json_body_is_handled() -> None:
    c, _, _ = client(lambda r: Reply(400, graph_error("Request_BadRequest", "bad filter")))
    with pytest.raises(g.GraphError) as info:
        c.get_json("/users")
    assert info.value.status == 400 and info.value.code == "Request_BadRequest"
    assert "bad filter" in info.value.message
    c, _, _ = client(lambda r: Reply(500, b"<html>oops</html>"), max_retries=0)
    with pytest.raises(g.GraphError, match="had a problem"):
        c.get_json("/me")
    c, _, _ = client(lambda r: Reply(200, b"not json"))
    with pytest.raises(g.GraphError, match="cannot read"):
        c.get_json("/me")


def _reset(r: requests.PreparedRequest) -> Reply:
    raise requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"), request=r)


def _refused(r: requests.PreparedRequest) -> Reply:
    import urllib3

    raise requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None,
            "/",
            urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
        ),
        request=r,
    )


def test_lost_answer_on_post_is_ambiguous_and_not_repeated() -> None:
    c, adapter, _ = client(_reset)
    with pytest.raises(g.GraphAmbiguousError, match="may or may not"):
        c.request("POST", "/me/sendMail", json={})
    assert len(adapter.requests) == 1


def test_get_is_retried_after_a_network_error_then_reports_it() -> None:
    c, adapter, _ = client(_reset, max_retries=2)
    with pytest.raises(NetworkError, match="could not be reached"):
        c.get_json("/me")
    assert len(adapter.requests) == 3


def test_batch_validates_and_returns_items_in_request_order() -> None:
    def handler(r: requests.PreparedRequest) -> Reply:
        body = json.loads(r.body or b"{}")
        assert [x["id"] for x in body["requests"]] == ["1", "2", "3"]
        return Reply(
            200,
            {
                "responses": [
                    {"id": "3", "status": 429, "headers": {"Retry-After": "2"}, "body": {}},
                    {"id": "1", "status": 202, "headers": {}, "body": None},
                ]
            },
        )

    c, _, _ = client(handler)
    items = [{"id": str(i), "method": "POST", "url": "/me/sendMail", "body": {}} for i in (1, 2, 3)]
    out = c.batch(items)
    assert [(o["id"], o["status"]) for o in out] == [("1", 202), ("2", 0), ("3", 429)]
    with pytest.raises(ValueError, match="at most 20"):
        c.batch([{"id": str(i)} for i in range(21)])
    with pytest.raises(ValueError, match="unique"):
        c.batch([{"id": "a"}, {"id": "a"}])


def test_batch_is_retried_on_429_but_never_after_a_lost_answer_or_504() -> None:
    replies = [
        Reply(429, graph_error("TooManyRequests"), {"Retry-After": "1"}),
        Reply(200, {"responses": []}),
    ]
    c, adapter, sleeps = client(lambda r: replies.pop(0))
    c.batch([{"id": "1", "method": "GET", "url": "/me"}])
    assert len(adapter.requests) == 2 and sleeps == [1.0]

    c, adapter, _ = client(_reset)
    with pytest.raises(g.GraphAmbiguousError):
        c.batch([{"id": "1", "method": "POST", "url": "/me/sendMail"}])
    assert len(adapter.requests) == 1

    c, adapter, _ = client(lambda r: Reply(504, {}))
    with pytest.raises(g.GraphAmbiguousError):
        c.batch([{"id": "1", "method": "POST", "url": "/me/sendMail"}])
    assert len(adapter.requests) == 1

    c, adapter, _ = client(_refused, max_retries=1)
    with pytest.raises(NetworkError, match="could not be reached"):
        c.batch([{"id": "1", "method": "POST", "url": "/me/sendMail"}])
    assert len(adapter.requests) == 2


def test_cancel_stops_a_backoff_wait() -> None:
    cancel = threading.Event()

    def sleep(seconds: float) -> None:
        cancel.set()

    c, adapter, _ = client(lambda r: Reply(429, {}, {"Retry-After": "30"}), sleep=sleep)
    with pytest.raises(g.GraphCancelled):
        c.get_json("/me", cancel=cancel)
    assert len(adapter.requests) == 1


def test_only_a_refused_certificate_counts_as_never_sent() -> None:
    """A TLS failure after the request was written may have delivered it (ambiguous)."""
    import ssl

    import requests

    from app.microsoft import graph as graph_mod

    refused = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "verify failed"))
    broken = requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation"))
    assert graph_mod._certificate_refused(refused) is True
    assert graph_mod._certificate_refused(broken) is False


def _decode_alert(request: object) -> Reply:
    """What requests raises when the server sends a TLS alert mid-request: the ssl error's
    ``reason`` is a string, under urllib3's MaxRetryError, whose ``reason`` is an error."""
    import urllib3

    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_DECODE_ERROR] tlsv1 alert decode error")
    alert.reason = "TLSV1_ALERT_DECODE_ERROR"  # type: ignore[misc]
    raise requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, "/v1.0/me", alert))  # type: ignore[arg-type]


def test_a_tls_alert_mid_request_is_an_error_not_a_crash() -> None:
    """The chain of wrapped errors has a string where an error was assumed (ssl.SSLError's
    ``reason``): it read as "This is a bug" (seen once in CI, from the sandbox). A read is
    retried; a send is not, since it may have gone out."""
    calls: list[object] = []

    def alert_once(request: object) -> Reply:
        calls.append(request)
        return _decode_alert(request) if len(calls) == 1 else Reply(200, {"displayName": "Adele"})

    c, adapter, _ = client(alert_once, max_retries=2)
    assert c.get_json("/me")["displayName"] == "Adele"
    assert len(adapter.requests) == 2
    c, adapter, _ = client(_decode_alert, max_retries=2)
    with pytest.raises(g.GraphAmbiguousError):  # may have gone out: said, never repeated
        c.batch([{"id": "1", "method": "POST", "url": "/me/sendMail"}])
    assert len(adapter.requests) == 1

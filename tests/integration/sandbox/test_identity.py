"""The identity sandbox over the wire: discovery, authorize, token grants, errors."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from app.errors import SandboxError
from app.sandbox.identity import TokenRejected, b64url_decode
from app.sandbox.microsoft import MicrosoftSandbox
from tests.fixtures.sandbox_microsoft import REDIRECT_URI, authorize, pkce_pair, read_form, sign_in

Factory = Callable[..., MicrosoftSandbox]


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def claims_of(jwt: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(b64url_decode(jwt.split(".")[1]))
    return result


def assert_oauth_error(r: requests.Response, error: str, code: int, status: int = 400) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert body[key]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])


def token_post(
    ms: MicrosoftSandbox, data: dict[str, str], tenant: str | None = None
) -> requests.Response:
    with ms.session() as s:
        return s.post(
            f"{ms.identity.base_url}/{tenant or ms.tenant_id}/oauth2/v2.0/token",
            data={"client_id": ms.client_id, **data},
            timeout=10,
        )


# ---------------------------------------------------------------- discovery


def test_openid_discovery_both_paths(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        for path in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            doc = s.get(f"{ms_sandbox.authority}/{path}", timeout=10).json()
            assert doc["issuer"] == ms_sandbox.identity.issuer
            assert doc["token_endpoint"] == f"{ms_sandbox.authority}/oauth2/v2.0/token"
            assert doc["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
            assert doc["device_authorization_endpoint"].endswith("/oauth2/v2.0/devicecode")
            assert "form_post" in doc["response_modes_supported"]
        keys = s.get(f"{ms_sandbox.authority}/discovery/v2.0/keys", timeout=10).json()["keys"]
        assert keys[0]["kty"] == "RSA" and keys[0]["kid"]
        common = s.get(
            f"{ms_sandbox.identity.base_url}/organizations/v2.0/.well-known/openid-configuration",
            timeout=10,
        ).json()
        assert "{tenantid}" in common["issuer"]


def test_unknown_tenant_is_aadsts90002(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        r = s.get(
            f"{ms_sandbox.identity.base_url}/nosuchtenant/v2.0/.well-known/openid-configuration",
            headers={"client-request-id": "abc-123"},
            timeout=10,
        )
    assert_oauth_error(r, "invalid_tenant", 90002)
    assert r.json()["correlation_id"] == "abc-123"
    assert_oauth_error(
        token_post(ms_sandbox, {"grant_type": "refresh_token"}, "x"), "invalid_tenant", 90002
    )


def test_unknown_client_id_is_aadsts700016(ms_sandbox: MicrosoftSandbox) -> None:
    r = token_post(
        ms_sandbox, {"grant_type": "refresh_token", "client_id": "wrong", "refresh_token": "x"}
    )
    assert_oauth_error(r, "unauthorized_client", 700016)
    with ms_sandbox.session() as s:
        page = s.get(
            f"{ms_sandbox.authority}/oauth2/v2.0/authorize",
            params={"client_id": "wrong", "redirect_uri": REDIRECT_URI, "response_type": "code"},
            timeout=10,
        )
        assert page.status_code == 400 and "AADSTS700016" in page.text
        dc = s.post(
            f"{ms_sandbox.authority}/oauth2/v2.0/devicecode",
            data={"client_id": "nope", "scope": "User.Read"},
            timeout=10,
        )
    assert_oauth_error(dc, "unauthorized_client", 700016)


def test_token_endpoint_rejects_get_and_missing_or_unknown_grant(
    ms_sandbox: MicrosoftSandbox,
) -> None:
    with ms_sandbox.session() as s:
        r = s.get(f"{ms_sandbox.authority}/oauth2/v2.0/token", timeout=10)
    assert_oauth_error(r, "invalid_request", 900561)
    assert_oauth_error(token_post(ms_sandbox, {}), "invalid_request", 900144)
    assert_oauth_error(
        token_post(ms_sandbox, {"grant_type": "password"}), "unsupported_grant_type", 70003
    )


def test_unknown_path_and_oversize_form_keep_the_oauth_shape(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        r = s.get(f"{ms_sandbox.identity.base_url}/nothing/here/at/all", timeout=10)
        assert r.status_code == 404 and r.json()["error"] == "invalid_request"
        big = s.post(
            f"{ms_sandbox.authority}/oauth2/v2.0/token",
            data={"client_id": ms_sandbox.client_id, "pad": "x" * (2 << 20)},
            timeout=30,
        )
    assert big.status_code == 413 and big.json()["error_codes"] == [90033]


# ---------------------------------------------------------------- authorize + code


def test_authorize_form_post_code_state_client_info(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        page = s.get(
            f"{ms_sandbox.authority}/oauth2/v2.0/authorize",
            params={
                "client_id": ms_sandbox.client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": "User.Read openid",
                "state": "xyz",
                "response_mode": "form_post",
                "client_info": "1",
            },
            timeout=10,
        )
    assert "document.forms[0].submit()" in page.text
    assert 'method="POST"' in page.text and f'action="{REDIRECT_URI}"' in page.text
    _, fields = read_form(page.text)
    assert fields["state"] == "xyz" and fields["code"]
    info = json.loads(b64url_decode(fields["client_info"]))
    assert info == {"uid": ms_sandbox.directory.senders[0].id, "utid": ms_sandbox.tenant_id}


def test_login_hint_picks_a_sender_unknown_hint_falls_back_to_first(
    ms_sandbox: MicrosoftSandbox,
) -> None:
    megan = ms_sandbox.senders[2]["email"]
    tokens = sign_in(ms_sandbox, ["User.Read"], login_hint=megan)
    assert claims_of(tokens["id_token"])["preferred_username"] == megan
    other = sign_in(ms_sandbox, ["User.Read"], login_hint="stranger@contoso.example")
    assert claims_of(other["id_token"])["preferred_username"] == ms_sandbox.senders[0]["email"]


def test_id_and_access_token_claims(ms_sandbox: MicrosoftSandbox) -> None:
    tokens = sign_in(ms_sandbox, ["User.Read", "Mail.Send"])
    idt = claims_of(tokens["id_token"])
    for key in (
        "iss",
        "aud",
        "sub",
        "oid",
        "tid",
        "preferred_username",
        "name",
        "nonce",
        "iat",
        "exp",
    ):
        assert key in idt, key
    assert idt["nonce"] == "n-1" and idt["aud"] == ms_sandbox.client_id
    assert idt["tid"] == ms_sandbox.tenant_id
    at = ms_sandbox.identity.validate_access_token(tokens["access_token"])
    assert at["scp"].split() == ["User.Read", "Mail.Send", "openid", "profile"]
    assert at["upn"] == at["preferred_username"] == idt["preferred_username"]
    assert at["oid"] == idt["oid"] and at["tid"] == ms_sandbox.tenant_id
    assert at["aud"] == "https://graph.microsoft.com" and at["exp"] > at["iat"]
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"].split() == ["User.Read", "Mail.Send", "openid", "profile"]
    assert json.loads(b64url_decode(tokens["client_info"]))["uid"] == idt["oid"]


def test_scopes_exactly_as_asked_mail_readwrite_only_when_asked(
    ms_sandbox: MicrosoftSandbox,
) -> None:
    plain = ms_sandbox.identity.validate_access_token(
        sign_in(ms_sandbox, ["Mail.Send"])["access_token"]
    )
    assert "Mail.ReadWrite" not in plain["scp"]
    rw = sign_in(ms_sandbox, ["https://graph.microsoft.com/Mail.ReadWrite", "mail.send"])
    assert ms_sandbox.identity.validate_access_token(rw["access_token"])["scp"].split()[:2] == [
        "Mail.ReadWrite",
        "Mail.Send",
    ]
    default = sign_in(ms_sandbox, ["https://graph.microsoft.com/.default"])
    assert "Mail.ReadWrite" not in default["scope"] and "Mail.Send" in default["scope"]


def test_unknown_scope_goes_back_to_the_redirect_uri_as_an_error(
    ms_sandbox: MicrosoftSandbox,
) -> None:
    with ms_sandbox.session() as s:
        fields = authorize(ms_sandbox, s, ["Files.ReadWrite.Everything"])
    assert fields["error"] == "invalid_scope" and "AADSTS70011" in fields["error_description"]
    assert fields["state"] == "st-1"


def test_bad_redirect_uri_shows_an_error_page(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        page = s.get(
            f"{ms_sandbox.authority}/oauth2/v2.0/authorize",
            params={
                "client_id": ms_sandbox.client_id,
                "response_type": "code",
                "redirect_uri": "https://evil.example/cb",
                "scope": "User.Read",
            },
            timeout=10,
        )
    assert page.status_code == 400 and "AADSTS50011" in page.text


def _code(ms: MicrosoftSandbox, challenge: str | None) -> str:
    with ms.session() as s:
        return authorize(ms, s, ["User.Read"], challenge=challenge)["code"]


def _redeem(
    ms: MicrosoftSandbox, code: str, verifier: str | None, redirect: str = REDIRECT_URI
) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "scope": "User.Read",
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return token_post(ms, data)


def test_pkce_verified(ms_sandbox: MicrosoftSandbox) -> None:
    verifier, challenge = pkce_pair()
    assert_oauth_error(
        _redeem(ms_sandbox, _code(ms_sandbox, challenge), "wrong-verifier"), "invalid_grant", 501481
    )
    assert_oauth_error(
        _redeem(ms_sandbox, _code(ms_sandbox, challenge), None), "invalid_request", 50148
    )
    assert _redeem(ms_sandbox, _code(ms_sandbox, challenge), verifier).status_code == 200


def test_code_is_single_use_bound_to_redirect_and_expires(ms_sandbox_factory: Factory) -> None:
    clock = FakeClock()
    ms = ms_sandbox_factory(clock=clock)
    verifier, challenge = pkce_pair()
    code = _code(ms, challenge)
    assert_oauth_error(_redeem(ms, code, verifier, "http://localhost:9999"), "invalid_grant", 50011)
    assert _redeem(ms, code, verifier).status_code == 200
    assert_oauth_error(_redeem(ms, code, verifier), "invalid_grant", 54005)
    late = _code(ms, challenge)
    clock.now += 601
    assert_oauth_error(_redeem(ms, late, verifier), "invalid_grant", 70008)
    assert_oauth_error(_redeem(ms, "garbage\x00code", verifier), "invalid_grant", 9002313)


# ---------------------------------------------------------------- refresh


def test_refresh_rotates_and_keeps_identity(ms_sandbox: MicrosoftSandbox) -> None:
    first = sign_in(ms_sandbox, ["User.Read", "Mail.Send"])
    r = token_post(
        ms_sandbox,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "scope": "Mail.Send openid profile offline_access",
            "client_info": "1",
        },
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"].split() == ["Mail.Send", "openid", "profile"]
    a = ms_sandbox.identity.validate_access_token(second["access_token"])
    assert a["oid"] == claims_of(first["id_token"])["oid"]
    assert "client_info" in second and "id_token" in second


def test_refresh_cannot_widen_consent(ms_sandbox: MicrosoftSandbox) -> None:
    first = sign_in(ms_sandbox, ["Mail.Send"])
    r = token_post(
        ms_sandbox,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "scope": "Mail.ReadWrite offline_access",
        },
    )
    assert_oauth_error(r, "invalid_grant", 65001)
    assert r.json()["suberror"] == "consent_required"


def test_revoked_refresh_token_fails(ms_sandbox: MicrosoftSandbox) -> None:
    megan, adele = ms_sandbox.senders[2]["email"], ms_sandbox.senders[0]["email"]
    m = sign_in(ms_sandbox, ["User.Read"], login_hint=megan)
    a = sign_in(ms_sandbox, ["User.Read"], login_hint=adele)
    assert ms_sandbox.identity.revoke_refresh_tokens(megan) >= 1
    r = token_post(
        ms_sandbox,
        {"grant_type": "refresh_token", "refresh_token": m["refresh_token"], "scope": "User.Read"},
    )
    assert_oauth_error(r, "invalid_grant", 50173)
    ok = token_post(
        ms_sandbox,
        {"grant_type": "refresh_token", "refresh_token": a["refresh_token"], "scope": "User.Read"},
    )
    assert ok.status_code == 200
    with pytest.raises(ValueError, match="no such user"):
        ms_sandbox.identity.revoke_refresh_tokens("ghost@contoso.example")
    garbage = token_post(
        ms_sandbox,
        {"grant_type": "refresh_token", "refresh_token": "¡garbage!", "scope": "User.Read"},
    )
    assert_oauth_error(garbage, "invalid_grant", 9002313)


def test_refresh_tokens_and_signing_key_survive_a_restart(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory()
    tokens = sign_in(ms, ["User.Read"])
    data_dir = ms.identity.data_dir
    ms.stop()
    again = ms_sandbox_factory(data_dir)
    # the old access token still validates (same key, same generation) and the RT works
    again.identity.validate_access_token(tokens["access_token"])
    r = token_post(
        again,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "User.Read",
        },
    )
    assert r.status_code == 200
    assert (
        not (data_dir / "identity" / "state.json")
        .read_text(encoding="utf-8")
        .count(tokens["refresh_token"])
    )


def test_state_file_damage_is_survived(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory()
    data_dir = ms.identity.data_dir
    ms.stop()
    (data_dir / "identity" / "state.json").write_text("{not json")
    again = ms_sandbox_factory(data_dir)
    assert sign_in(again, ["User.Read"])["access_token"]


# ---------------------------------------------------------------- device code


def _device(ms: MicrosoftSandbox, scope: str = "User.Read openid offline_access") -> dict[str, Any]:
    with ms.session() as s:
        r = s.post(
            f"{ms.authority}/oauth2/v2.0/devicecode",
            data={"client_id": ms.client_id, "scope": scope},
            timeout=10,
        )
    assert r.status_code == 200, r.text
    flow: dict[str, Any] = r.json()
    return flow


def _poll(ms: MicrosoftSandbox, device_code: str) -> requests.Response:
    return token_post(
        ms,
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": device_code},
    )


def test_device_code_auto_approved(ms_sandbox: MicrosoftSandbox) -> None:
    flow = _device(ms_sandbox)
    assert (
        flow["verification_uri"].endswith("/devicelogin") and flow["user_code"] in flow["message"]
    )
    assert flow["interval"] == 5 and flow["expires_in"] == 900
    r = _poll(ms_sandbox, flow["device_code"])
    assert r.status_code == 200 and "refresh_token" in r.json()
    assert_oauth_error(_poll(ms_sandbox, flow["device_code"]), "invalid_grant", 54005)


def test_device_code_pending_then_approved_declined_expired(ms_sandbox_factory: Factory) -> None:
    clock = FakeClock()
    ms = ms_sandbox_factory(auto_approve=False, clock=clock)
    flow = _device(ms)
    assert_oauth_error(_poll(ms, flow["device_code"]), "authorization_pending", 70016)
    assert ms.identity.pending_device_codes() == [flow["user_code"]]
    ms.identity.approve_device_code(flow["user_code"].lower(), ms.senders[1]["email"])
    r = _poll(ms, flow["device_code"])
    assert claims_of(r.json()["id_token"])["preferred_username"] == ms.senders[1]["email"]

    declined = _device(ms)
    with ms.session() as s:  # the admin API does the same as the Python one
        s.post(
            f"{ms.identity.base_url}/_sandbox/decline-device-code",
            json={"user_code": declined["user_code"]},
            headers=ms.identity_server.faults.admin_headers(),
            timeout=10,
        )
    assert_oauth_error(_poll(ms, declined["device_code"]), "authorization_declined", 70000)

    late = _device(ms)
    clock.now += 901
    assert_oauth_error(_poll(ms, late["device_code"]), "expired_token", 70019)
    assert_oauth_error(_poll(ms, "no-such-code"), "bad_verification_code", 70000)
    with pytest.raises(ValueError):
        ms.identity.approve_device_code("ZZZZZZZZZ")


def test_devicelogin_page_lets_a_person_approve(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory(auto_approve=False)
    flow = _device(ms)
    with ms.session() as s:
        page = s.get(flow["verification_uri"], timeout=10)
        assert "<form" in page.text
        done = s.post(
            flow["verification_uri"],
            data={"code": flow["user_code"], "upn": ms.senders[3]["email"]},
            timeout=10,
        )
        assert done.status_code == 200
        bad = s.post(flow["verification_uri"], data={"code": "nope"}, timeout=10)
        assert bad.status_code == 400
    assert _poll(ms, flow["device_code"]).status_code == 200


def test_authorize_with_auto_approve_off_shows_a_picker(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory(auto_approve=False)

    with ms.session() as s:
        page = s.get(
            f"{ms.authority}/oauth2/v2.0/authorize",
            params={
                "client_id": ms.client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": "User.Read openid",
                "state": "s9",
                "response_mode": "form_post",
            },
            timeout=10,
        )
        assert "Pick an account" in page.text
        action, fields = read_form(page.text)
        nobox = ms.no_mailbox_user["email"]
        done = s.post(f"{ms.identity.base_url}{action}", data={**fields, "upn": nobox}, timeout=10)
        _, posted = read_form(done.text)
        assert posted["state"] == "s9" and posted["code"]
        cancel_page = s.get(page.url, timeout=10)
        action, fields = read_form(cancel_page.text)
        cancelled = s.post(
            f"{ms.identity.base_url}{action}", data={**fields, "decision": "cancel"}, timeout=10
        )
        assert read_form(cancelled.text)[1]["error"] == "access_denied"
        replay = s.post(
            f"{ms.identity.base_url}{action}", data={**fields, "upn": nobox}, timeout=10
        )
        assert replay.status_code == 400


# ---------------------------------------------------------------- validation API


def test_validate_access_token_errors(ms_sandbox_factory: Factory) -> None:
    clock = FakeClock()
    ms = ms_sandbox_factory(clock=clock, access_token_lifetime=600)
    ident = ms.identity
    token = sign_in(ms, ["User.Read"])["access_token"]
    assert ident.validate_access_token(token)["scp"]
    for bad in ("", "abc", "a.b.c", token[:-4] + "AAAA", token.replace(".", ".x", 1)):
        with pytest.raises(TokenRejected) as info:
            ident.validate_access_token(bad)
        assert info.value.kind == "invalid"
    head, body, sig = token.split(".")
    forged = json.loads(b64url_decode(body)) | {"scp": "Mail.ReadWrite"}
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    with pytest.raises(TokenRejected, match="validation failure"):
        ident.validate_access_token(f"{head}.{forged_body}.{sig}")
    clock.now += 601
    with pytest.raises(TokenRejected) as info:
        ident.validate_access_token(token)
    assert info.value.kind == "expired"
    assert info.value.message == "Access token has expired or is not yet valid."


def test_expire_all_tokens_and_issued_secrets(ms_sandbox: MicrosoftSandbox) -> None:
    tokens = sign_in(ms_sandbox, ["User.Read"])
    ms_sandbox.identity.expire_all_tokens()
    with pytest.raises(TokenRejected) as info:
        ms_sandbox.identity.validate_access_token(tokens["access_token"])
    assert info.value.kind == "expired"
    fresh = token_post(
        ms_sandbox,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "User.Read",
        },
    )
    ms_sandbox.identity.validate_access_token(fresh.json()["access_token"])
    secrets_ = ms_sandbox.identity.issued_secrets()
    for key in ("access_token", "refresh_token", "id_token"):
        assert tokens[key] in secrets_


def test_claims_parameter_must_be_json(ms_sandbox: MicrosoftSandbox) -> None:
    with ms_sandbox.session() as s:
        fields = authorize(ms_sandbox, s, ["User.Read"], extra={"claims": "{not json"})
    assert fields["error"] == "invalid_request" and "AADSTS90014" in fields["error_description"]


# ---------------------------------------------------------------- starter, manifest, admin API


def test_manifest_and_loopback_only(ms_sandbox: MicrosoftSandbox) -> None:
    m = ms_sandbox.manifest()
    assert m["identity"]["authority"] == f"{m['identity']['url']}/{m['identity']['tenant']}"
    assert m["identity"]["client_id"] == ms_sandbox.client_id
    assert m["graph"]["url"].endswith("/v1.0") and m["graph"]["url"].startswith(
        "https://127.0.0.1:"
    )
    assert m["ca_file"] == str(ms_sandbox.ca_file)
    assert {"email", "name"} == set(m["senders"][0]) and len(m["senders"]) >= 3
    assert ms_sandbox.no_mailbox_user["email"] not in {s["email"] for s in m["senders"]}
    for server in (ms_sandbox.identity_server, ms_sandbox.graph_server):
        assert server.server.server_address[0] == "127.0.0.1"
        assert server.url.startswith("https://")


def test_ids_are_stable_per_seed(ms_sandbox_factory: Factory) -> None:
    a, b = ms_sandbox_factory(), ms_sandbox_factory()
    assert (a.tenant_id, a.client_id) == (b.tenant_id, b.client_id)
    c = ms_sandbox_factory(seed=2, directory_size=100)
    assert c.tenant_id != a.tenant_id and c.client_id != a.client_id
    from app.sandbox.directory import Directory
    from app.sandbox.microsoft import start_microsoft

    with pytest.raises(SandboxError, match="100001 users"):
        start_microsoft(a.identity.data_dir, directory_size=100_001)
    with pytest.raises(ValueError, match="another seed"):
        start_microsoft(a.identity.data_dir, seed=3, directory=Directory(seed=1, size=100))


def test_admin_api_on_the_identity_server(ms_sandbox: MicrosoftSandbox) -> None:
    tokens = sign_in(ms_sandbox, ["User.Read"])
    base = f"{ms_sandbox.identity.base_url}/_sandbox"
    with ms_sandbox.session() as s:
        s.headers.update(ms_sandbox.identity_server.faults.admin_headers())
        assert s.post(f"{base}/expire-tokens", json={}, timeout=10).json() == {"ok": True}
        with pytest.raises(TokenRejected):
            ms_sandbox.identity.validate_access_token(tokens["access_token"])
        assert s.post(f"{base}/revoke-refresh-tokens", json={}, timeout=10).json()["revoked"] >= 1
        ch = s.post(f"{base}/claims-challenge", json={"enabled": True}, timeout=10).json()
        assert json.loads(base64.b64decode(ch["claims"]))["access_token"]["nbf"]["essential"]
        assert s.post(f"{base}/claims-challenge", json={"enabled": False}, timeout=10).json() == {
            "claims": ""
        }
        assert s.post(f"{base}/auto-approve", json={"enabled": False}, timeout=10).json() == {
            "auto_approve": False
        }
        assert ms_sandbox.identity.auto_approve is False
        bad = s.post(f"{base}/approve-device-code", json={"user_code": "NOPE"}, timeout=10)
        assert bad.status_code == 400
        bad_json = s.post(
            f"{base}/expire-tokens",
            data=b"{not json",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert bad_json.status_code == 400


_FIELDS = [
    "client_id",
    "grant_type",
    "code",
    "refresh_token",
    "device_code",
    "scope",
    "redirect_uri",
    "code_verifier",
    "claims",
    "client_info",
    "x",
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(st.sampled_from(_FIELDS), st.text(max_size=30), max_size=6),
    endpoint=st.sampled_from(["token", "devicecode", "authorize"]),
    real_client=st.booleans(),
)
def test_any_form_gets_an_oauth_answer_never_a_500(
    ms_sandbox: MicrosoftSandbox, form: dict[str, str], endpoint: str, real_client: bool
) -> None:
    if real_client:
        form["client_id"] = ms_sandbox.client_id
    client = Client(ms_sandbox.identity)
    r = client.post(f"/{ms_sandbox.tenant_id}/oauth2/v2.0/{endpoint}", data=form)
    assert r.status_code in (200, 302, 400), r.get_data(as_text=True)
    if r.status_code == 400 and r.mimetype == "application/json":
        body = r.get_json()
        assert (
            body["error"] and body["error_codes"] and body["error_description"].startswith("AADSTS")
        )

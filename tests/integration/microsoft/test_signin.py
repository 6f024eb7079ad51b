"""Sign-in against the sandbox identity server with the real MSAL: every flow and failure."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from app.errors import SignInRequired
from app.microsoft import auth
from app.microsoft.auth import DeviceCodePrompt
from tests.integration.microsoft.conftest import (
    AutoBrowser,
    make_graph,
    make_signin,
    plaintext_store,
)


def token_requests(ms_sandbox: Any) -> int:
    return len(ms_sandbox.identity_server.faults.request_log(r"/oauth2/v2\.0/token$"))


def test_interactive_sign_in_with_a_browser(ms_sandbox: Any, auto_browser: AutoBrowser) -> None:
    signin = make_signin(ms_sandbox)
    assert signin.method() == "browser"
    account = signin.sign_in()
    assert account.username in {s["email"] for s in ms_sandbox.senders}
    assert len(auto_browser.opened) == 1
    url = auto_browser.opened[0]
    assert "response_mode=form_post" in url and "redirect_uri=http%3A%2F%2Flocalhost" in url
    me = make_graph(ms_sandbox, signin).get_json("/me")
    assert me["userPrincipalName"].casefold() == account.username.casefold()
    assert signin.account() == account


def test_device_code_sign_in(ms_sandbox: Any) -> None:
    prompts: list[DeviceCodePrompt] = []
    signin = make_signin(ms_sandbox, on_device_code=prompts.append, prefer_device_code=True)
    assert signin.method() == "device_code"
    account = signin.sign_in()
    assert prompts and prompts[0].user_code and prompts[0].verification_uri
    assert account.username
    assert make_graph(ms_sandbox, signin).get_json("/me")["userPrincipalName"]


def test_headless_linux_uses_the_device_code_flow_by_itself(
    ms_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    prompts: list[DeviceCodePrompt] = []
    signin = make_signin(ms_sandbox, on_device_code=prompts.append, platform="linux")
    assert signin.method() == "device_code"
    signin.sign_in()
    assert len(prompts) == 1


def test_silent_acquisition_does_not_ask_the_identity_server_again(
    ms_sandbox: Any, auto_browser: AutoBrowser
) -> None:
    signin = make_signin(ms_sandbox)
    signin.sign_in()
    before = token_requests(ms_sandbox)
    graph = make_graph(ms_sandbox, signin)
    for _ in range(3):
        graph.get_json("/me")
    assert token_requests(ms_sandbox) == before
    assert len(auto_browser.opened) == 1


def test_refresh_after_expiry_is_silent(ms_sandbox: Any, auto_browser: AutoBrowser) -> None:
    signin = make_signin(ms_sandbox)
    signin.sign_in()
    graph = make_graph(ms_sandbox, signin)
    graph.get_json("/me")
    before = token_requests(ms_sandbox)
    ms_sandbox.identity.expire_all_tokens()
    assert graph.get_json("/me")["userPrincipalName"]
    assert token_requests(ms_sandbox) == before + 1  # one refresh-token grant
    assert len(auto_browser.opened) == 1  # no browser


def test_revoked_refresh_token_needs_interactive_sign_in_again(
    ms_sandbox: Any, auto_browser: AutoBrowser
) -> None:
    signin = make_signin(ms_sandbox)
    signin.sign_in()
    graph = make_graph(ms_sandbox, signin)
    ms_sandbox.identity.revoke_refresh_tokens()
    ms_sandbox.identity.expire_all_tokens()
    with pytest.raises(SignInRequired, match="expired or was revoked"):
        graph.get_json("/me")
    signin.interactive_fallback = True
    assert graph.get_json("/me")["userPrincipalName"]
    assert len(auto_browser.opened) == 2


def test_claims_challenge_reruns_interactive_sign_in_with_the_claims(
    ms_sandbox: Any, auto_browser: AutoBrowser
) -> None:
    signin = make_signin(ms_sandbox)
    signin.sign_in()
    graph = make_graph(ms_sandbox, signin)
    ms_sandbox.identity.require_claims_challenge()
    assert graph.get_json("/me")["userPrincipalName"]
    assert len(auto_browser.opened) == 2
    assert "claims=" in auto_browser.opened[1]
    # Once satisfied, later calls go through without another sign-in.
    graph.get_json("/me")
    assert len(auto_browser.opened) == 2


def test_cancelled_sign_in_has_its_own_message(ms_sandbox: Any, auto_browser: AutoBrowser) -> None:
    auto_browser.mode = "cancel"
    with pytest.raises(auth.SignInCancelled, match="cancelled"):
        make_signin(ms_sandbox).sign_in()


def test_timed_out_sign_in_has_its_own_message(ms_sandbox: Any, auto_browser: AutoBrowser) -> None:
    auto_browser.mode = "ignore"
    with pytest.raises(auth.SignInTimedOut, match="timed out"):
        make_signin(ms_sandbox, interactive_timeout=2).sign_in()


def test_browser_sign_in_can_be_cancelled_from_another_thread(
    ms_sandbox: Any, auto_browser: AutoBrowser
) -> None:
    auto_browser.mode = "ignore"  # the user looks at the browser and then clicks Cancel
    signin = make_signin(ms_sandbox, interactive_timeout=60)
    threading.Timer(0.5, signin.cancel).start()
    # SignInCancelled (not SignInTimedOut after 60 s) shows the cancel took effect.
    with pytest.raises(auth.SignInCancelled, match="cancelled"):
        signin.sign_in()


def test_device_code_sign_in_can_be_cancelled(ms_sandbox: Any) -> None:
    ms_sandbox.identity.auto_approve = False
    signin = make_signin(ms_sandbox, prefer_device_code=True)
    signin.on_device_code = lambda prompt: threading.Timer(0.3, signin.cancel).start()
    with pytest.raises(auth.SignInCancelled):
        signin.sign_in()


def test_unknown_tenant(ms_sandbox: Any) -> None:
    authority = ms_sandbox.identity.base_url + "/no-such-tenant.example"
    signin = make_signin(ms_sandbox, authority=authority, prefer_device_code=True)
    with pytest.raises(auth.UnknownTenant, match="does not know this organization"):
        signin.sign_in()


def test_unknown_app_is_not_approved(ms_sandbox: Any) -> None:
    signin = make_signin(
        ms_sandbox, client_id="11111111-2222-3333-4444-555555555555", prefer_device_code=True
    )
    with pytest.raises(auth.AppNotApproved, match="not approved"):
        signin.sign_in()


def test_sign_out_forgets_the_account_and_says_how_to_revoke(
    ms_sandbox: Any, auto_browser: AutoBrowser
) -> None:
    store = plaintext_store()
    signin = make_signin(ms_sandbox, store)
    signin.sign_in()
    assert signin.account() is not None
    message = signin.sign_out()
    assert "App permissions" in message
    assert signin.account() is None
    assert json.loads(store.location.read_text(encoding="utf-8")) == {}
    with pytest.raises(SignInRequired, match="not signed in"):
        signin.access_token()


def test_two_profiles_signed_in_at_once(ms_sandbox: Any) -> None:
    a = make_signin(ms_sandbox, profile="Work", prefer_device_code=True)
    b = make_signin(ms_sandbox, profile="Other", prefer_device_code=True)
    a.sign_in()
    b.sign_in()
    assert a.store.location != b.store.location
    ga, gb = make_graph(ms_sandbox, a), make_graph(ms_sandbox, b)
    assert ga.get_json("/me") and gb.get_json("/me")
    a.sign_out()
    assert a.account() is None
    assert b.account() is not None
    assert gb.get_json("/me")


def test_exactly_once_sending_adds_mail_readwrite_to_the_token(ms_sandbox: Any) -> None:
    plain = make_signin(ms_sandbox, profile="A", prefer_device_code=True)
    plain.sign_in()
    scp = ms_sandbox.identity.validate_access_token(plain.access_token())["scp"].split()
    assert set(scp) >= set(auth.SCOPES) and "Mail.ReadWrite" not in scp
    draft = make_signin(ms_sandbox, profile="B", prefer_device_code=True, exactly_once_sending=True)
    draft.sign_in()
    scp = ms_sandbox.identity.validate_access_token(draft.access_token())["scp"].split()
    assert "Mail.ReadWrite" in scp

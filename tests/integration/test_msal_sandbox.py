"""The real MSAL library against the identity sandbox, and its tokens on the Graph sandbox.

MSAL is configured as the app configures it for the Sandbox profile: the sandbox authority,
``instance_discovery=False``, and an ``http_client`` session that trusts the sandbox CA and
ignores proxy/CA environment variables. The interactive flow's "person" is
:class:`~app.sandbox.microsoft.HeadlessBrowser`, registered as the preferred ``webbrowser``.
"""

from __future__ import annotations

import base64
import re
import webbrowser
from collections.abc import Callable, Iterator
from typing import Any

import msal
import pytest
import requests

from app.sandbox.microsoft import HeadlessBrowser, MicrosoftSandbox, register_headless_browser

SCOPES = ["User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All"]
Factory = Callable[..., MicrosoftSandbox]


def _isolate_webbrowser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a browser registration local to one test."""
    if webbrowser._tryorder is None:  # type: ignore[attr-defined]
        webbrowser.register_standard_browsers()
    monkeypatch.setattr(webbrowser, "_tryorder", list(webbrowser._tryorder))  # type: ignore[attr-defined]
    monkeypatch.setattr(webbrowser, "_browsers", dict(webbrowser._browsers))  # type: ignore[attr-defined]
    monkeypatch.delenv("BROWSER", raising=False)


@pytest.fixture
def browser(
    ms_sandbox: MicrosoftSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HeadlessBrowser]:
    _isolate_webbrowser(monkeypatch)
    b = register_headless_browser(ms_sandbox.ca_file)
    yield b
    b.join()
    assert b.errors == []


def make_app(ms: MicrosoftSandbox) -> tuple[msal.PublicClientApplication, requests.Session]:
    session = ms.session()
    app = msal.PublicClientApplication(
        ms.client_id,
        authority=ms.authority,
        instance_discovery=False,
        http_client=session,
        token_cache=msal.TokenCache(),
    )
    return app, session


def graph_me(ms: MicrosoftSandbox, session: requests.Session, token: str) -> requests.Response:
    return session.get(
        f"{ms.graph_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def interactive(app: msal.PublicClientApplication, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = app.acquire_token_interactive(SCOPES, timeout=30, **kw)
    assert "access_token" in result, result
    return result


def test_interactive_sign_in_and_graph(
    ms_sandbox: MicrosoftSandbox, browser: HeadlessBrowser
) -> None:
    app, session = make_app(ms_sandbox)
    megan = ms_sandbox.senders[2]["email"]
    result = interactive(app, login_hint=megan)
    assert result["id_token_claims"]["preferred_username"] == megan
    assert browser.opened and "response_mode=form_post" in browser.opened[0]
    me = graph_me(ms_sandbox, session, result["access_token"])
    assert me.status_code == 200 and me.json()["userPrincipalName"] == megan
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [megan]
    r = session.post(
        f"{ms_sandbox.graph_url}/me/sendMail",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        json={
            "message": {
                "subject": "from MSAL",
                "toRecipients": [{"emailAddress": {"address": "zoe.dubois@contoso.example"}}],
            }
        },
        timeout=10,
    )
    assert r.status_code == 202
    assert ms_sandbox.graph.sent_messages(megan)[0]["message"]["subject"] == "from MSAL"


def test_silent_uses_the_cache_then_refreshes_after_expiry(
    ms_sandbox_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1_800_000_000.0]
    # Under 5 minutes of lifetime: MSAL treats the cached token as due for refresh.
    ms = ms_sandbox_factory(clock=lambda: now[0], access_token_lifetime=240)
    _isolate_webbrowser(monkeypatch)
    b = register_headless_browser(ms.ca_file)
    app, session = make_app(ms)
    first = interactive(app)
    b.join()
    account = app.get_accounts()[0]
    now[0] += 241  # the server's clock: the first access token is now expired
    assert graph_me(ms, session, first["access_token"]).status_code == 401
    second = app.acquire_token_silent(SCOPES, account=account)
    assert second and second["access_token"] != first["access_token"]
    assert second["token_source"] == "identity_provider"  # it used the refresh token
    assert graph_me(ms, session, second["access_token"]).status_code == 200


def test_silent_from_cache_without_network(
    ms_sandbox: MicrosoftSandbox, browser: HeadlessBrowser
) -> None:
    app, _ = make_app(ms_sandbox)
    first = interactive(app)
    ms_sandbox.identity_server.faults.clear_log()
    again = app.acquire_token_silent(SCOPES, account=app.get_accounts()[0])
    assert again and again["access_token"] == first["access_token"]
    assert again["token_source"] == "cache"
    assert ms_sandbox.identity_server.faults.request_log("/token") == []


def test_server_side_expiry_then_force_refresh(
    ms_sandbox: MicrosoftSandbox, browser: HeadlessBrowser
) -> None:
    app, session = make_app(ms_sandbox)
    first = interactive(app)
    ms_sandbox.identity.expire_all_tokens()
    r = graph_me(ms_sandbox, session, first["access_token"])
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "Access token has expired or is not yet valid."
    fresh = app.acquire_token_silent(SCOPES, account=app.get_accounts()[0], force_refresh=True)
    assert fresh and graph_me(ms_sandbox, session, fresh["access_token"]).status_code == 200


def test_revoked_refresh_token_makes_silent_fail(
    ms_sandbox: MicrosoftSandbox, browser: HeadlessBrowser
) -> None:
    app, _ = make_app(ms_sandbox)
    interactive(app)
    account = app.get_accounts()[0]
    ms_sandbox.identity.revoke_refresh_tokens(account["username"])
    result = app.acquire_token_silent_with_error(SCOPES, account=account, force_refresh=True)
    assert result is not None and result["error"] == "invalid_grant"
    assert 50173 in result["error_codes"]
    assert app.acquire_token_silent(SCOPES, account=account, force_refresh=True) is None


def test_device_code_flow(ms_sandbox: MicrosoftSandbox) -> None:
    app, session = make_app(ms_sandbox)
    flow = app.initiate_device_flow(scopes=SCOPES)
    assert "user_code" in flow and flow["verification_uri"].startswith(ms_sandbox.identity.base_url)
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert graph_me(ms_sandbox, session, result["access_token"]).status_code == 200
    assert app.get_accounts()[0]["username"] == ms_sandbox.senders[0]["email"]


def test_device_code_declined(ms_sandbox_factory: Factory) -> None:
    ms = ms_sandbox_factory(auto_approve=False, device_code_interval=1)
    app, _ = make_app(ms)
    flow = app.initiate_device_flow(scopes=SCOPES)
    ms.identity.decline_device_code(flow["user_code"])
    result = app.acquire_token_by_device_flow(flow)
    assert result["error"] == "authorization_declined"


def test_claims_challenge_round_trip(
    ms_sandbox: MicrosoftSandbox, browser: HeadlessBrowser
) -> None:
    app, session = make_app(ms_sandbox)
    first = interactive(app)
    ms_sandbox.identity.require_claims_challenge()
    r = graph_me(ms_sandbox, session, first["access_token"])
    assert r.status_code == 401 and 'error="insufficient_claims"' in r.headers["WWW-Authenticate"]
    match = re.search(r'claims="([^"]+)"', r.headers["WWW-Authenticate"])
    assert match
    claims = base64.b64decode(match.group(1)).decode()
    fresh = app.acquire_token_silent(SCOPES, account=app.get_accounts()[0], claims_challenge=claims)
    assert fresh and graph_me(ms_sandbox, session, fresh["access_token"]).status_code == 200


def test_unknown_tenant_fails_at_construction(ms_sandbox: MicrosoftSandbox) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.PublicClientApplication(
            ms_sandbox.client_id,
            authority=f"{ms_sandbox.identity.base_url}/no-such-tenant",
            instance_discovery=False,
            http_client=ms_sandbox.session(),
        )


def test_wrong_client_id_fails_device_flow(ms_sandbox: MicrosoftSandbox) -> None:
    app = msal.PublicClientApplication(
        "00000000-0000-0000-0000-000000000000",
        authority=ms_sandbox.authority,
        instance_discovery=False,
        http_client=ms_sandbox.session(),
    )
    flow = app.initiate_device_flow(scopes=SCOPES)
    assert flow["error"] == "unauthorized_client" and 700016 in flow["error_codes"]


def test_headless_browser_reports_a_page_without_a_form(ms_sandbox: MicrosoftSandbox) -> None:
    seen: list[BaseException] = []
    b = HeadlessBrowser(ms_sandbox.ca_file, on_error=seen.append)
    url = f"{ms_sandbox.authority}/oauth2/v2.0/authorize?client_id=wrong&response_type=code"
    assert b.open(url) is True
    b.join()
    assert len(b.errors) == 1 and seen == b.errors
    assert "HTTP 400" in str(b.errors[0])

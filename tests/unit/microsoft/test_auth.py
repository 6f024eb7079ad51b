"""Sign-in decisions that cannot run here: the broker's parameters, method choice, errors.

The broker (WAM / Company Portal) exists only on Windows and macOS, so these tests check
what :class:`SignIn` passes to MSAL on those platforms through a recording stand-in for
``msal.PublicClientApplication``. The real flows run against the sandbox in
``tests/integration/microsoft``.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from app.errors import SignInRequired
from app.microsoft import auth
from app.microsoft.token_cache import TokenCacheStore


def _headless(location: str) -> object:
    raise RuntimeError("no secret service")


def store() -> TokenCacheStore:
    return TokenCacheStore("Contoso", allow_plaintext=True, persistence_factory=_headless)


CONFIG = auth.SignInConfig(
    profile="Contoso", authority="contoso.onmicrosoft.com", client_id="client-1"
)


class RecordingApp:
    """Records the arguments MSAL would receive; answers like a successful sign-in."""

    CONSOLE_WINDOW_HANDLE = object()
    instances: ClassVar[list[RecordingApp]] = []

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        self.client_id = client_id
        self.kwargs = kwargs
        self.interactive: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []
        self.removed: list[dict[str, Any]] = []
        RecordingApp.instances.append(self)

    def get_accounts(self) -> list[dict[str, Any]]:
        return list(self.accounts)

    def acquire_token_interactive(self, **kwargs: Any) -> dict[str, Any]:
        self.interactive.append(kwargs)
        account = {"home_account_id": "oid.tid", "username": "adele@contoso.example"}
        self.accounts = [*self.accounts, account]
        return {
            "access_token": "AT",
            "id_token_claims": {
                "preferred_username": "adele@contoso.example",
                "name": "Adele Vance",
                "oid": "oid",
                "tid": "tid",
            },
        }

    def remove_account(self, account: dict[str, Any]) -> None:
        self.removed.append(account)
        self.accounts = [a for a in self.accounts if a is not account]


@pytest.mark.parametrize(
    ("platform", "flag"),
    [("win32", "enable_broker_on_windows"), ("darwin", "enable_broker_on_mac")],
)
def test_broker_is_enabled_with_the_parent_window_handle(platform: str, flag: str) -> None:
    signin = auth.SignIn(
        CONFIG, store(), app_factory=RecordingApp, platform=platform, parent_window_handle=4242
    )
    account = signin.sign_in()
    app = RecordingApp.instances[-1]
    assert app.kwargs[flag] is True
    assert not {"enable_broker_on_linux", "enable_broker_on_wsl"} & set(app.kwargs)
    assert app.kwargs["authority"] == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert "instance_discovery" not in app.kwargs
    call = app.interactive[-1]
    assert call["parent_window_handle"] == 4242
    assert call["scopes"] == ["User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All"]
    assert call["timeout"] == signin.interactive_timeout
    assert account.username == "adele@contoso.example" and account.name == "Adele Vance"


def test_broker_without_a_window_handle_is_refused_before_msal() -> None:
    signin = auth.SignIn(CONFIG, store(), app_factory=RecordingApp, platform="win32")
    with pytest.raises(auth.MicrosoftError, match="window"):
        signin.sign_in()
    assert RecordingApp.instances[-1].interactive == []


def test_linux_never_enables_the_broker_and_uses_the_browser() -> None:
    signin = auth.SignIn(
        CONFIG,
        store(),
        app_factory=RecordingApp,
        platform="linux",
        environ={"DISPLAY": ":99"},
        parent_window_handle=1,
    )
    signin.sign_in()
    app = RecordingApp.instances[-1]
    assert not any(k.startswith("enable_broker") for k in app.kwargs)
    assert "parent_window_handle" not in app.interactive[-1]
    assert signin.method() == "browser"


def test_sandbox_turns_off_instance_discovery_and_the_broker() -> None:
    config = auth.SignInConfig(
        profile="Sandbox",
        authority="https://127.0.0.1:5000/tenant",
        client_id="c",
        ca_file="/ca.pem",
        is_sandbox=True,
    )
    kwargs = auth.app_kwargs(config, platform="win32")
    assert kwargs["instance_discovery"] is False
    assert kwargs["authority"] == "https://127.0.0.1:5000/tenant"
    assert not any(k.startswith("enable_broker") for k in kwargs)


@pytest.mark.parametrize(
    ("platform", "env", "device", "expected"),
    [
        ("linux", {}, False, "device_code"),
        ("linux", {"DISPLAY": ":0"}, False, "browser"),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, False, "browser"),
        ("linux", {"DISPLAY": ":0"}, True, "device_code"),
        ("win32", {}, False, "broker"),
        ("darwin", {}, False, "broker"),
        ("darwin", {}, True, "device_code"),
    ],
)
def test_method_choice(platform: str, env: dict[str, str], device: bool, expected: str) -> None:
    assert (
        auth.choose_method(
            platform=platform, environ=env, device_code=device, broker_available=True
        )
        == expected
    )


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_without_the_broker_runtime_the_browser_signs_in(platform: str) -> None:
    """No pymsalruntime for this machine (an Intel Mac): the browser with the app's own
    cancellable receiver, and MSAL is not told to use a broker it cannot load."""
    assert auth.choose_method(platform=platform, environ={}, broker_available=False) == "browser"
    config = auth.SignInConfig(profile="Contoso", authority="organizations", client_id="c")
    kwargs = auth.app_kwargs(config, platform=platform, broker_available=False)
    assert not any(k.startswith("enable_broker") for k in kwargs)
    assert auth.app_kwargs(config, platform=platform, broker_available=True)


def test_the_broker_runtime_is_detected_on_this_machine() -> None:
    import importlib.util

    present = importlib.util.find_spec("pymsalruntime") is not None
    assert auth.broker_runtime_available() is present
    if sys.platform.startswith("linux"):
        assert auth.choose_method(platform=sys.platform, environ={"DISPLAY": ":0"}) == "browser"


def test_scopes_are_exact_and_never_reserved() -> None:
    assert auth.scopes_for() == ["User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All"]
    assert auth.scopes_for(exactly_once_sending=True)[-1] == "Mail.ReadWrite"
    assert not auth.RESERVED_SCOPES & set(auth.scopes_for(exactly_once_sending=True))


def test_claims_are_passed_to_the_interactive_call() -> None:
    kwargs = auth.interactive_kwargs(
        CONFIG, method="browser", parent_window_handle=None, claims='{"a":1}', timeout=5
    )
    assert kwargs["claims_challenge"] == '{"a":1}' and "parent_window_handle" not in kwargs


def test_one_account_per_profile() -> None:
    signin = auth.SignIn(
        CONFIG, store(), app_factory=RecordingApp, platform="darwin", parent_window_handle=7
    )
    signin.sign_in()
    app = RecordingApp.instances[-1]
    old = {"home_account_id": "other.tid", "username": "someone@else.example"}
    app.accounts.insert(0, old)
    signin.sign_in()
    assert old in app.removed
    assert [a["username"] for a in app.accounts] == ["adele@contoso.example"]


@pytest.mark.parametrize(
    ("result", "cls", "words"),
    [
        ({"error": "invalid_request", "error_codes": [90002]}, auth.UnknownTenant, "tenant"),
        ({"error": "invalid_client", "error_codes": [700016]}, auth.AppNotApproved, "approved"),
        ({"error": "invalid_grant", "error_codes": [65001]}, auth.AppNotApproved, "approved"),
        ({"error": "invalid_request", "error_codes": [50194]}, auth.UnknownTenant, "own accounts"),
        ({"error": "invalid_grant", "error_codes": [50105]}, auth.AppNotApproved, "allowed"),
        ({"error": "access_denied"}, auth.SignInCancelled, "cancelled"),
        ({"error": "authorization_declined"}, auth.SignInCancelled, "cancelled"),
        ({"error": "expired_token"}, auth.SignInTimedOut, "timed out"),
        ({"error": "invalid_grant", "error_codes": [50173]}, SignInRequired, "revoked"),
        ({"error": "weird"}, auth.MicrosoftError, "failed"),
    ],
)
def test_failures_have_distinct_messages(result: dict[str, Any], cls: type, words: str) -> None:
    err = auth.error_from_result(result, interactive=True)
    assert type(err) is cls
    assert words in err.message.lower()


def test_unknown_tenant_at_construction_is_reported_as_such() -> None:
    def factory(client_id: str, **kwargs: Any) -> Any:
        raise ValueError("Unable to get authority configuration for https://x/nope.")

    signin = auth.SignIn(CONFIG, store(), app_factory=factory, platform="linux")
    with pytest.raises(auth.UnknownTenant, match="does not know this organization"):
        signin.access_token()


def test_damaged_cache_asks_to_sign_in_again(tmp_path: Path) -> None:
    location = tmp_path / "c.cache"
    location.write_text("{not json")
    s = TokenCacheStore("p", allow_plaintext=True, location=location, persistence_factory=_headless)
    signin = auth.SignIn(CONFIG, s, app_factory=RecordingApp, platform="linux")
    with pytest.raises(SignInRequired, match="damaged"):
        signin.access_token()
    # The second attempt is an ordinary "not signed in".
    with pytest.raises(SignInRequired, match="not signed in"):
        signin.access_token()


def test_json_error_inside_msal_resets_the_cache() -> None:
    class Corrupting(RecordingApp):
        def get_accounts(self) -> list[dict[str, Any]]:
            raise json.JSONDecodeError("bad", "x", 0)

    s = store()
    signin = auth.SignIn(CONFIG, s, app_factory=Corrupting, platform="linux")
    with pytest.raises(SignInRequired, match="damaged"):
        signin.account()
    assert s.was_reset


def test_sign_out_removes_account_and_returns_revocation_help() -> None:
    signin = auth.SignIn(
        CONFIG, store(), app_factory=RecordingApp, platform="darwin", parent_window_handle=7
    )
    signin.sign_in()
    app = RecordingApp.instances[-1]
    message = signin.sign_out()
    assert app.removed and app.accounts == []
    assert "https://myapps.microsoft.com" in message and "App permissions" in message
    assert "account.microsoft.com" in message


def test_the_redirect_listener_is_on_loopback_even_in_a_container() -> None:
    """MSAL binds 0.0.0.0 inside containers; the authorization code must stay on loopback."""
    receiver = auth.CancellableReceiver()
    try:
        assert receiver._server.server_address[0] == "127.0.0.1"
        assert receiver.get_port() > 0
    finally:
        receiver.close()


class WaitingApp(RecordingApp):
    """An interactive sign-in that waits for the user until the test lets it finish; a
    silent call answers from its account list like MSAL's cache does."""

    started = threading.Event()
    finish = threading.Event()

    def acquire_token_interactive(self, **kwargs: Any) -> dict[str, Any]:
        WaitingApp.started.set()
        assert WaitingApp.finish.wait(10), "the test never let the sign-in finish"
        return super().acquire_token_interactive(**kwargs)

    def acquire_token_silent_with_error(self, scopes: Any, **kwargs: Any) -> dict[str, Any]:
        return {"access_token": "silent-AT"}


def test_an_interactive_sign_in_holds_no_lock_other_work_needs() -> None:
    WaitingApp.started.clear()
    WaitingApp.finish.clear()
    signin = auth.SignIn(
        CONFIG, store(), app_factory=WaitingApp, platform="darwin", parent_window_handle=7
    )
    user = threading.Thread(target=signin.sign_in, daemon=True)
    user.start()
    assert WaitingApp.started.wait(10)
    try:
        assert signin.signing_in
        # Reading the account and silent tokens answer at once, not after the sign-in.
        assert signin.account() is None
        with pytest.raises(SignInRequired, match="not signed in"):
            signin.access_token()
        # A second interactive sign-in is refused at once, not queued behind the first.
        with pytest.raises(auth.MicrosoftError, match="already in progress"):
            signin.sign_in()
        # Work that may sign in interactively waits for the first one, cancellably.
        signin.interactive_fallback = True
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(auth.SignInCancelled, match="Stopped waiting"):
            signin.access_token(cancel=cancel)
    finally:
        WaitingApp.finish.set()
        user.join(10)
    assert not user.is_alive() and not signin.signing_in
    # Once the user finished, the waiting kind of work gets its token silently.
    assert signin.access_token(cancel=threading.Event()) == "silent-AT"

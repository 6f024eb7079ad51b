"""Sessions against the sandbox: app-token flow, login, renewal, and wrong settings named."""

from __future__ import annotations

import pytest

from app.kaltura.client import KalturaClient
from app.kaltura.errors import KalturaAPIError, KalturaSettingsError
from app.kaltura.session import (
    AppTokenCredentials,
    KalturaSession,
    LoginCredentials,
)
from tests.fixtures.sandbox_kaltura import KalturaServer
from tests.integration.kaltura.conftest import USER, make_session


def _session(srv: KalturaServer, *, pid: int | None = None, **creds: str) -> KalturaSession:
    c = AppTokenCredentials(
        creds.get("token_id", srv.app_token_id),
        creds.get("token", srv.app_token),
        creds.get("hash_type", srv.app_token_hash_type),
    )
    client = KalturaClient(srv.url, partner_id=pid or srv.partner_id)
    return KalturaSession(client, c, user_id=USER)


def test_app_token_flow_gives_a_user_session_for_the_email(kaltura_server: KalturaServer) -> None:
    s = make_session(kaltura_server)
    s.ks()
    assert s.info is not None
    assert s.info.user_id == USER and s.info.session_type == 0
    assert f"apptoken:{kaltura_server.app_token_id}" in s.info.privileges
    entry = s.call("media", "add", {"entry": {"objectType": "KalturaMediaEntry", "name": "n"}})
    assert entry["userId"] == USER
    # Another person's session does not see it.
    other = make_session(kaltura_server, user="grace@example.com")
    with pytest.raises(KalturaAPIError):
        other.call("media", "get", {"entryId": entry["id"]})


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"pid": 999}, "partner_id"),
        ({"token_id": "0_nosuchtoken"}, "app_token_id"),
        ({"token": "0" * 32}, "app_token"),
        ({"hash_type": "SHA1"}, "app_token_hash_type"),
        ({"hash_type": "SHA3-256"}, "app_token_hash_type"),
    ],
)
def test_wrong_settings_say_which_setting(
    kaltura_server: KalturaServer, change: dict[str, object], setting: str
) -> None:
    pid = change.pop("pid", None)
    s = _session(kaltura_server, pid=pid, **change)  # type: ignore[arg-type]
    with pytest.raises(KalturaSettingsError) as err:
        s.ks()
    assert err.value.setting == setting
    text = err.value.user_message()
    assert "_ID_NOT_FOUND" not in text and "INVALID_" not in text  # no raw codes
    if setting == "app_token_hash_type" and change.get("hash_type") == "SHA1":
        assert kaltura_server.app_token_hash_type in text  # it says what the token uses


def test_login_by_login_id(kaltura_server: KalturaServer) -> None:
    login = kaltura_server.service.manifest()["login"]
    client = KalturaClient(kaltura_server.url, partner_id=kaltura_server.partner_id)
    s = KalturaSession(client, LoginCredentials(login["login_id"], login["password"]), user_id=USER)
    assert s.call("media", "list", {})["objectType"].endswith("ListResponse")
    wrong = KalturaSession(
        KalturaClient(kaltura_server.url, partner_id=kaltura_server.partner_id),
        LoginCredentials(login["login_id"], "not-the-password"),
        user_id=USER,
    )
    with pytest.raises(KalturaSettingsError) as err:
        wrong.ks()
    assert err.value.setting == "password"
    nobody = KalturaSession(
        KalturaClient(kaltura_server.url, partner_id=kaltura_server.partner_id),
        LoginCredentials("nobody@example.com", "x"),
        user_id=USER,
    )
    with pytest.raises(KalturaSettingsError) as err:
        nobody.ks()
    assert err.value.setting in ("login_id", "password")


def test_renewed_before_expiry(kaltura_server: KalturaServer) -> None:
    now = [1_000.0]
    s = make_session(kaltura_server, clock=lambda: now[0], expiry_seconds=600)
    first = s.ks()
    assert s.info is not None
    expiry = s.info.expiry
    assert s.ks() == first and s.renewals == 0
    # The server's clock is real; ours jumps to just inside the renewal margin (10%).
    now[0] = expiry - 59
    second = s.ks()
    assert second != first and s.renewals == 1


def test_invalid_ks_renews_once_transparently(kaltura_server: KalturaServer) -> None:
    s = make_session(kaltura_server)
    ks = s.ks()
    kaltura_server.service.expire_all_sessions()
    assert isinstance(s.call("media", "list", {}), dict)
    assert s.ks() != ks and s.renewals == 1


def test_renewal_is_not_a_loop_when_sessions_keep_failing(kaltura_server: KalturaServer) -> None:
    s = make_session(kaltura_server)
    s.ks()
    # An admin-only action with a user KS fails with a non-session error: no renewal.
    with pytest.raises(KalturaAPIError) as err:
        s.call("category", "add", {"category": {"name": "x"}})
    assert not err.value.is_invalid_ks() and s.renewals == 0

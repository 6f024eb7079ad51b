"""Sessions (docs/protocols.md, "Kaltura: sessions (KS)"): session.start, widget sessions,
app tokens, loginByLoginId, KS expiry / revocation / partner / garbage, and the
expire-sessions admin action."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from app.sandbox.kaltura import ks as ksmod
from tests.fixtures.sandbox_kaltura import FakeClock, KalturaServer, start_kaltura_server


def _decode(server: KalturaServer, ks: str) -> ksmod.KS:
    return ksmod.decode(ks, [server.admin_secret])


def test_session_start_issues_a_v2_ks_with_type_user_and_privileges(
    kaltura_server: KalturaServer,
) -> None:
    ks = kaltura_server.user_ks("alice@example.com", privileges="edit:*")
    session = _decode(kaltura_server, ks)
    assert session.partner_id == kaltura_server.partner_id
    assert (session.type, session.user) == (0, "alice@example.com")
    assert session.privileges == {"edit": "*"}
    assert ksmod.partner_of(ks) == kaltura_server.partner_id


def test_session_start_with_a_wrong_secret_or_partner(kaltura_server: KalturaServer) -> None:
    err = kaltura_server.call("session", "start", {"secret": "nope", "type": 2, "partnerId": 100})
    assert err == {
        "code": "START_SESSION_ERROR",
        "message": "Error while starting session for partner [100]",
        "objectType": "KalturaAPIException",
        "args": {"PID": "100"},
    }
    err = kaltura_server.call(
        "session", "start", {"secret": kaltura_server.admin_secret, "partnerId": 7}
    )
    assert err["code"] == "START_SESSION_ERROR"
    err = kaltura_server.call("session", "start", {"partnerId": 100})
    assert err["code"] == "MISSING_MANDATORY_PARAMETER"


def test_widget_session_then_app_token_session(kaltura_server: KalturaServer) -> None:
    widget = kaltura_server.call(
        "session", "startWidgetSession", {"widgetId": f"_{kaltura_server.partner_id}"}
    )
    assert widget["objectType"] == "KalturaStartWidgetSessionResponse"
    assert widget["partnerId"] == kaltura_server.partner_id
    wks = widget["ks"]
    assert _decode(kaltura_server, wks).privileges == {"view": "*", "widget": "1"}
    assert kaltura_server.app_token_hash_type == "SHA256"
    token_hash = hashlib.sha256((wks + kaltura_server.app_token).encode()).hexdigest()
    info = kaltura_server.call(
        "appToken",
        "startSession",
        {
            "id": kaltura_server.app_token_id,
            "tokenHash": token_hash,
            "userId": "bob@example.com",
            "expiry": 600,
        },
        ks=wks,
    )
    assert info["objectType"] == "KalturaSessionInfo"
    assert (info["userId"], info["sessionType"], info["partnerId"]) == ("bob@example.com", 0, 100)
    assert "apptoken:" + kaltura_server.app_token_id in info["privileges"]
    assert "sessionid:" in info["privileges"]
    session = _decode(kaltura_server, info["ks"])
    assert session.user == "bob@example.com"
    assert session.expiry == info["expiry"]
    # The user KS works; the widget KS may not upload.
    assert kaltura_server.call("uploadToken", "list", ks=info["ks"])["totalCount"] == 0
    assert kaltura_server.call("uploadToken", "add", {}, ks=wks)["code"] == "SERVICE_FORBIDDEN"


def test_bad_widget_and_bad_hash_and_unknown_token(kaltura_server: KalturaServer) -> None:
    assert (
        kaltura_server.call("session", "startWidgetSession", {"widgetId": "_999"})["code"]
        == "INVALID_WIDGET_ID"
    )
    wks = kaltura_server.call("session", "startWidgetSession", {"widgetId": "_100"})["ks"]
    wrong = hashlib.sha1((wks + kaltura_server.app_token).encode()).hexdigest()  # token says SHA256
    err = kaltura_server.call(
        "appToken", "startSession", {"id": kaltura_server.app_token_id, "tokenHash": wrong}, ks=wks
    )
    assert err["code"] == "INVALID_APP_TOKEN_HASH"
    err = kaltura_server.call(
        "appToken", "startSession", {"id": "0_nope", "tokenHash": wrong}, ks=wks
    )
    assert (err["code"], err["args"]) == ("APP_TOKEN_ID_NOT_FOUND", {"ID": "0_nope"})
    err = kaltura_server.call(
        "appToken", "startSession", {"id": kaltura_server.app_token_id, "tokenHash": wrong}
    )
    assert err["code"] == "MISSING_KS"


def test_app_token_overrides_and_sha1_default(kaltura_server: KalturaServer) -> None:
    admin = kaltura_server.admin_ks()
    token = kaltura_server.call(
        "appToken",
        "add",
        {
            "appToken": {
                "sessionUserId": "svc@example.com",
                "sessionType": 2,
                "sessionDuration": 100,
                "objectType": "KalturaAppToken",
            }
        },
        ks=admin,
    )
    assert token["hashType"] == "SHA1"
    assert (
        kaltura_server.call("appToken", "get", {"id": token["id"]}, ks=admin)["token"]
        == token["token"]
    )
    user_ks = kaltura_server.user_ks("someone")
    assert (
        kaltura_server.call("appToken", "add", {"appToken": {}}, ks=user_ks)["code"]
        == "SERVICE_FORBIDDEN"
    )
    wks = kaltura_server.call("session", "startWidgetSession", {"widgetId": "_100"})["ks"]
    h = hashlib.sha1((wks + token["token"]).encode()).hexdigest()
    info = kaltura_server.call(
        "appToken",
        "startSession",
        {"id": token["id"], "tokenHash": h, "userId": "ignored", "type": 0, "expiry": 5000},
        ks=wks,
    )
    assert (info["userId"], info["sessionType"]) == ("svc@example.com", 2)
    session = _decode(kaltura_server, info["ks"])
    assert session.is_admin
    assert 95 <= session.expiry - kaltura_server.service.sessions.now() <= 100


def test_app_token_expiry_bounds_the_session_and_expired_token_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    server = start_kaltura_server(tmp_path / "s", clock=clock)
    try:
        admin = server.admin_ks()
        token = server.call(
            "appToken", "add", {"appToken": {"expiry": int(clock.now) + 50}}, ks=admin
        )
        wks = server.call("session", "startWidgetSession", {"widgetId": "_100"})["ks"]
        h = hashlib.sha1((wks + token["token"]).encode()).hexdigest()
        info = server.call("appToken", "startSession", {"id": token["id"], "tokenHash": h}, ks=wks)
        assert info["expiry"] == int(clock.now) + 50
        clock.advance(60)
        wks = server.call("session", "startWidgetSession", {"widgetId": "_100"})["ks"]
        h = hashlib.sha1((wks + token["token"]).encode()).hexdigest()
        err = server.call("appToken", "startSession", {"id": token["id"], "tokenHash": h}, ks=wks)
        assert err["code"] == "APP_TOKEN_EXPIRED"
    finally:
        server.stop()


def test_expired_ks_is_invalid_ks_with_the_contract_args(tmp_path: Path) -> None:
    clock = FakeClock()
    server = start_kaltura_server(tmp_path / "s", clock=clock)
    try:
        ks = server.call(
            "session",
            "start",
            {"secret": server.admin_secret, "type": 2, "partnerId": 100, "expiry": 60},
        )
        assert (
            server.call("uploadToken", "list", ks=ks)["objectType"]
            == "KalturaUploadTokenListResponse"
        )
        clock.advance(61)
        err = server.call("uploadToken", "list", ks=ks)
        assert err == {
            "code": "INVALID_KS",
            "message": 'Invalid KS "EXPIRED", Error "-1,INVALID_STR"',
            "objectType": "KalturaAPIException",
            "args": {"KSID": "EXPIRED", "ERR_CODE": "-1", "ERR_DESC": "INVALID_STR"},
        }
    finally:
        server.stop()


def test_expire_sessions_admin_action_revokes_every_issued_ks(
    kaltura_server: KalturaServer,
) -> None:
    old = kaltura_server.user_ks("u")
    resp = requests.post(
        f"{kaltura_server.url}/_sandbox/expire-sessions",
        json={},
        headers=kaltura_server.server.faults.admin_headers(),
        timeout=10,
    )
    assert resp.json() == {"ok": True}
    assert kaltura_server.call("uploadToken", "list", ks=old)["code"] == "INVALID_KS"
    fresh = kaltura_server.user_ks("u")
    assert kaltura_server.call("uploadToken", "list", ks=fresh)["totalCount"] == 0
    # The revocation survives a restart on the same data dir.
    kaltura_server.stop()
    again = start_kaltura_server(kaltura_server.data_dir)
    try:
        assert again.call("uploadToken", "list", ks=old)["code"] == "INVALID_KS"
        assert again.call("uploadToken", "list", ks=fresh)["totalCount"] == 0
    finally:
        again.stop()


@pytest.mark.parametrize(
    "garbage",
    ["x", "!!!!", "djJ8MTAwfA==", "djJ8MTAwfGFhYWFhYWFhYWFhYWFhYWE=", "a" * 9000, "ZGVhZGJlZWY="],
)
def test_garbage_ks_is_invalid_ks(kaltura_server: KalturaServer, garbage: str) -> None:
    err = kaltura_server.call("media", "list", ks=garbage)
    assert err["code"] == "INVALID_KS"
    assert err["args"]["ERR_CODE"] in ("-1", "-2")


def test_ks_of_another_partner_or_secret(kaltura_server: KalturaServer) -> None:
    other_partner = ksmod.generate_v2(
        kaltura_server.admin_secret, 555, type=2, user="", expiry=2**31 - 1
    )
    err = kaltura_server.call("media", "list", ks=other_partner)
    assert (err["code"], err["args"]["ERR_CODE"], err["args"]["ERR_DESC"]) == (
        "INVALID_KS",
        "-2",
        "INVALID_PARTNER",
    )
    forged = ksmod.generate_v2("not-the-secret", 100, type=2, user="", expiry=2**31 - 1)
    assert kaltura_server.call("media", "list", ks=forged)["args"]["ERR_DESC"] == "INVALID_STR"


def test_missing_ks(kaltura_server: KalturaServer) -> None:
    err = kaltura_server.call("media", "list")
    assert (err["code"], err["message"], err["args"]) == (
        "MISSING_KS",
        "Missing KS, session not established",
        [],
    )


def test_login_by_login_id(kaltura_server: KalturaServer) -> None:
    login = kaltura_server.service.manifest()["login"]
    ks = kaltura_server.call(
        "user",
        "loginByLoginId",
        {"loginId": login["login_id"], "password": login["password"], "partnerId": 100},
    )
    session = _decode(kaltura_server, ks)
    assert (session.user, session.is_admin) == (login["login_id"], True)
    bad = kaltura_server.call(
        "user", "loginByLoginId", {"loginId": login["login_id"], "password": "x"}
    )
    assert bad["code"] == "USER_WRONG_PASSWORD"
    unknown = kaltura_server.call("user", "loginByLoginId", {"loginId": "who@x", "password": "x"})
    assert unknown["code"] == "LOGIN_DATA_NOT_FOUND"


def test_manifest_names_what_clients_need(kaltura_server: KalturaServer) -> None:
    m = kaltura_server.service.manifest()
    assert m["url"] == kaltura_server.url
    assert m["partner_id"] == 100
    assert m["widget_id"] == "_100"
    assert m["app_token"]["hash_type"] == "SHA256"
    assert isinstance(m["uiconf_id"], int)
    token = kaltura_server.call(
        "appToken", "get", {"id": m["app_token"]["id"]}, ks=kaltura_server.admin_ks()
    )
    assert token["sessionType"] == 0
    assert "sessionUserId" not in token

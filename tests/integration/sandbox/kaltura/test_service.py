"""The Kaltura sandbox's HTTP surface (A1, A2): request encodings, response formats,
multirequest, bad input, and persistence across a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.fixtures.sandbox_kaltura import KalturaServer, start_kaltura_server


def _url(server: KalturaServer, tail: str) -> str:
    return f"{server.url}/api_v3/{tail}"


def test_json_body_only_with_exact_content_type(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.admin_ks()
    body = json.dumps({"ks": ks, "format": 1}).encode()
    url = _url(kaltura_server, "service/media/action/list")
    ok = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert ok.json()["objectType"] == "KalturaMediaListResponse"
    ignored = requests.post(
        url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10
    )
    assert ignored.headers["Content-Type"].startswith(
        "text/xml"
    )  # format=2 default: the body was ignored
    assert b"<code>MISSING_KS</code>" in ignored.content


def test_plain_form_with_colon_and_bracket_nesting_and_path_params(
    kaltura_server: KalturaServer,
) -> None:
    ks = kaltura_server.admin_ks()
    created = requests.post(
        _url(kaltura_server, "service/media/action/add"),
        data={
            "ks": ks,
            "format": "1",
            "entry:name": "colon",
            "entry[description]": "bracket",
            "entry:objectType": "KalturaMediaEntry",
            "entry:mediaType": "1",
        },
        timeout=10,
    ).json()
    assert (created["name"], created["description"]) == ("colon", "bracket")
    got = requests.post(
        _url(kaltura_server, f"service/media/action/get/entryId/{created['id']}/format/1"),
        data={"ks": ks},
        timeout=10,
    ).json()
    assert got["id"] == created["id"]


def test_query_params_win_over_the_body(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.admin_ks()
    resp = requests.post(
        _url(kaltura_server, "service/media/action/get") + "?format=1&entryId=0_fromquery",
        json={"ks": ks, "format": 2, "entryId": "0_frombody"},
        timeout=10,
    )
    assert resp.json()["args"] == {"ENTRY_ID": "0_fromquery"}


def test_service_and_action_names_are_case_insensitive(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.admin_ks()
    for svc, act in (("uploadtoken", "list"), ("uploadToken", "LIST"), ("UPLOADTOKEN", "List")):
        assert (
            kaltura_server.call(svc, act, ks=ks)["objectType"] == "KalturaUploadTokenListResponse"
        )


def test_xml_is_the_default_format_with_the_envelope(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.admin_ks()
    resp = requests.post(
        _url(kaltura_server, "service/uploadtoken/action/add"), json={"ks": ks}, timeout=10
    )
    assert resp.status_code == 200
    root = etree.fromstring(resp.content)
    assert root.tag == "xml"
    assert [c.tag for c in root] == ["result", "executionTime"]
    result = root.find("result")
    assert result is not None
    assert result.findtext("objectType") == "KalturaUploadToken"
    assert result.findtext("status") == "0"
    assert result.find("uploadedFileSize") is None  # nulls are removed
    float(root.findtext("executionTime") or "x")


def test_error_shape_in_xml_and_json(kaltura_server: KalturaServer) -> None:
    url = _url(kaltura_server, "service/media/action/get")
    ks = kaltura_server.admin_ks()
    xml = requests.post(url, json={"ks": ks, "entryId": "0_x"}, timeout=10)
    assert xml.status_code == 200
    err = etree.fromstring(xml.content).find("result/error")
    assert err is not None
    assert err.findtext("code") == "ENTRY_ID_NOT_FOUND"
    assert err.findtext("message") == 'Entry id "0_x" not found'
    assert err.findtext("objectType") == "KalturaAPIException"
    items = err.findall("args/item")
    assert [(i.findtext("objectType"), i.findtext("name"), i.findtext("value")) for i in items] == [
        ("KalturaApiExceptionArg", "ENTRY_ID", "0_x")
    ]
    js = requests.post(url, json={"ks": ks, "entryId": "0_x", "format": 1}, timeout=10)
    assert js.status_code == 200
    assert js.text == (
        '{"code":"ENTRY_ID_NOT_FOUND","message":"Entry id \\"0_x\\" not found",'
        '"objectType":"KalturaAPIException","args":{"ENTRY_ID":"0_x"}}'
    )


def test_json_objects_have_object_type_last_and_no_nulls(kaltura_server: KalturaServer) -> None:
    token = kaltura_server.call("uploadToken", "add", {}, ks=kaltura_server.admin_ks())
    assert list(token)[-1] == "objectType"
    assert None not in token.values()


def test_unknown_service_and_action_and_missing_names(kaltura_server: KalturaServer) -> None:
    err = kaltura_server.call("nosuch", "list")
    assert (err["code"], err["args"]) == ("SERVICE_DOES_NOT_EXISTS", {"SRV_NAME": "nosuch"})
    assert err["message"] == 'Service "nosuch" does not exists'
    err = kaltura_server.call("media", "explode")
    assert (err["code"], err["args"]) == (
        "ACTION_DOES_NOT_EXISTS",
        {"ACTION_NAME": "explode", "SERVICE_NAME": "media"},
    )
    resp = requests.post(_url(kaltura_server, "index.php"), json={"format": 1}, timeout=10)
    assert resp.json()["code"] == "SERVICE_NOT_SPECIFIED"
    resp = requests.post(_url(kaltura_server, "service/media"), json={"format": 1}, timeout=10)
    assert resp.json()["code"] == "ACTION_NOT_SPECIFIED"


def test_missing_mandatory_parameter(kaltura_server: KalturaServer) -> None:
    err = kaltura_server.call("media", "get", ks=kaltura_server.admin_ks())
    assert err == {
        "code": "MISSING_MANDATORY_PARAMETER",
        "message": 'Missing parameter "entryId"',
        "objectType": "KalturaAPIException",
        "args": {"PARAM_NAME": "entryId"},
    }


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b'{"ks": "x", "format": 1', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"<xml><ks>x</ks><format>1</format>", "text/xml"),
        (
            b"--nope\r\nContent-Disposition: form-data; name=json\r\n\r\n{bad",
            "multipart/form-data; boundary=nope",
        ),
        (b"garbage", "multipart/form-data"),
        (b"%zz=%%&&==", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_get_kaltura_errors_not_500s(
    kaltura_server: KalturaServer, body: bytes, ctype: str
) -> None:
    resp = requests.post(
        _url(kaltura_server, "service/media/action/list"),
        data=body,
        headers={"Content-Type": ctype},
        timeout=10,
    )
    assert resp.status_code == 200
    root = etree.fromstring(resp.content)
    assert root.findtext("result/error/objectType") == "KalturaAPIException"
    assert root.findtext("result/error/code") in ("MISSING_KS", "INVALID_KS")


def test_oversize_bodies_get_413(tmp_path: Path) -> None:
    server = start_kaltura_server(tmp_path / "s", max_upload_bytes=1 << 20)
    try:
        big = b"x" * (2 << 20)
        resp = requests.post(
            _url(server, "service/uploadtoken/action/upload"),
            files={"fileData": ("a.bin", big)},
            timeout=10,
        )
        assert resp.status_code == 413
        assert b"Traceback" not in resp.content
        assert not list((server.data_dir / "kaltura" / "tmp").iterdir())  # nothing left behind
        assert server.call("system", "ping") is True  # still serving
    finally:
        server.stop()


def test_unknown_format_is_reported(kaltura_server: KalturaServer) -> None:
    resp = requests.post(
        _url(kaltura_server, "service/system/action/ping"), json={"format": 3}, timeout=10
    )
    assert etree.fromstring(resp.content).findtext("result/error/code") == "UNKNOWN_RESPONSE_FORMAT"


def test_bool_parsing_follows_php(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.admin_ks()
    for value, final in (
        ("False", False),
        ("false", False),
        ("0", False),
        ("", False),
        ("1", True),
        ("no", True),
    ):
        token = kaltura_server.call("uploadToken", "add", {}, ks=ks)
        res = kaltura_server.call(
            "uploadToken",
            "upload",
            {"uploadTokenId": token["id"], "finalChunk": value},
            ks=ks,
            file=b"abc",
        )
        assert res["status"] == (2 if final else 1), value


def test_multirequest_references_inherited_ks_and_per_item_errors(
    kaltura_server: KalturaServer,
) -> None:
    ks = kaltura_server.admin_ks()
    resp = requests.post(
        _url(kaltura_server, "service/multirequest"),
        json={
            "ks": ks,
            "format": 1,
            "0": {
                "service": "media",
                "action": "add",
                "entry": {"name": "mr", "objectType": "KalturaMediaEntry"},
            },
            "1": {"service": "media", "action": "get", "entryId": "{1:result:id}"},
            "2": {"service": "media", "action": "get", "entryId": "0_missing"},
            "3": {"service": "media", "action": "list", "filter": {"idEqual": "{2:result:id}"}},
            "4": {
                "service": "media",
                "action": "update",
                "entryId": "{4:result:objects:0:id}",
                "mediaEntry": {"name": "renamed {1:result:name}"},
            },
        },
        timeout=10,
    )
    added, got, missing, listed, updated = resp.json()
    assert got["id"] == added["id"]
    assert missing["code"] == "ENTRY_ID_NOT_FOUND"
    assert [e["id"] for e in listed["objects"]] == [added["id"]]
    assert updated["name"] == "renamed mr"


def test_multirequest_in_xml_and_form_encoding(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.admin_ks()
    resp = requests.post(
        _url(kaltura_server, "service/multirequest"),
        data={
            "ks": ks,
            "1:service": "system",
            "1:action": "ping",
            "2:service": "media",
            "2:action": "get",
            "2:entryId": "0_none",
        },
        timeout=10,
    )
    items = etree.fromstring(resp.content).findall("result/item")
    assert items[0].text == "1"
    assert items[1].findtext("error/code") == "ENTRY_ID_NOT_FOUND"


def test_a_new_sandbox_on_the_same_dir_sees_everything(tmp_path: Path, sample_mp4: Path) -> None:
    server = start_kaltura_server(tmp_path / "s")
    try:
        ks = server.user_ks("u")
        manifest = server.service.manifest()
        entry = server.call("media", "add", {"entry": {"name": "kept"}}, ks=ks)
        partial = server.call("uploadToken", "add", {}, ks=ks)
        server.call(
            "uploadToken",
            "upload",
            {"uploadTokenId": partial["id"], "finalChunk": False},
            ks=ks,
            file=b"12345",
        )
        full = server.call("uploadToken", "add", {}, ks=ks)
        server.call(
            "uploadToken",
            "upload",
            {"uploadTokenId": full["id"]},
            ks=ks,
            file=sample_mp4.read_bytes(),
        )
        server.call(
            "media",
            "addContent",
            {
                "entryId": entry["id"],
                "resource": {"objectType": "KalturaUploadedFileTokenResource", "token": full["id"]},
            },
            ks=ks,
        )
    finally:
        server.stop()
    again = start_kaltura_server(tmp_path / "s")
    try:
        m2 = again.service.manifest()
        assert (m2["admin_secret"], m2["app_token"]) == (
            manifest["admin_secret"],
            manifest["app_token"],
        )
        assert (
            again.call("uploadToken", "get", {"uploadTokenId": partial["id"]}, ks=ks)[
                "uploadedFileSize"
            ]
            == 5
        )
        resumed = again.call(
            "uploadToken",
            "upload",
            {"uploadTokenId": partial["id"], "resume": True, "resumeAt": 5},
            ks=ks,
            file=b"678",
        )
        assert (resumed["status"], resumed["uploadedFileSize"]) == (2, 8)
        deadline = time.monotonic() + 20
        while again.call("media", "get", {"entryId": entry["id"]}, ks=ks)["status"] != 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert again.call("media", "get", {"entryId": entry["id"]}, ks=ks)["name"] == "kept"
    finally:
        again.stop()


def test_unexpected_bug_is_an_internal_error_not_a_traceback(
    kaltura_server: KalturaServer, allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("^kaltura sandbox: unexpected error$")  # logged with its traceback

    def boom(call: object) -> None:
        raise RuntimeError("secret internals")

    kaltura_server.service._actions[("system", "ping")] = boom
    resp = requests.post(
        _url(kaltura_server, "service/system/action/ping"), json={"format": 1}, timeout=10
    )
    assert resp.status_code == 200
    assert resp.json()["code"] == "INTERNAL_SERVERL_ERROR"
    assert "secret internals" not in resp.text


def test_a_body_cut_off_mid_part_leaves_nothing_behind(kaltura_server: KalturaServer) -> None:
    import socket

    ks = kaltura_server.user_ks("u")
    token = kaltura_server.call("uploadToken", "add", {}, ks=ks)
    head = (
        '--b\r\nContent-Disposition: form-data; name="json"\r\n\r\n'
        + json.dumps({"ks": ks, "uploadTokenId": token["id"], "format": 1})
        + '\r\n--b\r\nContent-Disposition: form-data; name="fileData"; filename="a.bin"\r\n\r\n'
    ).encode() + b"x" * 5000
    with socket.create_connection(("127.0.0.1", kaltura_server.server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api_v3/service/uploadtoken/action/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {len(head) + 100000}\r\n\r\n".encode()
            + head
        )
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    deadline = time.monotonic() + 5
    tmp = kaltura_server.data_dir / "kaltura" / "tmp"
    while list(tmp.iterdir()):
        assert time.monotonic() < deadline, list(tmp.iterdir())
        time.sleep(0.02)
    assert (
        kaltura_server.call("uploadToken", "get", {"uploadTokenId": token["id"]}, ks=ks)["status"]
        == 0
    )


def test_oversize_json_body_gets_413(kaltura_server: KalturaServer) -> None:
    resp = requests.post(
        _url(kaltura_server, "service/system/action/ping"),
        data=b'{"a":"' + b"x" * (17 << 20) + b'"}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 413


_KEYS = st.sampled_from(
    [
        "ks",
        "entryId",
        "entry:name",
        "entry[userId]",
        "filter:idIn",
        "pager[pageSize]",
        "resume",
        "resumeAt",
        "uploadTokenId",
        "format",
        "0:service",
        "1:action",
        "x__null",
        "entry:-",
        "{1:result}",
        "a[b][c]",
        ":",
        "[]",
    ]
) | st.text(min_size=1, max_size=12)
_VALUES = st.text(max_size=30) | st.sampled_from(
    ["{1:result:id}", "-1", "1e9", "false", "\x00", "0_x", "2"]
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    service=st.sampled_from(
        ["media", "uploadToken", "session", "appToken", "multirequest", "category", "nope"]
    ),
    action=st.sampled_from(
        ["get", "add", "list", "upload", "start", "startSession", "update", "delete", "zz"]
    ),
    form=st.dictionaries(_KEYS, _VALUES, max_size=8),
)
def test_any_form_input_gets_a_kaltura_answer(
    kaltura_server: KalturaServer, service: str, action: str, form: dict[str, str]
) -> None:
    resp = requests.post(
        _url(kaltura_server, f"service/{service}/action/{action}"), data=form, timeout=10
    )
    assert resp.status_code == 200
    if resp.headers["Content-Type"].startswith("application/json"):
        resp.json()
    else:
        root = etree.fromstring(resp.content)
        assert root.find("result") is not None
    assert b"INTERNAL_SERVERL_ERROR" not in resp.content  # no bug hidden behind the catch-all


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    service=st.sampled_from(["media", "uploadToken", "appToken", "multirequest", "categoryEntry"]),
    action=st.sampled_from(
        ["get", "add", "list", "upload", "startSession", "update", "addContent"]
    ),
    body=st.dictionaries(_KEYS, _JSON, max_size=6),
    as_admin=st.booleans(),
)
def test_any_json_input_gets_a_kaltura_answer(
    kaltura_server: KalturaServer,
    service: str,
    action: str,
    body: dict[str, object],
    as_admin: bool,
) -> None:
    if as_admin:
        body = {**body, "ks": kaltura_server.admin_ks()}
    resp = requests.post(
        _url(kaltura_server, f"service/{service}/action/{action}"), json=body, timeout=10
    )
    assert resp.status_code == 200
    assert b"INTERNAL_SERVERL_ERROR" not in resp.content

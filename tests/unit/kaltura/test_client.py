"""The wire layer (app.kaltura.client): URLs, TLS, headers, and errors of every shape."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from app import __version__
from app.errors import KalturaError, NetworkError
from app.kaltura.client import KalturaClient, _TLSAdapter, is_loopback_url
from app.kaltura.errors import (
    KalturaAPIError,
    KalturaConfigError,
    KalturaNetworkError,
    KalturaResponseError,
    normalize_args,
)
from app.sandbox.httpd import RunningServer, serve


def _response(body: bytes | str, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    r = requests.Response()
    r.status_code = status
    r._content = body.encode() if isinstance(body, str) else body
    r.headers.update(headers or {})
    return r


@pytest.fixture
def client() -> KalturaClient:
    return KalturaClient("https://www.kaltura.com", partner_id=1)


def test_plain_http_is_refused_except_for_loopback() -> None:
    with pytest.raises(KalturaConfigError, match="plain http"):
        KalturaClient("http://kaltura.example.com", partner_id=1)
    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        assert KalturaClient(url, partner_id=1).is_loopback
    assert not KalturaClient("https://www.kaltura.com/", partner_id=1).is_loopback
    assert is_loopback_url("http://127.0.0.2/") and not is_loopback_url("http://10.0.0.1/")


@pytest.mark.parametrize("url", ["ftp://x.example", "www.kaltura.com", "https://", ""])
def test_not_a_url(url: str) -> None:
    with pytest.raises(KalturaConfigError):
        KalturaClient(url, partner_id=1)


@pytest.mark.parametrize("pid", [0, -5])
def test_partner_id_must_be_positive(pid: int) -> None:
    with pytest.raises(KalturaConfigError, match="partner id"):
        KalturaClient("https://www.kaltura.com", partner_id=pid)


def test_tls_adapter_requires_tls12_and_verification(client: KalturaClient) -> None:
    adapter = client.http.get_adapter("https://www.kaltura.com/")
    assert isinstance(adapter, _TLSAdapter)
    assert adapter.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert adapter.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert adapter.ssl_context.check_hostname
    prepared = requests.Request("POST", "https://www.kaltura.com/x").prepare()
    with pytest.raises(KalturaConfigError, match="certificate"):
        adapter.send(prepared, verify=False)


def test_api_exception_in_json_is_typed(client: KalturaClient) -> None:
    body = {
        "code": "ENTRY_ID_NOT_FOUND",
        "message": 'Entry id "0_x" not found',
        "objectType": "KalturaAPIException",
        "args": {"ENTRY_ID": "0_x"},
    }
    with pytest.raises(KalturaAPIError) as err:
        client._parse(_response(json.dumps(body)), "media", "get")
    e = err.value
    assert isinstance(e, KalturaError)
    assert (e.code, e.server_message, e.kaltura_args) == (
        "ENTRY_ID_NOT_FOUND",
        'Entry id "0_x" not found',
        {"ENTRY_ID": "0_x"},
    )
    assert "media.get" in e.message


def test_api_exception_with_empty_list_args_and_missing_fields(client: KalturaClient) -> None:
    with pytest.raises(KalturaAPIError) as err:
        client._parse(_response('{"objectType":"KalturaAPIException","args":[]}'), "a", "b")
    assert err.value.code == "UNKNOWN_ERROR" and err.value.kaltura_args == {}


def test_api_exception_in_xml_is_typed(client: KalturaClient) -> None:
    xml = (
        "<?xml version='1.0'?><xml><result><error><code>INVALID_KS</code>"
        "<message>Invalid KS</message><objectType>KalturaAPIException</objectType><args>"
        "<item><objectType>KalturaApiExceptionArg</objectType><name>KSID</name>"
        "<value>abc</value></item></args></error></result></xml>"
    )
    with pytest.raises(KalturaAPIError) as err:
        client._parse(_response(xml), "media", "list")
    assert err.value.code == "INVALID_KS"
    assert err.value.kaltura_args == {"KSID": "abc"}
    assert err.value.is_invalid_ks()


@pytest.mark.parametrize(
    "body",
    ["<html><body>Gateway</body></html>", "not json at all", '{"truncated": ', "\xff\xfe"],
)
def test_garbage_is_a_response_error(client: KalturaClient, body: str) -> None:
    with pytest.raises(KalturaResponseError):
        client._parse(_response(body), "media", "get")


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_retryable_network_errors(client: KalturaClient, status: int) -> None:
    with pytest.raises(KalturaNetworkError) as err:
        client._parse(_response("oops", status, {"Retry-After": "7"}), "a", "b")
    assert isinstance(err.value, NetworkError)
    assert err.value.status == status and err.value.retry_after == 7.0


@pytest.mark.parametrize("status", [301, 400, 403, 404])
def test_other_statuses_are_response_errors(client: KalturaClient, status: int) -> None:
    with pytest.raises(KalturaResponseError) as err:
        client._parse(_response("no", status), "a", "b")
    assert err.value.status == status


def test_results_of_every_json_shape(client: KalturaClient) -> None:
    assert client._parse(_response('"a-ks-string"'), "s", "a") == "a-ks-string"
    assert client._parse(_response("null"), "s", "a") is None
    assert client._parse(_response(""), "s", "a") is None
    assert client._parse(_response("[1,2]"), "s", "a") == [1, 2]
    ok = {"id": "0_a", "objectType": "KalturaMediaEntry"}
    assert client._parse(_response(json.dumps(ok)), "s", "a") == ok


def test_normalize_args_shapes() -> None:
    assert normalize_args(None) == {} and normalize_args([]) == {}
    assert normalize_args({"A": 1, "B": None}) == {"A": "1", "B": ""}
    assert normalize_args([{"name": "X", "value": "y"}, "z"]) == {"X": "y", "1": "z"}
    assert normalize_args("weird") == {"_": "weird"}


# ---------------------------------------------------------------- on the wire


class _Capture:
    """A WSGI app that records requests and answers with a canned body."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.answer = b'{"objectType":"KalturaStartWidgetSessionResponse","ks":"k"}'

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        self.seen.append(
            {
                "path": environ["PATH_INFO"],
                "content_type": environ.get("CONTENT_TYPE"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
                "body": body,
            }
        )
        start_response("200 OK", [("Content-Type", "application/json")])
        return [self.answer]


@pytest.fixture
def capture() -> Iterator[tuple[_Capture, RunningServer]]:
    app = _Capture()
    server = serve(app, name="capture")
    try:
        yield app, server
    finally:
        server.stop()


def test_json_call_on_the_wire(capture: tuple[_Capture, RunningServer]) -> None:
    app, server = capture
    c = KalturaClient(server.url, partner_id=42)
    res = c.call("session", "startWidgetSession", {"widgetId": "_42", "skip": None}, ks="KS1")
    assert res["ks"] == "k"
    req = app.seen[-1]
    assert req["path"] == "/api_v3/service/session/action/startWidgetSession"
    assert req["content_type"] == "application/json"  # exactly: no charset suffix
    assert req["user_agent"].startswith(f"VideoMessaging/{__version__} ")
    body = json.loads(req["body"])
    assert body == {
        "widgetId": "_42",
        "format": 1,
        "partnerId": 42,
        "clientTag": f"vmsg-{__version__}",
        "ks": "KS1",
    }


def test_upload_is_multipart_with_json_and_filedata(
    capture: tuple[_Capture, RunningServer],
) -> None:
    app, server = capture
    c = KalturaClient(server.url, partner_id=42)
    data = bytes(range(256)) * 100
    c.upload("uploadToken", "upload", {"uploadTokenId": "t", "resumeAt": 0}, data, ks="K")
    req = app.seen[-1]
    assert req["content_type"].startswith("multipart/form-data; boundary=")
    assert b'name="json"' in req["body"] and b'name="fileData"' in req["body"]
    assert data in req["body"]
    assert c.stats.payload_bytes_sent == len(data) and c.stats.upload_requests == 1


def test_unreachable_server_is_a_network_error_never_sent() -> None:
    server = serve(_Capture(), name="gone")
    url = server.url
    server.stop()
    c = KalturaClient(url, partner_id=1, timeout=(1.0, 1.0))
    with pytest.raises(KalturaNetworkError) as err:
        c.call("system", "ping")
    assert err.value.maybe_processed is False

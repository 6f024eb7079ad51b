"""The wire layer (app.kaltura.client): URLs, TLS, headers, and errors of every shape."""

from __future__ import annotations

import json
import ssl
from typing import Any

import pytest
import requests

from app.errors import KalturaError, NetworkError
from app.kaltura.client import KalturaClient, is_loopback_url
from app.kaltura.errors import (
    KalturaAPIError,
    KalturaConfigError,
    KalturaNetworkError,
    KalturaResponseError,
    normalize_args,
)
from app.net import InsecureRequest, TLSAdapter


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
    assert isinstance(adapter, TLSAdapter)
    assert adapter.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert adapter.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert adapter.ssl_context.check_hostname
    prepared = requests.Request("POST", "https://www.kaltura.com/x").prepare()
    with pytest.raises(InsecureRequest, match="certificate"):
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

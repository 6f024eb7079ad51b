"""The Kaltura wire layer on a real socket: what the client writes, and a refused connection.

The rest of the wire layer's rules are checked without a server in
tests/unit/kaltura/test_client.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app import __version__
from app.kaltura.client import KalturaClient
from app.kaltura.errors import KalturaNetworkError
from app.sandbox.httpd import RunningServer, serve


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

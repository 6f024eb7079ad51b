"""No odd request breaks a sandbox server, and its admin API answers only the app's own
tools (issue: "Sandbox fidelity, second opinion").

Raw bytes go to each of the three servers over a real socket (TLS for identity and Graph,
trusting the sandbox's CA). Each must answer with an HTTP status line, or close quietly
when the client sent no request at all; an error inside a server is logged at ERROR,
which fails the test (tests/conftest.py).
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sandbox.httpd import ADMIN_HEADER

SERVERS = ("kaltura", "identity", "graph")


def _server(sandbox: Any, name: str) -> Any:
    return {
        "kaltura": sandbox.kaltura_server,
        "identity": sandbox.microsoft.identity_server,
        "graph": sandbox.microsoft.graph_server,
    }[name]


def _raw(sandbox: Any, name: str, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data``, close our side, read everything the server answers."""
    server = _server(sandbox, name)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    if server.scheme == "https":
        context = ssl.create_default_context(cafile=str(sandbox.microsoft.ca_file))
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(data)
        if server.scheme == "http":
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            out += chunk
            if server.scheme == "https" and b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                if len(body) >= length:
                    break
        return out


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), f"no HTTP answer: {answer[:80]!r}"
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n", 431),
        (b"\x00\x01\x02 nonsense\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GET\r\n\r\n", 400),
    ],
    ids=["request-line-70KB", "header-70KB", "150-headers", "garbage", "HTTP-9.9", "no-path"],
)
def test_odd_requests_get_an_http_answer(
    sandbox: Any, name: str, request_bytes: bytes, status: int
) -> None:
    assert _status(_raw(sandbox, name, request_bytes)) == status
    # ... and the server goes on serving.
    server = _server(sandbox, name)
    verify = str(sandbox.microsoft.ca_file)
    assert requests.get(f"{server.url}/_sandbox/health", verify=verify, timeout=10).ok


@pytest.mark.parametrize("name", SERVERS)
def test_random_bytes_never_break_a_server(sandbox: Any, name: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            st.binary(min_size=1, max_size=2000).map(lambda b: b + b"\r\n\r\n"),
            st.builds(
                lambda method, path, junk: (
                    method + b" " + path + b" HTTP/1.1\r\n" + junk + b"\r\n\r\n"
                ),
                st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"]),
                st.binary(min_size=1, max_size=300).map(lambda p: b"/" + p.replace(b" ", b"")),
                st.binary(max_size=500),
            ),
        )
    )
    def one(data: bytes) -> None:
        answer = _raw(sandbox, name, data)
        # Silence only for a blank first line (HTTP lets a server ignore it); anything
        # else is a request and gets an answer, never a dropped connection.
        if data.split(b"\n", 1)[0].strip(b" \t\r"):
            assert answer.startswith(b"HTTP/1."), (data[:80], answer[:80])

    one()
    server = _server(sandbox, name)
    assert requests.get(
        f"{server.url}/_sandbox/health", verify=str(sandbox.microsoft.ca_file), timeout=10
    ).ok


@pytest.mark.parametrize("name", SERVERS)
def test_the_admin_api_answers_only_with_the_sandboxs_token(sandbox: Any, name: str) -> None:
    server = _server(sandbox, name)
    verify = str(sandbox.microsoft.ca_file)
    url = f"{server.url}/_sandbox"
    token = sandbox.manifest["admin"]["token"]
    assert sandbox.manifest["admin"]["header"] == ADMIN_HEADER
    before = server.faults.config
    # What any web page the user opens can send without a preflight: a "simple" POST.
    page = requests.post(
        f"{url}/faults",
        data=json.dumps({"failure_rate": 1.0}),
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        verify=verify,
        timeout=10,
    )
    assert page.status_code == 403
    assert requests.get(f"{url}/requests", verify=verify, timeout=10).status_code == 403
    assert requests.put(f"{url}/faults", json={"failure_rate": 1.0}, verify=verify,
                        headers={ADMIN_HEADER: "guess"}, timeout=10).status_code == 403  # fmt: skip
    # The token, but not JSON: refused too.
    plain = requests.post(f"{url}/faults", data='{"failure_rate": 1.0}', verify=verify,
                          headers={ADMIN_HEADER: token, "Content-Type": "text/plain"},
                          timeout=10)  # fmt: skip
    assert plain.status_code == 415
    assert server.faults.config == before  # nothing changed
    # The app's own tools: the token from sandbox.json, JSON.
    ok = requests.put(f"{url}/faults", json={"latency_ms": 1}, verify=verify,
                      headers={ADMIN_HEADER: token}, timeout=10)  # fmt: skip
    assert ok.status_code == 200 and server.faults.config.latency_ms == 1
    assert requests.get(f"{url}/requests", headers={ADMIN_HEADER: token}, verify=verify,
                        timeout=10).status_code == 200  # fmt: skip
    # Health stays open: it tells nothing.
    assert requests.get(f"{url}/health", verify=verify, timeout=10).json()["ok"] is True


def test_the_manifest_on_disk_carries_the_token(sandbox: Any) -> None:
    manifest = json.loads(sandbox.manifest_path.read_text(encoding="utf-8"))
    assert manifest["admin"] == sandbox.manifest["admin"]
    assert len(manifest["admin"]["token"]) >= 24

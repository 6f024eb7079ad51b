"""Log redaction of a real MSAL debug line: MSAL's own loopback listener receives an
authorization code and an id_token, and neither reaches the log file."""

from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path

import pytest
import requests
from msal.oauth2cli.authcode import AuthCodeReceiver

from app import logsetup

AUTH_CODE = "0.AXoA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvWxYz-authcode_Secret123"


def _jwt(claims: dict[str, object]) -> str:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJlLXNlY3JldA"


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = logsetup.setup(verbose=True, log_file=tmp_path / "vmsg.log")
    yield path
    for handler in logging.getLogger().handlers:
        handler.flush()


def _read(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_real_msal_debug_line_with_auth_code_and_jwt_is_redacted(log_file: Path) -> None:
    """MSAL's loopback receiver logs the whole auth response at DEBUG: code and id_token."""
    id_token = _jwt({"sub": "user-1", "preferred_username": "zoe@contoso.example"})
    with AuthCodeReceiver(port=0) as receiver:
        result: dict[str, object] = {}

        def wait() -> None:
            result.update(receiver.get_auth_response(timeout=10, state="st4te") or {})

        waiter = threading.Thread(target=wait)
        waiter.start()
        # The identity provider's form_post, as a browser would submit it.
        requests.post(
            f"http://127.0.0.1:{receiver.get_port()}/",
            data={"code": AUTH_CODE, "state": "st4te", "id_token": id_token},
            timeout=10,
        )
        waiter.join(10)
    assert result.get("code") == AUTH_CODE  # MSAL really received it...
    text = _read(log_file)
    assert "Got auth response" in text  # ...and really logged it at DEBUG...
    assert AUTH_CODE not in text  # ...but neither secret reached the file.
    assert id_token not in text
    assert id_token.split(".")[1] not in text
    assert logsetup.REDACTED in text

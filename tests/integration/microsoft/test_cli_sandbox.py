"""``vmsg login/whoami/people/logout`` against the whole sandbox, as a user would run them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import cli
from app import settings as settings_mod


def _no_secret_service(_location: str) -> object:
    raise RuntimeError("libsecret did not perform properly (no Secret Service)")


@pytest.fixture
def plaintext_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a Secret Service whose user allowed the 0600 file."""
    from app.microsoft import token_cache

    monkeypatch.setattr(token_cache, "build_encrypted_persistence", _no_secret_service)
    settings_mod.save(settings_mod.Settings(allow_plaintext_token_cache=True))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_login_people_whoami_logout(
    sandbox: Any, plaintext_allowed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "whoami")
    assert code == 1 and "Not signed in" in out

    code, out, err = run(capsys, "login", "--device-code")
    assert code == 0, err
    assert "Signed in to Microsoft 365 as" in out
    assert "code" in err.lower()  # the device-code instructions
    assert "stored unencrypted" in err  # the plaintext warning is visible

    code, out, err = run(capsys, "people", "o'brien")
    assert code == 0, err
    assert "Conor O'Brien <" in out

    code, out, err = run(capsys, "people", "Zoë", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert "Zoë Dubois" in [s["name"] for s in data["suggestions"]]

    code, out, err = run(capsys, "whoami", "--json")
    assert code == 0, err
    me = json.loads(out)
    assert me["signed_in"] and me["username"] in {s["email"] for s in sandbox.manifest["senders"]}
    assert me["token_storage_encrypted"] is False

    code, out, err = run(capsys, "logout")
    assert code == 0, err
    assert "Signed out" in out and "App permissions" in out

    code, out, err = run(capsys, "people", "o'brien")
    assert code == 1 and "not signed in" in err.lower()


def test_people_without_a_query_says_what_to_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "people", "  ")
    assert code == 1 and "vmsg people QUERY" in err


def test_no_secure_storage_and_plaintext_not_allowed_is_explained(
    sandbox: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.microsoft import token_cache

    monkeypatch.setattr(token_cache, "build_encrypted_persistence", _no_secret_service)
    code, _out, err = run(capsys, "login", "--device-code")
    assert code == 1
    assert "Cannot store your Microsoft sign-in securely" in err
    assert "allow_plaintext_token_cache" in err


@pytest.mark.needs_keyring
def test_login_keeps_the_sign_in_in_the_secret_service(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.microsoft.token_cache import TokenCacheStore, TokenCacheUnavailable

    try:
        TokenCacheStore("probe")
    except TokenCacheUnavailable:
        pytest.skip("no Secret Service here; dev.sh test runs one")
    code, _out, err = run(capsys, "login", "--device-code")
    assert code == 0, err
    assert "unencrypted" not in err
    code, out, err = run(capsys, "whoami", "--json")
    assert code == 0, err
    assert json.loads(out)["token_storage_encrypted"] is True
    assert run(capsys, "logout")[0] == 0

"""Session pieces that need no server (app.kaltura.session); the flows run in
tests/integration/kaltura/test_sessions.py against the sandbox."""

from __future__ import annotations

import hashlib

import pytest

from app.kaltura.client import KalturaClient
from app.kaltura.errors import KalturaConfigError, KalturaSettingsError
from app.kaltura.session import (
    AdminSecretCredentials,
    AppTokenCredentials,
    KalturaSession,
    LoginCredentials,
    token_hash,
)


@pytest.mark.parametrize("kind", ["MD5", "SHA1", "SHA256", "SHA512", "sha256"])
def test_token_hash_is_hex_of_widget_ks_plus_token(kind: str) -> None:
    expected = hashlib.new(kind.lower(), b"WKS" + b"secret").hexdigest()
    assert token_hash(kind, "WKS", "secret") == expected


def test_unknown_hash_type_names_the_setting() -> None:
    with pytest.raises(KalturaSettingsError) as err:
        token_hash("SHA3", "k", "t")
    assert err.value.setting == "app_token_hash_type"


def test_admin_secret_is_refused_outside_the_sandbox() -> None:
    remote = KalturaClient("https://www.kaltura.com", partner_id=5)
    with pytest.raises(KalturaConfigError, match="only accepted for the built-in sandbox"):
        KalturaSession(remote, AdminSecretCredentials("s"), user_id="a@b.c", sandbox=True)
    local = KalturaClient("http://127.0.0.1:9", partner_id=5)
    with pytest.raises(KalturaConfigError):
        KalturaSession(local, AdminSecretCredentials("s"), user_id="a@b.c", sandbox=False)
    KalturaSession(local, AdminSecretCredentials("s"), user_id="a@b.c", sandbox=True)


def test_a_user_is_required() -> None:
    c = KalturaClient("https://www.kaltura.com", partner_id=5)
    with pytest.raises(KalturaConfigError, match="signed in"):
        KalturaSession(c, AppTokenCredentials("id", "tok"), user_id="  ")


def test_credentials_never_print_their_secrets() -> None:
    assert "Zq9secret" not in repr(AppTokenCredentials("id1", "Zq9secret"))
    assert "pw" not in repr(LoginCredentials("me", "pw"))
    assert "s3cr3t" not in repr(AdminSecretCredentials("s3cr3t"))

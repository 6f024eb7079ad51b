"""Small secrets go to the real OS keyring (gnome-keyring under D-Bus in CI)."""

from __future__ import annotations

import pytest

from app import secrets


def _secure_keyring() -> bool:
    return secrets.backend_info().secure


@pytest.mark.needs_keyring
def test_store_fetch_delete_in_the_secret_service() -> None:
    if not _secure_keyring():
        pytest.skip("no Secret Service here (dev.sh test runs one)")
    secrets.store("Test Profile", "kaltura-app-token", "s3cr3t-token-value")
    assert secrets.fetch("Test Profile", "kaltura-app-token") == "s3cr3t-token-value"
    assert secrets.delete("Test Profile", "kaltura-app-token") is True
    assert secrets.fetch("Test Profile", "kaltura-app-token") is None
    assert secrets.delete("Test Profile", "kaltura-app-token") is False


def test_oversize_secret_is_refused_before_the_keyring() -> None:
    with pytest.raises(secrets.SecretStoreError, match="too long"):
        secrets.store("p", "k", "x" * (secrets.MAX_SECRET_CHARS + 1))


def test_fail_backend_is_reported_insecure(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", fail.Keyring)
    info = secrets.backend_info()
    assert info.secure is False and "fail" in info.name


def test_fail_backend_gives_a_clear_error() -> None:
    import keyring
    from keyring.backends import fail

    original = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(secrets.SecretStoreError, match="system keyring"):
            secrets.store("p", "k", "v")
        with pytest.raises(secrets.SecretStoreError, match="system keyring"):
            secrets.fetch("p", "k")
    finally:
        keyring.set_keyring(original)

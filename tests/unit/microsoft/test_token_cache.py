"""Token cache storage: encrypted or nothing, unless plaintext is allowed; corrupt caches reset."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from app.errors import Action
from app.microsoft import token_cache as tc
from tests.helpers import assert_mode


def headless(location: str) -> object:
    raise RuntimeError("libsecret did not perform properly.\n* Headless mode ...")


def no_gi(location: str) -> object:
    raise ImportError("Unable to import module 'gi'")


@pytest.mark.parametrize("factory", [headless, no_gi])
def test_no_secure_storage_and_no_permission_is_a_clear_error(factory: object) -> None:
    with pytest.raises(tc.TokenCacheUnavailable) as info:
        tc.TokenCacheStore("Contoso", persistence_factory=factory)  # type: ignore[arg-type]
    assert "securely" in info.value.message
    assert "allow_plaintext_token_cache" in info.value.hint


def test_plaintext_fallback_only_when_allowed_with_0600_file_0700_dir_and_a_warning() -> None:
    store = tc.TokenCacheStore("Contoso", allow_plaintext=True, persistence_factory=headless)
    assert not store.is_encrypted
    assert store.warning == tc.PLAINTEXT_WARNING
    store.cache.add(
        {
            "client_id": "c",
            "scope": ["User.Read"],
            "token_endpoint": "https://login.example/t/oauth2/v2.0/token",
            "response": {"access_token": "AT", "refresh_token": "RT", "expires_in": 3600},
        }
    )
    store.after_write()
    path = store.location
    assert path.exists()
    assert_mode(path, 0o600)
    assert_mode(path.parent, 0o700)
    check = tc.storage_check(store)
    assert check.status == "warn" and "NOT encrypted" in check.value and check.fix


def test_each_profile_has_its_own_cache_file() -> None:
    a = tc.cache_location("Contoso")
    b = tc.cache_location("Fabrikam")
    c = tc.cache_location("Contoso/../x")
    assert len({a, b, c}) == 3
    assert all(p.parent == tc.cache_dir() for p in (a, b, c))


def test_a_corrupt_cache_is_detected_and_reset(tmp_path: Path) -> None:
    location = tmp_path / "msal" / "p.cache"
    location.parent.mkdir()
    location.write_text('{"AccessToken": {"broken": ')
    store = tc.TokenCacheStore(
        "p", allow_plaintext=True, location=location, persistence_factory=headless
    )
    assert store.was_reset
    assert location.read_text(encoding="utf-8") == "{}"


def test_a_wrong_shape_cache_is_reset_too(tmp_path: Path) -> None:
    location = tmp_path / "p.cache"
    location.write_text("[1, 2, 3]")
    store = tc.TokenCacheStore(
        "p", allow_plaintext=True, location=location, persistence_factory=headless
    )
    assert store.was_reset


def test_a_good_cache_is_kept(tmp_path: Path) -> None:
    location = tmp_path / "p.cache"
    location.write_text('{"Account": {}}')
    store = tc.TokenCacheStore(
        "p", allow_plaintext=True, location=location, persistence_factory=headless
    )
    assert not store.was_reset
    assert location.read_text(encoding="utf-8") == '{"Account": {}}'


class FakeEncrypted:
    """Stands in for an OS store in a unit test (the real one is tested under needs_keyring)."""

    is_encrypted = True

    def __init__(self, location: str) -> None:
        self.location = location
        self.data: str | None = None

    def save(self, content: str) -> None:
        self.data = content

    def load(self) -> str:
        from msal_extensions.persistence import PersistenceNotFound

        if self.data is None:
            raise PersistenceNotFound()
        return self.data

    def time_last_modified(self) -> float:
        return 0.0

    def get_location(self) -> str:
        return self.location


def test_encrypted_store_reports_ok_for_doctor() -> None:
    store = tc.TokenCacheStore("p", persistence_factory=FakeEncrypted)
    assert store.is_encrypted and store.warning == ""
    assert tc.storage_check(store).status == "ok"


def test_doctor_check_explains_missing_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tc, "build_encrypted_persistence", headless)
    refused = tc.doctor_check("p", allow_plaintext=False)
    assert refused.status == "warn" and "securely" in refused.value
    assert "allow_plaintext_token_cache" in refused.fix
    allowed = tc.doctor_check("p", allow_plaintext=True)
    assert allowed.status == "warn" and "NOT encrypted" in allowed.value


class KeychainError(Exception):
    """The name and shape of msal_extensions.osx.KeychainError (macOS only)."""

    def __init__(self, exit_status: int) -> None:
        super().__init__(f"keychain error {exit_status}")
        self.exit_status = exit_status


def _store_that_fails(error: Exception) -> type[FakeEncrypted]:
    class Failing(FakeEncrypted):
        def __init__(self, location: str) -> None:
            super().__init__(location)
            self.data = '{"Account": {"a": {"home_account_id": "a"}}}'
            self.saves = 0

        def save(self, content: str) -> None:
            self.saves += 1
            super().save(content)

        def load(self) -> str:
            raise error

    return Failing


@pytest.mark.parametrize(
    "error",
    [
        KeychainError(-25308),  # errSecInteractionNotAllowed: the keychain is locked
        KeychainError(-128),  # userCanceledErr: "Deny" clicked
        TimeoutError("lock file held by another process"),
    ],
)
def test_a_locked_or_denied_store_keeps_the_sign_in(error: Exception) -> None:
    """A "Deny" click or a locked keychain is "not now": the cache is never reset for it
    (that would sign the person out), and the error says what to do."""
    factory = _store_that_fails(error)
    with pytest.raises(tc.TokenCacheLocked) as info:
        tc.TokenCacheStore("p", persistence_factory=factory)
    assert "locked, or access to it was refused" in info.value.message
    assert info.value.action is Action.RETRY and info.value.hint


def test_a_cache_that_cannot_be_decrypted_is_reset() -> None:
    from msal_extensions.persistence import PersistenceDecryptionError

    factory = _store_that_fails(PersistenceDecryptionError(err_no=13, message="bad data"))
    store = tc.TokenCacheStore("p", persistence_factory=factory)
    assert store.was_reset and store.persistence.saves == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the limit is for libsecret")
def test_a_secret_service_that_never_answers_is_given_up_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A desktop with a display but no answering Secret Service: libsecret would wait
    forever, and the sign-in with it. The store gives up, as with no secure storage."""
    release = threading.Event()

    def stuck(location: str) -> object:
        release.wait(30)
        raise RuntimeError("too late")

    monkeypatch.setattr(tc, "SECRET_SERVICE_TIMEOUT", 0.3)
    try:
        with pytest.raises(tc.TokenCacheUnavailable) as info:
            tc.TokenCacheStore("Contoso", persistence_factory=stuck)
        assert "did not answer within" in info.value.message
        store = tc.TokenCacheStore("Contoso", allow_plaintext=True, persistence_factory=stuck)
        assert store.storage == "plaintext file" and store.warning == tc.PLAINTEXT_WARNING
    finally:
        release.set()

"""Small secrets go to the real OS keyring (gnome-keyring under D-Bus in CI)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import secrets
from app.cli import account


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


def _vmsg(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], input=stdin, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.needs_keyring
def test_vmsg_secret_stores_and_deletes_what_the_app_reads() -> None:
    """The frozen app has no ``keyring`` command: ``vmsg secret`` is how a Kaltura
    password or an SMTP password gets into the keyring."""
    if not _secure_keyring():
        pytest.skip("no Secret Service here (dev.sh test runs one)")
    done = _vmsg("secret", "set", "smtp-password", "--stdin", stdin="pa ss\n")
    assert done.returncode == 0, done.stderr
    assert "stored for profile Sandbox in the OS keyring" in done.stdout
    assert secrets.fetch("Sandbox", "smtp-password") == "pa ss"
    done = _vmsg("secret", "delete", "smtp-password")
    assert done.returncode == 0 and "deleted" in done.stdout
    assert secrets.fetch("Sandbox", "smtp-password") is None


def test_vmsg_secret_refuses_what_it_cannot_store() -> None:
    assert account.SECRET_NAMES == secrets.PROFILE_SECRETS
    unknown = _vmsg("secret", "set", "password", "--stdin", stdin="x\n")
    assert unknown.returncode == 1 and "There is no secret named 'password'" in unknown.stderr
    empty = _vmsg("secret", "set", "smtp-password", "--stdin", stdin="\n")
    assert empty.returncode == 1 and "empty; nothing was stored" in empty.stderr
    no_tty = _vmsg("secret", "set", "smtp-password")
    assert no_tty.returncode == 1 and "--stdin" in no_tty.stderr
    wrong = _vmsg("--profile", "Nobody", "secret", "set", "smtp-password", "--stdin", stdin="x")
    assert wrong.returncode == 1 and 'no profile named "Nobody"' in wrong.stderr

"""The token cache in the real Secret Service, and no issued token anywhere the app writes.

Runs where a Secret Service is reachable (``dev.sh test`` starts gnome-keyring on a private
D-Bus session); skipped elsewhere, since without one there is nothing encrypted to test.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import logsetup
from app.microsoft.token_cache import TokenCacheStore, TokenCacheUnavailable
from tests.helpers import assert_mode
from tests.integration.microsoft.conftest import AutoBrowser, make_graph, make_signin


@pytest.fixture
def app_log(isolated_user_dirs: Path) -> Iterator[Path]:
    """The app's own logging setup at DEBUG (MSAL's most talkative level), to a test file."""
    msal_level = logging.getLogger("msal").level
    root_level = logging.getLogger().level
    path = logsetup.setup(verbose=True, log_file=isolated_user_dirs / "state" / "vmsg.log")
    try:
        yield path
    finally:
        for handler in list(logsetup._installed):
            logging.getLogger().removeHandler(handler)
            handler.close()
        logsetup._installed.clear()
        logging.getLogger("msal").setLevel(msal_level)
        logging.getLogger().setLevel(root_level)


def encrypted_store(profile: str = "Sandbox") -> TokenCacheStore:
    try:
        return TokenCacheStore(profile)
    except TokenCacheUnavailable as exc:
        pytest.skip(f"no Secret Service here ({exc.message}); dev.sh test runs one")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.needs_keyring
def test_cache_lives_in_the_secret_service_and_no_token_leaks(
    ms_sandbox: Any, auto_browser: AutoBrowser, isolated_user_dirs: Path, app_log: Path
) -> None:
    store = encrypted_store()
    assert store.is_encrypted and store.warning == ""
    assert type(store.persistence).__name__ == "LibsecretPersistence"

    # Every kind of token the sandbox issues: auth code, device code, access, refresh, id.
    signin = make_signin(ms_sandbox, store)
    signin.sign_in()
    graph = make_graph(ms_sandbox, signin)
    graph.get_json("/me")
    ms_sandbox.identity.expire_all_tokens()
    graph.get_json("/me")  # refreshed
    device = make_signin(ms_sandbox, encrypted_store("Second"), prefer_device_code=True)
    device.sign_in()
    make_graph(ms_sandbox, device).get_json("/me")

    # The cache is in libsecret: a fresh reader for the same location finds the account...
    from msal_extensions.persistence import LibsecretPersistence

    stored = json.loads(LibsecretPersistence(str(store.location)).load())
    assert stored.get("RefreshToken") and stored.get("AccessToken")
    # ...and the file next to it is only msal-extensions' empty change signal.
    assert store.location.read_bytes() == b""

    issued = ms_sandbox.identity.issued_secrets()
    assert len(issued) >= 6
    written = files_under(isolated_user_dirs)
    assert app_log in written and app_log.stat().st_size > 0
    leaks = [
        (path, secret[:12])
        for path in written
        for secret in issued
        if secret.encode() in path.read_bytes()
    ]
    assert leaks == []
    for secret in issued:
        # Not even a recognisable piece (the JWT payload) of a token in the log.
        if secret.count(".") == 2:
            assert secret.split(".")[1] not in app_log.read_text(encoding="utf-8")

    signin.sign_out()
    device.sign_out()
    assert json.loads(LibsecretPersistence(str(store.location)).load()) == {}


def test_plaintext_fallback_leaks_nothing_outside_its_own_file(
    ms_sandbox: Any, auto_browser: AutoBrowser, isolated_user_dirs: Path, app_log: Path
) -> None:
    from tests.integration.microsoft.conftest import plaintext_store

    store = plaintext_store()
    signin = make_signin(ms_sandbox, store)
    signin.sign_in()
    make_graph(ms_sandbox, signin).get_json("/me")
    issued = ms_sandbox.identity.issued_secrets()
    others = [p for p in files_under(isolated_user_dirs) if p != store.location]
    assert app_log in others
    for path in others:
        data = path.read_bytes()
        assert not [s[:12] for s in issued if s.encode() in data], path
    assert_mode(store.location, 0o600)


@pytest.mark.needs_keyring
def test_sign_out_deletes_this_profiles_secrets_only(ms_sandbox: Any) -> None:
    from app import secrets

    if not secrets.backend_info().secure:
        pytest.skip("no Secret Service here; dev.sh test runs one")
    secrets.store("Sandbox", "smtp-password", "pw-of-this-profile")
    secrets.store("Other", "smtp-password", "pw-of-another-profile")
    try:
        signin = make_signin(ms_sandbox, prefer_device_code=True)
        signin.sign_in()
        message = signin.sign_out()
        assert secrets.fetch("Sandbox", "smtp-password") is None
        assert secrets.fetch("Other", "smtp-password") == "pw-of-another-profile"
        assert "the SMTP password" in message and "App permissions" in message
    finally:
        secrets.delete("Other", "smtp-password")
        secrets.delete("Sandbox", "smtp-password")

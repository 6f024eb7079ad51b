"""Small secrets (a Kaltura app token, an SMTP password) in the OS keyring.

Never in the settings file. Windows Credential Manager holds at most ~1,280 characters
per credential, so only small values belong here; the MSAL token cache has its own
encrypted persistence (``app.microsoft``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keyring
import keyring.backend
import keyring.errors

from app import APP_ID
from app.errors import AppError

log = logging.getLogger(__name__)

#: The names of the secrets a profile may hold; one place, so that storing, reading and
#: deleting them (disconnect) can never disagree on a spelling.
KALTURA_APP_TOKEN = "kaltura-app-token"
KALTURA_PASSWORD = "kaltura-password"
SMTP_PASSWORD = "smtp-password"
PROFILE_SECRETS = (KALTURA_APP_TOKEN, KALTURA_PASSWORD, SMTP_PASSWORD)

#: Windows Credential Manager's limit (2,560 bytes of UTF-16).
MAX_SECRET_CHARS = 1_200

#: Backends that do not protect what they store.
_INSECURE = {
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
    "keyrings.alt.file.EncryptedKeyring",  # a password typed in a terminal; not for a GUI app
}


class SecretStoreError(AppError):
    """The OS secure storage is missing or refused the request."""


@dataclass(frozen=True)
class BackendInfo:
    name: str
    secure: bool
    detail: str


def backend_info() -> BackendInfo:
    """Which keyring backend is in use and whether it keeps secrets safe."""
    backend = keyring.get_keyring()
    cls = type(backend)
    qualname = f"{cls.__module__}.{cls.__name__}"
    names = [qualname]
    children = getattr(backend, "backends", None)
    if children:  # ChainerBackend: secure only if it has a real backend inside
        names = [f"{type(b).__module__}.{type(b).__name__}" for b in children]
    secure = any(n not in _INSECURE for n in names) and bool(names)
    if qualname == "keyring.backends.chainer.ChainerBackend" and not children:
        secure = False
    detail = ", ".join(names)
    return BackendInfo(name=qualname, secure=secure, detail=detail)


def _service(profile: str) -> str:
    return f"{APP_ID}:{profile}"


def store(profile: str, key: str, value: str) -> None:
    if len(value) > MAX_SECRET_CHARS:
        raise SecretStoreError(
            f"The secret {key!r} is too long for the OS credential store ({len(value)} chars)."
        )
    try:
        keyring.set_password(_service(profile), key, value)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(
            f"Could not save {key} in the system keyring: {exc}",
            hint="Unlock your keyring (or install one, e.g. gnome-keyring) and try again.",
        ) from exc


def fetch(profile: str, key: str) -> str | None:
    try:
        return keyring.get_password(_service(profile), key)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(
            f"Could not read {key} from the system keyring: {exc}",
            hint="Unlock your keyring (or install one, e.g. gnome-keyring) and try again.",
        ) from exc


def delete(profile: str, key: str) -> bool:
    """Remove a secret. Returns False when there was none."""
    try:
        keyring.delete_password(_service(profile), key)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"Could not delete {key} from the system keyring: {exc}") from exc
    return True

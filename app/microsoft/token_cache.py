"""Where a profile's MSAL token cache lives: OS-encrypted storage, or (only if allowed) a file.

The cache holds refresh tokens, so it must never sit in clear text unless the user or the
administrator explicitly allowed it. :func:`open_token_cache` tries msal-extensions'
``build_encrypted_persistence`` (DPAPI on Windows, Keychain on macOS, libsecret on Linux).
msal-extensions has no plaintext fallback of its own; on headless Linux it raises
``ImportError`` (no PyGObject) or ``RuntimeError`` (no D-Bus, no Secret Service, locked
keyring). Then the cache falls back to a 0600 file in a 0700 directory **only** when
``Settings.allow_plaintext_token_cache`` is true, and :attr:`TokenCacheStore.warning`
says so (the UI shows it; ``vmsg doctor`` prints it through :func:`storage_check`).
Otherwise :class:`TokenCacheUnavailable` explains what to install or unlock.

Every profile has its own cache (its own file name and, on Linux, its own Secret Service
schema, which msal-extensions derives from the file path), so several profiles can be
signed in at once. A cache that cannot be parsed makes every MSAL call raise
``JSONDecodeError``: :meth:`TokenCacheStore.check` detects that, resets the cache and
reports it, and the caller asks the user to sign in again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal  # type: ignore[import-untyped]
from msal_extensions import FilePersistence, PersistedTokenCache, build_encrypted_persistence

from app import paths
from app.errors import Action, MicrosoftError

log = logging.getLogger(__name__)

PLAINTEXT_WARNING = (
    "Your Microsoft sign-in is stored unencrypted (in a file only your user account can read) "
    "because this computer has no usable secure storage (keyring)."
)


class TokenCacheUnavailable(MicrosoftError):
    """No secure storage for the token cache, and plaintext storage is not allowed."""


class TokenCacheLocked(MicrosoftError):
    """The secure storage is there but refused to give the cache now (a locked or denied
    macOS Keychain, a Secret Service that is locked, a file another process locks). The
    cache is kept: resetting it would sign the person out for a "Deny" click."""


#: Load errors that mean the stored cache itself is unusable (reset it): DPAPI cannot
#: decrypt what is there. Every other error from a store means "not now" (kept).
DAMAGED_ERRORS = ("PersistenceDecryptionError",)


@dataclass(frozen=True)
class StorageCheck:
    """What ``vmsg doctor`` prints about a profile's token storage."""

    status: str  # "ok" or "warn"
    value: str
    fix: str = ""


def _storage_name() -> str:
    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform.startswith("win"):
        return "Windows DPAPI"
    if platform == "darwin":
        return "macOS Keychain"
    return "Secret Service (libsecret)"


def cache_dir() -> Path:
    """The directory holding token cache files (or, when encrypted, their signal files)."""
    return paths.data_dir() / "msal"


def cache_location(profile: str) -> Path:
    """A file name for ``profile`` that is safe on every OS and unique per profile."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", profile).strip("_")[:40] or "profile"
    digest = hashlib.sha256(profile.encode("utf-8")).hexdigest()[:10]
    return cache_dir() / f"{slug}-{digest}.msal-cache"


def _private_dir(path: Path) -> None:
    """Create ``path`` readable by its owner only (0700), tightening an existing one."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        path.chmod(stat.S_IRWXU)


PersistenceFactory = Callable[[str], Any]


#: On Linux, libsecret waits without end when the desktop's Secret Service never answers
#: (a display but no keyring daemon, or one stuck): opening the store gets this long. A
#: minute, because a locked keyring's unlock prompt waits for the person in the meantime.
SECRET_SERVICE_TIMEOUT = 60.0


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()``, or RuntimeError if it has not returned after ``seconds`` (it is left to
    finish on its own daemon thread: libsecret offers no way to cancel)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="secure-storage-open", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise RuntimeError(f"the Secret Service did not answer within {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class TokenCacheStore:
    """One profile's MSAL token cache and what it is stored in.

    ``persistence_factory`` is msal-extensions' ``build_encrypted_persistence`` unless a
    test passes another (e.g. one raising ``RuntimeError`` to act as headless Linux).
    """

    def __init__(
        self,
        profile: str,
        *,
        allow_plaintext: bool = False,
        location: Path | None = None,
        persistence_factory: PersistenceFactory | None = None,
    ) -> None:
        self.profile = profile
        self.location = location or cache_location(profile)
        #: "" when the cache is encrypted; otherwise the warning to show.
        self.warning = ""
        #: True when a damaged cache was found and reset (the user must sign in again).
        self.was_reset = False
        _private_dir(self.location.parent)
        try:
            factory = persistence_factory or build_encrypted_persistence
            with warnings.catch_warnings():
                # Debian 12's PyGObject 3.42 imports gi.repository modules through the
                # importlib API Python 3.11 deprecates; the warning is not ours to fix.
                warnings.simplefilter("ignore", ImportWarning)
                if sys.platform.startswith("linux"):
                    persistence = _within(
                        SECRET_SERVICE_TIMEOUT, lambda: factory(str(self.location))
                    )
                else:  # DPAPI never waits; Keychain may wait for the person to allow it
                    persistence = factory(str(self.location))
            self.storage = _storage_name()
        except (ImportError, RuntimeError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.info("encrypted token storage unavailable: %s", reason)
            if not allow_plaintext:
                raise TokenCacheUnavailable(
                    "Cannot store your Microsoft sign-in securely: this computer has no "
                    f"usable secure storage ({_storage_name()}: {reason}).",
                    hint=_unavailable_hint(),
                    details=repr(exc),
                ) from exc
            persistence = FilePersistence(str(self.location))
            self.storage = "plaintext file"
            self.warning = PLAINTEXT_WARNING
            self._tighten_file()
        self.persistence = persistence
        self.cache: msal.SerializableTokenCache = PersistedTokenCache(persistence)
        self.check()

    @property
    def is_encrypted(self) -> bool:
        return bool(getattr(self.persistence, "is_encrypted", False))

    def _tighten_file(self) -> None:
        """The cache file (or, with a keyring, its change marker) and its lock file are
        the owner's only, as msal-extensions creates them with the process's umask."""
        if os.name != "posix":
            return
        for path in (self.location, self.location.with_name(self.location.name + ".lockfile")):
            if path.exists():
                with contextlib.suppress(OSError):
                    path.chmod(stat.S_IRUSR | stat.S_IWUSR)

    def check(self) -> bool:
        """Load the stored cache; reset it if damaged. Returns True when it was reset."""
        try:
            raw = self.persistence.load()
        except Exception as exc:  # PersistenceNotFound, and each OS store's own errors
            name = type(exc).__name__
            if name == "PersistenceNotFound":
                return False
            if name in DAMAGED_ERRORS:
                log.warning("token cache cannot be decrypted (%s); resetting it", name)
                self.reset()
                return True
            log.warning("token cache storage refused to load (%s: %s); kept", name, exc)
            raise TokenCacheLocked(
                f"Your Microsoft sign-in could not be read from {self.storage}: it is "
                "locked, or access to it was refused.",
                hint=_locked_hint(),
                action=Action.RETRY,
                details=f"{name}: {exc}",
            ) from exc
        try:
            data = json.loads(raw) if raw and raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("not an object")
            # The same parse MSAL does, so a cache MSAL cannot read is caught here.
            msal.SerializableTokenCache().deserialize(raw or "{}")
        except ValueError:  # JSONDecodeError is a ValueError
            log.warning("token cache for profile %r is damaged; resetting it", self.profile)
            self.reset()
            return True
        return False

    def reset(self) -> None:
        """Replace the stored cache with an empty one (everyone must sign in again)."""
        self.persistence.save("{}")
        self._tighten_file()
        self.cache = PersistedTokenCache(self.persistence)
        self.was_reset = True

    def clear(self) -> None:
        """Forget every account and token of this profile (used by sign-out)."""
        self.persistence.save("{}")
        self._tighten_file()
        self.cache = PersistedTokenCache(self.persistence)

    def after_write(self) -> None:
        """Keep the cache's files at 0600 after MSAL rewrote them."""
        self._tighten_file()


def _locked_hint(platform: str = sys.platform) -> str:
    if platform == "darwin":
        return (
            "Unlock the login keychain and choose Always Allow when macOS asks, then try "
            "again; your sign-in is kept."
        )
    if platform.startswith("linux"):
        return "Unlock your keyring (log in to the desktop again), then try again."
    return "Close other copies of the app, then try again; your sign-in is kept."


def _unavailable_hint(platform: str = sys.platform) -> str:
    if platform.startswith("linux"):
        return (
            "Install and unlock a Secret Service (for example: sudo apt-get install "
            "gnome-keyring gir1.2-secret-1 python3-gi), or allow a plaintext token cache "
            "in the settings (allow_plaintext_token_cache) if this machine is yours alone."
        )
    return "Make sure you are signed in to your computer's account, then try again."


def storage_check(store: TokenCacheStore) -> StorageCheck:
    """The doctor line for a profile's token cache (call after opening the store)."""
    if store.is_encrypted:
        return StorageCheck("ok", f"{store.storage} (encrypted)")
    return StorageCheck(
        "warn",
        f"{store.storage} at {store.location} (NOT encrypted)",
        store.warning + " " + _unavailable_hint(),
    )


def doctor_check(profile: str, *, allow_plaintext: bool) -> StorageCheck:
    """The ``vmsg doctor`` line for ``profile``: where its sign-in would be stored.

    ``allow_plaintext`` is ``Settings.allow_plaintext_token_cache`` with the policy applied.
    """
    try:
        store = TokenCacheStore(profile, allow_plaintext=allow_plaintext)
    except TokenCacheUnavailable as exc:
        return StorageCheck("warn", exc.message, exc.hint)
    return storage_check(store)

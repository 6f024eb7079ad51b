"""Kaltura sessions (KS): start them, keep them fresh, and say clearly which setting is wrong.

Ways to sign in (docs/protocols.md, "Kaltura: sessions (KS)"):

- **Application token** (the normal way for a desktop app): ``session.startWidgetSession``
  with widget id ``"_" + partner_id`` gives a widget KS; ``appToken.startSession`` with
  ``tokenHash = hex(hash(hashType, widgetKS + token))`` *called with that widget KS* gives
  a USER session whose ``userId`` is the signed-in person's email address, so each person's
  entries are their own.
- **user.loginByLoginId** for organizations without app tokens.
- **Admin secret** (``session.start``): only for the built-in sandbox on this computer; an
  admin secret must never be shipped to desktops, so it is refused for any other server.

:class:`KalturaSession` hands a valid KS to every call: it renews the KS shortly before it
expires, and once more when the server answers ``INVALID_KS`` (sessions expired by an admin,
or a computer that slept past the expiry), then repeats the call. Callers never see either.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.kaltura.client import KalturaClient
from app.kaltura.errors import KalturaAPIError, KalturaConfigError, KalturaSettingsError

log = logging.getLogger(__name__)

SESSION_TYPE_USER = 0
SESSION_TYPE_ADMIN = 2
HASH_TYPES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}


@dataclass(frozen=True)
class AppTokenCredentials:
    token_id: str
    token: str
    hash_type: str = "SHA1"

    def __repr__(self) -> str:  # never print the token
        return f"AppTokenCredentials(token_id={self.token_id!r}, hash_type={self.hash_type!r})"


@dataclass(frozen=True)
class LoginCredentials:
    login_id: str
    password: str

    def __repr__(self) -> str:
        return f"LoginCredentials(login_id={self.login_id!r})"


@dataclass(frozen=True)
class AdminSecretCredentials:
    """The partner's admin secret: accepted only for the loopback sandbox."""

    secret: str

    def __repr__(self) -> str:
        return "AdminSecretCredentials(<secret>)"


Credentials = AppTokenCredentials | LoginCredentials | AdminSecretCredentials


@dataclass(frozen=True)
class SessionInfo:
    ks: str
    user_id: str
    session_type: int
    #: Absolute unix time the KS stops working.
    expiry: float
    privileges: str = ""


class Caller(Protocol):
    """What entries and uploads need: calls that carry a valid KS."""

    @property
    def partner_id(self) -> int: ...

    @property
    def service_url(self) -> str: ...

    def call(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: tuple[float, float] | None = None,
    ) -> Any: ...

    def upload(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any],
        data: bytes | memoryview,
        *,
        filename: str = "video.mp4",
        timeout: tuple[float, float] | None = None,
    ) -> Any: ...


def token_hash(hash_type: str, widget_ks: str, token: str) -> str:
    """``lowercase_hex(hash(widgetKS + token))`` with the token's hash type."""
    name = HASH_TYPES.get(hash_type.strip().upper())
    if name is None:
        raise KalturaSettingsError(
            "app_token_hash_type",
            f'The app token hash type "{hash_type}" is not one Kaltura knows.',
            hint="Set it to the token's hash type: MD5, SHA1, SHA256 or SHA512 "
            "(SHA1 when the token does not say).",
        )
    return hashlib.new(name, (widget_ks + token).encode("utf-8")).hexdigest()


class KalturaSession:
    """A Kaltura session for one person, renewed transparently. Thread-safe."""

    def __init__(
        self,
        client: KalturaClient,
        credentials: Credentials,
        *,
        user_id: str,
        expiry_seconds: int = 86400,
        sandbox: bool = False,
        clock: Callable[[], float] = time.time,
        privileges: str = "",
        session_type: int = SESSION_TYPE_USER,
    ) -> None:
        if isinstance(credentials, AdminSecretCredentials) and not (sandbox and client.is_loopback):
            raise KalturaConfigError(
                "An admin secret is only accepted for the built-in sandbox.",
                hint="Ask your Kaltura administrator for an application token (app token id "
                "and token) and put those in the profile instead.",
            )
        user_id = user_id.strip()
        if not user_id:
            raise KalturaConfigError(
                "No user is signed in, so there is no Kaltura user to upload as.",
                hint="Sign in to Microsoft 365 first: your email address is your Kaltura user.",
            )
        self.client = client
        self.credentials = credentials
        self.user_id = user_id
        self.expiry_seconds = int(expiry_seconds)
        self.clock = clock
        self.privileges = privileges
        #: Only the sandbox's admin-secret sessions may ask for ADMIN (2); others are USER.
        self.session_type = (
            session_type if isinstance(credentials, AdminSecretCredentials) else SESSION_TYPE_USER
        )
        self._lock = threading.Lock()
        self._info: SessionInfo | None = None
        self._started = False
        #: How many times the KS was replaced (expiry ahead, or INVALID_KS).
        self.renewals = 0

    @property
    def partner_id(self) -> int:
        return self.client.partner_id

    @property
    def service_url(self) -> str:
        return self.client.service_url

    @property
    def info(self) -> SessionInfo | None:
        return self._info

    # ------------------------------------------------------------------ KS lifecycle

    def ks(self) -> str:
        """A KS that is valid for a while yet (started or renewed as needed)."""
        with self._lock:
            info = self._info
            if info is None or self._needs_renewal(info):
                info = self._start()
                self._info = info
            return info.ks

    def invalidate(self, ks: str | None = None) -> None:
        """Forget the KS (only if it is still ``ks``, so racing threads renew once)."""
        with self._lock:
            if self._info is not None and (ks is None or self._info.ks == ks):
                self._info = None

    def _needs_renewal(self, info: SessionInfo) -> bool:
        lifetime = max(1.0, float(self.expiry_seconds))
        margin = min(600.0, lifetime * 0.1)
        return self.clock() >= info.expiry - margin

    def _start(self) -> SessionInfo:
        creds = self.credentials
        started = self.clock()
        if isinstance(creds, AppTokenCredentials):
            info = self._start_app_token(creds)
        elif isinstance(creds, LoginCredentials):
            info = self._start_login(creds, started)
        else:
            ks = self.client.call(
                "session",
                "start",
                {
                    "secret": creds.secret,
                    "userId": self.user_id,
                    "type": self.session_type,
                    "partnerId": self.partner_id,
                    "expiry": self.expiry_seconds,
                    "privileges": self.privileges,
                },
            )
            info = SessionInfo(
                str(ks), self.user_id, self.session_type, started + self.expiry_seconds
            )
        if self._started:
            self.renewals += 1
        self._started = True
        log.info(
            "Kaltura session started for %s (type %s, expires in %.0f s)",
            info.user_id,
            info.session_type,
            info.expiry - self.clock(),
        )
        return info

    def _start_app_token(self, creds: AppTokenCredentials) -> SessionInfo:
        widget_ks = self._widget_ks()
        try:
            return self._app_token_session(widget_ks, creds.token_id, creds.token, creds.hash_type)
        except KalturaAPIError as exc:
            if exc.code == "INVALID_APP_TOKEN_HASH":
                raise self._diagnose_hash(creds) from exc
            raise _app_token_error(exc, creds, self.partner_id) from exc

    def _widget_ks(self) -> str:
        try:
            res = self.client.call(
                "session",
                "startWidgetSession",
                {"widgetId": f"_{self.partner_id}", "expiry": self.expiry_seconds},
            )
        except KalturaAPIError as exc:
            raise KalturaSettingsError(
                "partner_id",
                f"Kaltura does not know the partner id {self.partner_id}.",
                hint="Check the partner id in the profile (Kaltura Management Console > "
                "Settings > Integration Settings).",
                details=f"{exc.code}: {exc.server_message}",
            ) from exc
        ks = res.get("ks") if isinstance(res, dict) else None
        if not isinstance(ks, str) or not ks:
            raise KalturaSettingsError(
                "service_url",
                "The Kaltura service did not return a widget session.",
                hint="Check the Kaltura service URL in the profile.",
                details=repr(res)[:300],
            )
        return ks

    def _app_token_session(
        self, widget_ks: str, token_id: str, token: str, hash_type: str
    ) -> SessionInfo:
        res = self.client.call(
            "appToken",
            "startSession",
            {
                "id": token_id,
                "tokenHash": token_hash(hash_type, widget_ks, token),
                "userId": self.user_id,
                "type": SESSION_TYPE_USER,
                "expiry": self.expiry_seconds,
            },
            ks=widget_ks,
        )
        if not isinstance(res, dict) or not isinstance(res.get("ks"), str):
            raise KalturaSettingsError(
                "service_url",
                "The Kaltura service did not return a session for the app token.",
                hint="Check the Kaltura service URL in the profile.",
                details=repr(res)[:300],
            )
        user = str(res.get("userId") or self.user_id)
        if user != self.user_id:
            log.warning(
                "The app token fixes the Kaltura user to %s instead of %s; entries will "
                "belong to that user",
                user,
                self.user_id,
            )
        try:
            expiry = float(res.get("expiry") or 0)
        except (TypeError, ValueError):
            expiry = 0.0
        if expiry <= 0:
            expiry = self.clock() + self.expiry_seconds
        return SessionInfo(
            ks=res["ks"],
            user_id=user,
            session_type=int(res.get("sessionType") or 0),
            expiry=expiry,
            privileges=str(res.get("privileges") or ""),
        )

    def _diagnose_hash(self, creds: AppTokenCredentials) -> KalturaSettingsError:
        """The hash did not match: is it the token, or the hash type? Try the others."""
        configured = creds.hash_type.strip().upper()
        for other in HASH_TYPES:
            if other == configured:
                continue
            try:
                self._app_token_session(self._widget_ks(), creds.token_id, creds.token, other)
            except KalturaAPIError:
                continue
            return KalturaSettingsError(
                "app_token_hash_type",
                f"The app token's hash type is set to {configured or 'nothing'}, but the "
                f"token uses {other}.",
                hint=f"Change the app token hash type in the profile to {other}.",
            )
        return KalturaSettingsError(
            "app_token",
            f"The app token for app token id {creds.token_id} is wrong.",
            hint="Copy the token again from your Kaltura administrator (the long secret "
            "string, not the id) and check the hash type.",
        )

    def _start_login(self, creds: LoginCredentials, started: float) -> SessionInfo:
        try:
            ks = self.client.call(
                "user",
                "loginByLoginId",
                {
                    "loginId": creds.login_id,
                    "password": creds.password,
                    "partnerId": self.partner_id,
                    "expiry": self.expiry_seconds,
                    "privileges": self.privileges or "*",
                },
            )
        except KalturaAPIError as exc:
            raise _login_error(exc, creds, self.partner_id) from exc
        if not isinstance(ks, str) or not ks:
            raise KalturaSettingsError(
                "service_url",
                "The Kaltura service did not return a session for the login.",
                hint="Check the Kaltura service URL in the profile.",
            )
        return SessionInfo(ks, creds.login_id, SESSION_TYPE_USER, started + self.expiry_seconds)

    # ------------------------------------------------------------------ calls

    def call(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        ks = self.ks()
        try:
            return self.client.call(service, action, params, ks=ks, timeout=timeout)
        except KalturaAPIError as exc:
            if not exc.is_invalid_ks():
                raise
            log.info("Kaltura answered %s; renewing the session once", exc.code)
            self.invalidate(ks)
            return self.client.call(service, action, params, ks=self.ks(), timeout=timeout)

    def upload(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any],
        data: bytes | memoryview,
        *,
        filename: str = "video.mp4",
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        ks = self.ks()
        try:
            return self.client.upload(
                service, action, params, data, filename=filename, ks=ks, timeout=timeout
            )
        except KalturaAPIError as exc:
            if not exc.is_invalid_ks():
                raise
            log.info("Kaltura answered %s to an upload; renewing the session once", exc.code)
            self.invalidate(ks)
            return self.client.upload(
                service, action, params, data, filename=filename, ks=self.ks(), timeout=timeout
            )


def _app_token_error(
    exc: KalturaAPIError, creds: AppTokenCredentials, partner_id: int
) -> KalturaSettingsError | KalturaAPIError:
    code = exc.code
    details = f"{code}: {exc.server_message}"
    if code == "APP_TOKEN_ID_NOT_FOUND":
        return KalturaSettingsError(
            "app_token_id",
            f'Kaltura partner {partner_id} has no app token with the id "{creds.token_id}".',
            hint="Check the app token id in the profile (and that it belongs to this partner).",
            details=details,
        )
    if code in ("APP_TOKEN_NOT_ACTIVE", "APP_TOKEN_EXPIRED"):
        state = "has expired" if code == "APP_TOKEN_EXPIRED" else "is disabled"
        return KalturaSettingsError(
            "app_token",
            f'The Kaltura app token "{creds.token_id}" {state}.',
            hint="Ask your Kaltura administrator for a new application token.",
            details=details,
        )
    if code in ("INVALID_KS", "INVALID_PARTNER_ID", "PARTNER_NOT_FOUND"):
        return KalturaSettingsError(
            "partner_id",
            f"Kaltura did not accept a session for partner id {partner_id}.",
            hint="Check the partner id in the profile.",
            details=details,
        )
    return exc


def _login_error(
    exc: KalturaAPIError, creds: LoginCredentials, partner_id: int
) -> KalturaSettingsError | KalturaAPIError:
    code = exc.code
    details = f"{code}: {exc.server_message}"
    if code in ("USER_NOT_FOUND", "LOGIN_DATA_NOT_FOUND", "INVALID_USER_ID"):
        return KalturaSettingsError(
            "login_id",
            f'Kaltura has no user with the login "{creds.login_id}".',
            hint="Check the Kaltura login id in the profile.",
            details=details,
        )
    if code in ("USER_WRONG_PASSWORD", "WRONG_OLD_PASSWORD"):
        return KalturaSettingsError(
            "password",
            f'The Kaltura password for "{creds.login_id}" is wrong.',
            hint="Enter the password again.",
            details=details,
        )
    if code in ("LOGIN_BLOCKED", "PASSWORD_EXPIRED", "USER_IS_BLOCKED"):
        return KalturaSettingsError(
            "login_id",
            f'Kaltura does not let "{creds.login_id}" sign in right now ({code}).',
            hint="Sign in to Kaltura in a browser to fix the account, or ask your administrator.",
            details=details,
        )
    if code in ("INVALID_PARTNER_ID", "PARTNER_NOT_FOUND", "START_SESSION_ERROR"):
        return KalturaSettingsError(
            "partner_id",
            f"Kaltura does not know the partner id {partner_id}.",
            hint="Check the partner id in the profile.",
            details=details,
        )
    return exc

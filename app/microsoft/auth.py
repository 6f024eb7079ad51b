"""Microsoft sign-in with MSAL: OS broker, system browser, device code; silent tokens.

One :class:`SignIn` per profile, owning one ``msal.PublicClientApplication`` (created on
first use: creating it fetches the tenant's metadata) and that profile's token cache
(:mod:`app.microsoft.token_cache`). It is the Graph client's token provider:
:meth:`SignIn.access_token` acquires silently before every Graph call (MSAL refreshes a
token with under five minutes left), and :meth:`SignIn.handle_claims_challenge` signs in
interactively again with the claims a conditional-access policy asked for.

How the interactive sign-in happens (:func:`choose_method`):

- Windows and macOS: the OS broker (WAM / Company Portal) with the parent window handle
  (required by MSAL; ``PublicClientApplication.CONSOLE_WINDOW_HANDLE`` from a terminal).
  Broker redirect URIs: ``ms-appx-web://Microsoft.AAD.BrokerPlugin/<client_id>`` (Windows),
  ``msauth.com.msauth.unsignedapp://auth`` (macOS). ``msal[broker]`` is never used on Linux.
- Elsewhere the system browser with a loopback redirect (``http://localhost:<port>``).
- The device-code flow where no browser can open: asked for, or a Linux machine without
  ``DISPLAY``/``WAYLAND_DISPLAY``.

Scopes are exactly :data:`SCOPES` (MSAL adds openid, profile and offline_access itself;
passing them raises ValueError), plus Mail.ReadWrite only when the policy turns on
exactly-once sending (the draft flow needs it).

Failures become distinct messages: cancelled, timed out, unknown tenant, app not approved,
account disabled, and "sign in again" when the refresh token was revoked or expired.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msal  # type: ignore[import-untyped]
import requests
from msal.oauth2cli.authcode import (  # type: ignore[import-untyped]
    AuthCodeReceiver,
    _AuthCodeHandler,
    _AuthCodeHttpServer,
)
from msal.oauth2cli.oauth2 import (  # type: ignore[import-untyped]
    BrowserInteractionTimeoutError,
)

from app import net, secrets
from app.errors import MicrosoftError, NetworkError, SignInRequired
from app.microsoft.token_cache import TokenCacheStore

log = logging.getLogger(__name__)

#: Delegated permissions the app asks for (the published product's list).
SCOPES = ("User.Read", "Mail.Send", "People.Read", "User.ReadBasic.All")
#: Added when the administrator enables exactly-once sending (Graph's draft flow).
EXACTLY_ONCE_SCOPE = "Mail.ReadWrite"
#: MSAL adds these itself and raises ValueError when they are passed.
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"

REVOKE_HELP = (
    "You are signed out of Microsoft 365 in Video Messaging, and its saved sign-in was "
    "deleted from this computer. The permission you gave the app stays with your account "
    "until you remove it: for a work or school account go to https://myapps.microsoft.com "
    "(the ... next to Video Messaging > Manage your application > Revoke permissions, or ask "
    "your administrator if the app was approved for everyone); for a personal Microsoft "
    "account go to https://account.microsoft.com "
    "(Privacy > App permissions) and remove Video Messaging."
)

#: Secret names (app.secrets) a profile may hold; disconnecting deletes them all
#: (``app.endpoints`` uses the Kaltura ones; the SMTP transport the last).
PROFILE_SECRET_KEYS = secrets.PROFILE_SECRETS
SECRET_LABELS = {
    secrets.KALTURA_APP_TOKEN: "the Kaltura app token",
    secrets.KALTURA_PASSWORD: "the Kaltura password",
    secrets.SMTP_PASSWORD: "the SMTP password",
}


def scopes_for(*, exactly_once_sending: bool = False) -> list[str]:
    scopes = list(SCOPES)
    if exactly_once_sending:
        scopes.append(EXACTLY_ONCE_SCOPE)
    assert not RESERVED_SCOPES & set(scopes)
    return scopes


def authority_url(authority: str) -> str:
    """A full authority URL from a tenant id, a domain, ``organizations`` or a URL."""
    authority = authority.strip().rstrip("/")
    if authority.startswith(("https://", "http://")):
        return authority
    return f"{PUBLIC_AUTHORITY_HOST}/{authority or 'organizations'}"


def is_headless(platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> bool:
    """True where no browser window can open (Linux without an X or Wayland display)."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@functools.cache
def broker_runtime_available() -> bool:
    """Whether the broker's runtime (``pymsalruntime``, from ``msal[broker]``) loads here.

    It has no wheel for some machines (Intel Macs among them); there the sign-in falls
    back to the system browser with the app's own loopback receiver, which the user can
    cancel, instead of MSAL failing inside the broker call.
    """
    try:
        import pymsalruntime  # type: ignore[import-not-found,unused-ignore]  # noqa: F401, PLC0415
    except Exception as exc:
        log.info("the sign-in broker is not available here: %s", exc)
        return False
    return True


def broker_enabled(
    platform: str = sys.platform,
    *,
    is_sandbox: bool = False,
    broker_available: bool | None = None,
) -> bool:
    """The OS broker is used on Windows and macOS where its runtime loads, never on Linux
    or for the sandbox. ``broker_available`` None: detected when ``platform`` is this OS
    (for another platform, as in tests, it is assumed present)."""
    if is_sandbox or platform not in {"win32", "darwin"}:
        return False
    if broker_available is None:
        broker_available = broker_runtime_available() if platform == sys.platform else True
    return broker_available


def choose_method(
    *,
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
    device_code: bool = False,
    is_sandbox: bool = False,
    broker_available: bool | None = None,
) -> str:
    """``"device_code"``, ``"broker"`` or ``"browser"``."""
    if device_code:
        return "device_code"
    if broker_enabled(platform, is_sandbox=is_sandbox, broker_available=broker_available):
        return "broker"
    if is_headless(platform, environ):
        return "device_code"
    return "browser"


@dataclass(frozen=True)
class SignInConfig:
    """What a profile needs to sign in (from ``app.endpoints``, passed in)."""

    profile: str
    authority: str
    client_id: str
    ca_file: str | None = None
    is_sandbox: bool = False
    exactly_once_sending: bool = False

    @property
    def scopes(self) -> list[str]:
        return scopes_for(exactly_once_sending=self.exactly_once_sending)


def http_client_for(ca_file: str | None) -> requests.Session:
    """The session MSAL uses: TLS >= 1.2; with a private CA, ignoring REQUESTS_CA_BUNDLE."""
    return net.secure_session(ca_file)


def app_kwargs(
    config: SignInConfig,
    *,
    platform: str = sys.platform,
    http_client: Any = None,
    broker_available: bool | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``msal.PublicClientApplication`` (unit-tested per platform)."""
    kwargs: dict[str, Any] = {
        "authority": authority_url(config.authority),
        "http_client": http_client,
    }
    if config.is_sandbox:
        # A local identity provider is not in Microsoft's instance metadata.
        kwargs["instance_discovery"] = False
    if broker_enabled(platform, is_sandbox=config.is_sandbox, broker_available=broker_available):
        if platform == "win32":
            kwargs["enable_broker_on_windows"] = True
        elif platform == "darwin":
            kwargs["enable_broker_on_mac"] = True
    return kwargs


def interactive_kwargs(
    config: SignInConfig,
    *,
    method: str,
    parent_window_handle: int | None,
    claims: str | None = None,
    login_hint: str | None = None,
    timeout: float | None = None,
    prompt: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``acquire_token_interactive`` (broker or browser)."""
    kwargs: dict[str, Any] = {"scopes": config.scopes, "timeout": timeout}
    if method == "broker":
        if parent_window_handle is None:
            raise MicrosoftError(
                "Cannot open the Microsoft sign-in window: the app window is not known.",
                details="parent_window_handle is required with the broker",
            )
        kwargs["parent_window_handle"] = parent_window_handle
    if claims:
        kwargs["claims_challenge"] = claims
    if login_hint:
        kwargs["login_hint"] = login_hint
    if prompt:
        kwargs["prompt"] = prompt
    return kwargs


@dataclass(frozen=True)
class DeviceCodePrompt:
    """What the user must do for the device-code flow."""

    user_code: str
    verification_uri: str
    message: str
    expires_in: int


@dataclass(frozen=True)
class Account:
    """Who is signed in."""

    username: str
    name: str
    home_account_id: str
    tenant_id: str
    profile: str

    def as_dict(self) -> dict[str, str]:
        return {
            "username": self.username,
            "name": self.name,
            "tenant_id": self.tenant_id,
            "profile": self.profile,
        }


# AADSTS codes (learn.microsoft.com/entra/identity-platform/reference-error-codes).
_APP_NOT_APPROVED = {65001, 65004, 90094, 90095, 700016, 7000112, 500011}
_UNKNOWN_TENANT = {90002, 900023, 90072, 50020}
_REVOKED = {50173, 70008, 70043, 700082, 50078, 50076, 500133, 54005}
_DISABLED = {50057, 50053, 50034}
#: The app's registration is single-tenant: "organizations" cannot sign in to it.
_SINGLE_TENANT_APP = {50194}
#: "Assignment required" is on for the app and this user is not assigned.
_NOT_ASSIGNED = {50105}


def _codes(result: Mapping[str, Any]) -> set[int]:
    codes = result.get("error_codes") or []
    out: set[int] = set()
    for c in codes:
        try:
            out.add(int(c))
        except (TypeError, ValueError):
            continue
    return out


def error_from_result(result: Mapping[str, Any], *, interactive: bool) -> MicrosoftError:
    """A user-facing error for an MSAL error dict (``{"error", "error_description", ...}``)."""
    error = str(result.get("error") or "")
    desc = str(result.get("error_description") or "")
    codes = _codes(result)
    details = f"{error}: {desc}".strip(": ")
    if codes & _UNKNOWN_TENANT or error == "invalid_tenant":
        return UnknownTenant(
            "Microsoft does not know this organization (tenant).",
            hint="Check the tenant (directory) name or id in the profile settings.",
            details=details,
        )
    if codes & _SINGLE_TENANT_APP:
        return UnknownTenant(
            "Your organization registered Video Messaging for its own accounts only, so the "
            "profile must name the organization (tenant).",
            hint="In the profile settings, set the tenant to your organization's domain "
            "(for example contoso.onmicrosoft.com) or its directory id.",
            details=details,
        )
    if codes & _NOT_ASSIGNED:
        return AppNotApproved(
            "Your account is not among the people allowed to use Video Messaging in your "
            "organization.",
            hint="Ask your Microsoft 365 administrator to assign you to the app.",
            details=details,
        )
    if codes & _APP_NOT_APPROVED or error in ("consent_required", "unauthorized_client"):
        return AppNotApproved(
            "Your organization has not approved Video Messaging for your account.",
            hint="Ask your Microsoft 365 administrator to approve it for the organization "
            "(admin consent).",
            details=details,
        )
    if codes & _DISABLED:
        return MicrosoftError(
            "Microsoft refused the sign-in for this account (disabled or locked).",
            hint="Contact your administrator.",
            details=details,
        )
    if error in {"access_denied", "authorization_declined"}:
        return SignInCancelled(
            "Sign-in was cancelled.",
            hint="Sign in again when you are ready; nothing you were writing was lost.",
            details=details,
        )
    if error in ("expired_token", "timeout") or "timed out" in desc.lower():
        return SignInTimedOut(
            "Sign-in timed out before it was completed.",
            hint="Start the sign-in again and finish it in the browser window.",
            details=details,
        )
    if error in ("invalid_grant", "interaction_required", "login_required") or codes & _REVOKED:
        return SignInRequired(
            "Your Microsoft 365 sign-in has expired or was revoked.",
            hint="Sign in again.",
            details=details,
        )
    return MicrosoftError(
        "Microsoft sign-in failed." if interactive else "Could not renew the Microsoft sign-in.",
        hint="Try again; if it keeps failing, copy the details for your administrator.",
        details=details,
    )


class CancellableReceiver(AuthCodeReceiver):  # type: ignore[misc]
    """MSAL's loopback listener, plus a way to end the wait when the user cancels.

    MSAL waits for the browser to post the answer to this listener. :meth:`cancel` posts
    the answer a cancelled sign-in gets (``error=access_denied`` with the flow's ``state``,
    which this class learns when MSAL starts waiting), so the wait ends within a second.
    """

    def __init__(self, port: int = 0) -> None:
        # MSAL's own __init__ binds 0.0.0.0 whenever it thinks it runs in a container
        # (msal/oauth2cli/authcode.py, `_is_inside_docker`), which would accept the
        # authorization code from the whole network. RFC 8252 says loopback only, so the
        # listener is built here the same way, always on 127.0.0.1.
        self._scheduled_actions: list[Any] = []
        self._server = _AuthCodeHttpServer(("127.0.0.1", port or 0), _AuthCodeHandler)
        self._closing = False
        self._state: str | None = None

    def get_auth_response(self, timeout: float | None = None, **kwargs: Any) -> Any:
        self._state = kwargs.get("state")
        return super().get_auth_response(timeout=timeout, **kwargs)

    def cancel(self) -> None:
        if self._state is None:
            return
        session = requests.Session()
        session.trust_env = False  # never through a proxy: this is our own loopback
        try:
            session.post(
                f"http://127.0.0.1:{self.get_port()}/",
                data={
                    "error": "access_denied",
                    "error_description": "The sign-in was cancelled in the app.",
                    "state": self._state,
                },
                timeout=5,
            )
        except requests.RequestException as exc:
            log.info("could not end the sign-in wait: %s", exc)
        finally:
            session.close()


class SignInCancelled(MicrosoftError):
    """The user closed or cancelled the sign-in."""


class SignInTimedOut(MicrosoftError):
    """The sign-in was not completed in time."""


class UnknownTenant(MicrosoftError):
    """The tenant in the profile does not exist."""


class AppNotApproved(MicrosoftError):
    """The organization has not consented to the app (or blocks user consent)."""


def _account_from(raw: Mapping[str, Any], profile: str) -> Account:
    home = str(raw.get("home_account_id") or "")
    claims = raw.get("id_token_claims") or {}
    return Account(
        username=str(raw.get("username") or claims.get("preferred_username") or ""),
        name=str(claims.get("name") or raw.get("name") or ""),
        home_account_id=home,
        tenant_id=str(raw.get("realm") or claims.get("tid") or home.partition(".")[2]),
        profile=profile,
    )


class SignIn:
    """Sign-in for one profile, and the token provider its Graph client uses.

    ``interactive_fallback``: when silent acquisition fails (no account, revoked refresh
    token), sign in interactively instead of raising :class:`SignInRequired`. The GUI and
    the sign-in command turn it on; background work leaves it off.
    """

    def __init__(
        self,
        config: SignInConfig,
        store: TokenCacheStore,
        *,
        http_client: Any = None,
        app_factory: Callable[..., Any] = msal.PublicClientApplication,
        platform: str = sys.platform,
        environ: Mapping[str, str] | None = None,
        parent_window_handle: int | None = None,
        interactive_timeout: float = 300.0,
        interactive_fallback: bool = False,
        prefer_device_code: bool = False,
        on_device_code: Callable[[DeviceCodePrompt], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.http_client = http_client or http_client_for(config.ca_file)
        self._app_factory = app_factory
        self.platform = platform
        self.environ = environ
        self.parent_window_handle = parent_window_handle
        self.interactive_timeout = interactive_timeout
        self.interactive_fallback = interactive_fallback
        self.prefer_device_code = prefer_device_code
        self.on_device_code = on_device_code
        self._app: Any = None
        #: Guards creating and dropping the MSAL app; never held while waiting for a user.
        self._lock = threading.RLock()
        #: Held for the whole of one interactive sign-in (it may wait minutes for the user).
        #: Silent work never takes it; work that needs a sign-in waits for it cancellably.
        self._interactive = threading.Lock()
        self._cancel = threading.Event()
        self._device_flow: dict[str, Any] | None = None
        self._receiver: CancellableReceiver | None = None

    # ------------------------------------------------------------------ MSAL app

    @property
    def app(self) -> Any:
        with self._lock:
            if self._app is None:
                self._app = self._create_app()
            return self._app

    def _create_app(self) -> Any:
        kwargs = app_kwargs(self.config, platform=self.platform, http_client=self.http_client)
        try:
            return self._app_factory(self.config.client_id, token_cache=self.store.cache, **kwargs)
        except ValueError as exc:
            text = str(exc)
            if "authority" in text.lower() or "tenant" in text.lower():
                raise UnknownTenant(
                    f"Microsoft does not know this organization (tenant): {self.config.authority}.",
                    hint="Check the tenant (directory) name or id in the profile settings.",
                    details=text[:300],
                ) from exc
            raise
        except requests.RequestException as exc:
            raise NetworkError(
                "The Microsoft sign-in service could not be reached.",
                hint="Check your internet connection and try again.",
                details=str(exc),
            ) from exc

    def _msal(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call MSAL; a damaged token cache is reset and the user asked to sign in again."""
        try:
            return fn(*args, **kwargs)
        except json.JSONDecodeError as exc:
            log.warning("token cache damaged during %s; resetting", getattr(fn, "__name__", fn))
            self.store.reset()
            with self._lock:
                self._app = None  # rebuild on the fresh cache
            raise SignInRequired(
                "The saved Microsoft sign-in on this computer was damaged and has been reset.",
                hint="Please sign in again.",
            ) from exc
        except requests.RequestException as exc:
            raise NetworkError(
                "The Microsoft sign-in service could not be reached.",
                hint="Check your internet connection and try again.",
                details=str(exc),
            ) from exc
        finally:
            self.store.after_write()

    # ------------------------------------------------------------------ accounts

    def _raw_accounts(self) -> list[dict[str, Any]]:
        if self.store.was_reset:
            self.store.was_reset = False
            raise SignInRequired(
                "The saved Microsoft sign-in on this computer was damaged and has been reset.",
                hint="Please sign in again.",
            )
        return list(self._msal(self.app.get_accounts) or [])

    def account(self) -> Account | None:
        """The signed-in account of this profile, or None."""
        accounts = self._raw_accounts()
        if not accounts:
            return None
        raw = dict(accounts[0])
        raw.setdefault("id_token_claims", self._id_claims(str(raw.get("home_account_id", ""))))
        return _account_from(raw, self.config.profile)

    def _id_claims(self, home_account_id: str) -> dict[str, Any]:
        """The claims of the cached id_token (for the display name; MSAL keeps it there)."""
        try:
            entries = self.store.cache.search(
                msal.TokenCache.CredentialType.ID_TOKEN,
                query={"home_account_id": home_account_id},
            )
            for entry in entries:
                payload = str(entry.get("secret", "")).split(".")[1]
                data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                if isinstance(data, dict):
                    return data
        except (IndexError, ValueError, TypeError):
            pass
        return {}

    def _keep_only(self, home_account_id: str, username: str) -> None:
        """One account per profile: forget any other account in this profile's cache."""
        accounts = self._raw_accounts()
        keep = [
            a
            for a in accounts
            if a.get("home_account_id") == home_account_id
            or (username and str(a.get("username", "")).casefold() == username.casefold())
        ]
        if not keep:
            return  # cannot tell which one is new: forget nothing
        for raw in accounts:
            if raw is not keep[0]:
                self._msal(self.app.remove_account, raw)

    # ------------------------------------------------------------------ tokens

    def access_token(
        self, force_refresh: bool = False, *, cancel: threading.Event | None = None
    ) -> str:
        """A valid access token, silently; interactive only when ``interactive_fallback``.

        Silent acquisition never waits for an interactive sign-in in progress (MSAL's token
        cache is thread-safe); when a sign-in is needed and another one is waiting for the
        user, this waits for it (``cancel`` ends the wait) and then tries silently again.
        """
        while True:
            try:
                return self._silent_token(force_refresh)
            except SignInRequired:
                if not self.interactive_fallback:
                    raise
            if self._interactive.acquire(blocking=False):
                try:
                    return str(self._interactive_result()["access_token"])
                finally:
                    self._interactive.release()
            self._wait_for_other_sign_in(cancel)

    def _silent_token(self, force_refresh: bool) -> str:
        accounts = self._raw_accounts()
        if not accounts:
            raise SignInRequired(
                "You are not signed in to Microsoft 365 in this profile.",
                hint="Sign in first.",
            )
        result = self._msal(
            self.app.acquire_token_silent_with_error,
            self.config.scopes,
            account=accounts[0],
            force_refresh=force_refresh,
        )
        if result and "access_token" in result:
            return str(result["access_token"])
        error = (
            error_from_result(result, interactive=False)
            if result
            else SignInRequired(
                "Your Microsoft 365 sign-in needs to be renewed.",
                hint="Sign in again.",
            )
        )
        log.info("silent token acquisition failed: %s", error.details or error.message)
        raise error

    @property
    def signing_in(self) -> bool:
        """True while an interactive sign-in waits for the user."""
        return self._interactive.locked()

    def _wait_for_other_sign_in(self, cancel: threading.Event | None) -> None:
        """Block until the interactive sign-in in progress ends, or ``cancel`` is set."""
        while not self._interactive.acquire(timeout=0.1):
            if cancel is not None and cancel.is_set():
                raise SignInCancelled(
                    "Stopped waiting for the sign-in in progress.",
                    hint="Finish or cancel the sign-in, then try again.",
                )
        self._interactive.release()

    def handle_claims_challenge(self, claims: str) -> None:
        """Conditional access asked for more: sign in again, interactively, with ``claims``."""
        log.info("claims challenge received; interactive sign-in with claims")
        self._sign_in_result(claims=claims)

    # ------------------------------------------------------------------ sign-in

    def method(self, *, device_code: bool = False) -> str:
        return choose_method(
            platform=self.platform,
            environ=self.environ,
            device_code=device_code or self.prefer_device_code,
            is_sandbox=self.config.is_sandbox,
        )

    def sign_in(self, *, device_code: bool = False, claims: str | None = None) -> Account:
        """Interactive sign-in (broker, browser or device code). Blocks; :meth:`cancel` stops it."""
        result = self._sign_in_result(device_code=device_code, claims=claims)
        raw = {
            "home_account_id": _home_id(result),
            "username": (result.get("id_token_claims") or {}).get("preferred_username", ""),
            "id_token_claims": result.get("id_token_claims") or {},
        }
        return _account_from(raw, self.config.profile)

    def _sign_in_result(
        self, *, device_code: bool = False, claims: str | None = None
    ) -> dict[str, Any]:
        """One interactive sign-in. A second one while the first waits for the user is
        refused at once (the user finishes or cancels the first)."""
        if not self._interactive.acquire(blocking=False):
            raise MicrosoftError(
                "A sign-in is already in progress.",
                hint="Finish it in the window that opened, or cancel it, then try again.",
            )
        try:
            return self._interactive_result(device_code=device_code, claims=claims)
        finally:
            self._interactive.release()

    def _interactive_result(
        self, *, device_code: bool = False, claims: str | None = None
    ) -> dict[str, Any]:
        """The interactive sign-in itself; the caller holds ``self._interactive``."""
        self._cancel.clear()
        method = self.method(device_code=device_code)
        existing = None
        try:
            accounts = self._raw_accounts()
            existing = accounts[0] if accounts else None
        except SignInRequired:
            existing = None
        hint = existing.get("username") if existing else None
        log.info("interactive sign-in via %s (claims: %s)", method, bool(claims))
        if method == "device_code":
            result = self._device_code_flow(claims)
        else:
            kwargs = interactive_kwargs(
                self.config,
                method=method,
                parent_window_handle=self.parent_window_handle,
                claims=claims,
                login_hint=hint,
                timeout=self.interactive_timeout,
                prompt=None if hint else "select_account",
            )
            receiver: CancellableReceiver | None = None
            if method == "browser":
                # Our own loopback listener, so cancel() can end the wait at once.
                receiver = CancellableReceiver(port=0)
                kwargs["port"] = receiver.get_port()
                kwargs["auth_code_receiver"] = receiver
                self._receiver = receiver
            try:
                result = self._msal(self.app.acquire_token_interactive, **kwargs)
            except BrowserInteractionTimeoutError as exc:
                if self._cancel.is_set():
                    raise SignInCancelled(
                        "Sign-in was cancelled.",
                        hint="Sign in again when you are ready; nothing you were writing was lost.",
                    ) from exc
                raise SignInTimedOut(
                    "Sign-in timed out before it was completed.",
                    hint="Start the sign-in again and finish it in the browser window.",
                ) from exc
            finally:
                self._receiver = None
                if receiver is not None:
                    receiver.close()
        if self._cancel.is_set():
            raise SignInCancelled(
                "Sign-in was cancelled.",
                hint="Sign in again when you are ready; nothing you were writing was lost.",
            )
        if not result or "access_token" not in result:
            raise error_from_result(result or {}, interactive=True)
        username = str((result.get("id_token_claims") or {}).get("preferred_username") or "")
        self._keep_only(_home_id(result), username)
        return dict(result)

    def _device_code_flow(self, claims: str | None) -> dict[str, Any]:
        flow = self._msal(
            self.app.initiate_device_flow, scopes=self.config.scopes, claims_challenge=claims
        )
        if "user_code" not in flow:
            raise error_from_result(flow, interactive=True)
        prompt = DeviceCodePrompt(
            user_code=str(flow["user_code"]),
            verification_uri=str(flow.get("verification_uri") or flow.get("verification_url")),
            message=str(flow.get("message") or ""),
            expires_in=int(flow.get("expires_in") or 900),
        )
        self._device_flow = flow
        if self.on_device_code is not None:
            self.on_device_code(prompt)
        deadline = time.time() + min(float(prompt.expires_in), self.interactive_timeout)

        def stop(f: dict[str, Any]) -> bool:
            return (
                self._cancel.is_set()
                or time.time() > deadline
                or f.get("expires_at", 0) < time.time()
            )

        try:
            result = self._msal(
                self.app.acquire_token_by_device_flow,
                flow,
                claims_challenge=claims,
                exit_condition=stop,
            )
        finally:
            self._device_flow = None
        if self._cancel.is_set():
            raise SignInCancelled(
                "Sign-in was cancelled.",
                hint="Sign in again when you are ready; nothing you were writing was lost.",
            )
        if result.get("error") in ("authorization_pending", "slow_down"):
            raise SignInTimedOut(
                "Sign-in timed out: the code was not entered in time.",
                hint="Run the sign-in again and enter the new code.",
            )
        return dict(result)

    def cancel(self) -> None:
        """Stop a sign-in that is waiting for the user (browser or device code). Thread-safe."""
        self._cancel.set()
        flow = self._device_flow
        if flow is not None:
            flow["expires_at"] = 0
        receiver = self._receiver
        if receiver is not None:
            receiver.cancel()

    # ------------------------------------------------------------------ sign-out

    def sign_out(self) -> str:
        """Disconnect: forget the account (cache and broker) and the profile's secrets.

        Returns what to tell the user, including how to revoke the app's permission.
        """
        if self.signing_in:  # a sign-in finishing after this would bring the account back
            self.cancel()
            self._wait_for_other_sign_in(None)
        with self._lock:
            try:
                for raw in self._raw_accounts():
                    self._msal(self.app.remove_account, raw)
            except (SignInRequired, MicrosoftError) as exc:
                log.info("sign-out: account removal skipped: %s", exc.message)
            self.store.clear()
            self._app = None
        deleted = []
        if secrets.backend_info().secure:  # an insecure backend cannot hold any of them
            for key in PROFILE_SECRET_KEYS:
                try:
                    if secrets.delete(self.config.profile, key):
                        deleted.append(key)
                except secrets.SecretStoreError as exc:
                    log.warning("sign-out: could not delete secret %s: %s", key, exc.message)
        if deleted:
            names = ", ".join(SECRET_LABELS.get(k, k) for k in deleted)
            return f"{REVOKE_HELP}\nAlso deleted from this computer for this profile: {names}."
        return REVOKE_HELP


def _home_id(result: Mapping[str, Any]) -> str:
    claims = result.get("id_token_claims") or {}
    info = result.get("client_info")
    if isinstance(info, dict) and info.get("uid"):
        return f"{info['uid']}.{info.get('utid', '')}"
    oid, tid = claims.get("oid"), claims.get("tid")
    return f"{oid}.{tid}" if oid and tid else ""

"""Everything one profile's work needs, opened once and closed once: :class:`Services`.

A front end opens one :class:`Services` per profile with what only it can supply for
sign-in (:class:`SignInOptions`: the parent window's handle, how to show a device code,
whether it may sign in interactively) and hands it to the sessions
(:class:`~app.workflow.take.TakeSession`, :class:`~app.workflow.send.SendSession`,
:func:`~app.workflow.startup.reconcile`). Services own, each created on first use:

- the profile's endpoints, resolved once (a Sandbox profile finds the running sandbox or
  starts one here, through :class:`~app.workflow.sandbox.SandboxHost`);
- Microsoft sign-in (:class:`~app.microsoft.auth.SignIn`) and the Graph client;
- the Kaltura session for the signed-in user and the upload recipe
  (:class:`~app.workflow.uploads.UploadRecipe`) with its uploader;
- the outbox and the mail transports;
- disconnecting (sign out, secrets deleted).

Threading: every method may be called from any thread; blocking ones take a ``cancel``
event. ``on_event`` is called from worker threads with the workflow's events (see
:mod:`app.workflow.events`) and must neither block nor raise. :meth:`Services.close`
cancels what is running, waits for it, suspends uploads (they resume at the next start),
and stops the sandbox if this process started it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import endpoints as endpoints_mod
from app import paths
from app import policy as policy_mod
from app import secrets as secrets_mod
from app import settings as settings_mod
from app.errors import AppError, MailError, SignInRequired
from app.workflow.events import Notice, OnEvent, safe_callback
from app.workflow.sandbox import SandboxHost

if TYPE_CHECKING:
    from app.kaltura.session import KalturaSession
    from app.mail.message import Sender
    from app.mail.outbox import Outbox
    from app.mail.transports import Transport
    from app.microsoft.auth import Account, DeviceCodePrompt, SignIn
    from app.microsoft.graph import GraphClient
    from app.microsoft.search import RecipientSearch, SearchResults
    from app.microsoft.token_cache import TokenCacheStore
    from app.workflow.uploads import UploadRecipe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignInOptions:
    """What a front end supplies for Microsoft sign-in."""

    #: The window the OS broker's dialog belongs to (``int(window.winId())``); a terminal
    #: passes MSAL's console placeholder. None: no broker prompt can be parented.
    parent_window_handle: Any = None
    #: Shows the device-code prompt (code + address) to the user.
    on_device_code: Callable[[DeviceCodePrompt], None] | None = None
    #: Work that finds no usable sign-in may start an interactive one (else it fails with
    #: SignInRequired and the front end offers to sign in).
    interactive: bool = False
    #: Sign in with a code on another device instead of a browser window.
    prefer_device_code: bool = False
    #: Seconds an interactive sign-in may wait for the user.
    timeout: float = 300.0


@dataclass(frozen=True)
class Locations:
    """Where a profile's state lives; the defaults are the user's folders (``app.paths``)."""

    outbox: Path | None = None
    #: The folder of upload states; default: ``<data>/uploads/<profile>``.
    uploads: Path | None = None
    #: The MSAL token cache file (a throwaway one for the demo).
    token_cache: Path | None = None
    #: Allow the token cache in a plain 0600 file (the demo's sandbox-only tokens).
    plaintext_token_cache: bool = False
    #: A throwaway sign-in (the demo, the self-test): the token cache is a plain file from
    #: the start and no OS key store is touched (a Linux desktop without a running
    #: Secret Service can block libsecret for minutes; a Mac would ask for the Keychain).
    throwaway_token_cache: bool = False
    #: The Sandbox profile's data folder; default: ``$VMSG_SANDBOX_DIR`` or the user's.
    sandbox_dir: Path | None = None


def uploads_dir(profile: str) -> Path:
    """Where a profile's upload jobs keep their state (a job resumes only with the account
    that started it, so each profile has its own folder)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile) or "default"
    return paths.data_dir() / "uploads" / safe


@dataclass
class _Lazy:
    """The services built on first use (guarded by ``Services._lock``)."""

    endpoints: endpoints_mod.Endpoints | None = None
    store: TokenCacheStore | None = None
    signin: SignIn | None = None
    graph: GraphClient | None = None
    me: dict[str, Any] | None = None
    kaltura: dict[str, KalturaSession] = field(default_factory=dict)
    category_id: int | None = None
    category_known: bool = False
    recipes: dict[str, UploadRecipe] = field(default_factory=dict)
    outbox: Outbox | None = None


class Services:
    """One profile's endpoints, sign-in, clients, uploads and outbox (see the module doc)."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        sign_in: SignInOptions | None = None,
        locations: Locations | None = None,
        on_event: OnEvent | None = None,
        start_sandbox: bool = True,
    ) -> None:
        self.settings, self.policy = endpoints_mod.load_effective()
        self.profile_name = profile or self.settings.active_profile
        #: The profile's settings (raises SettingsError for an unknown profile).
        self.profile = self.settings.profile(self.profile_name)
        self.sign_in_options = sign_in or SignInOptions()
        self.locations = locations or Locations()
        self.emit = safe_callback(on_event)
        self.sandbox = SandboxHost(start=start_sandbox)
        self._lock = threading.RLock()
        self._lazy = _Lazy()
        self._activity = threading.Condition()
        self._active = 0
        self._cancels: set[threading.Event] = set()
        self._closed = False

    @classmethod
    def open(cls, profile: str | None = None, **options: Any) -> Services:
        """The services of ``profile`` (default: the active one); see the constructor."""
        return cls(profile, **options)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ settings

    @property
    def is_sandbox(self) -> bool:
        return self.profile.kind == "sandbox"

    @property
    def mail_defaults(self) -> settings_mod.MailDefaults:
        return self.profile.mail

    def require_valid_policy(self) -> None:
        """Refuse work while the administrator's policy file is invalid."""
        pol: policy_mod.Policy | None = self.policy
        if pol is not None:
            pol.require_valid()

    @property
    def endpoints(self) -> endpoints_mod.Endpoints:
        """The profile's endpoints, resolved once (a Sandbox profile's sandbox is found or
        started now)."""
        with self._lock:
            if self._lazy.endpoints is None:
                self._check_open()
                self._lazy.endpoints = endpoints_mod.resolve(
                    self.profile_name, sandbox_manifest=self._sandbox_manifest
                )
            return self._lazy.endpoints

    def _sandbox_manifest(self, default_dir: Path) -> dict[str, Any]:
        return self.sandbox.manifest(self.locations.sandbox_dir or default_dir)

    # ------------------------------------------------------------------ activity

    def _check_open(self) -> None:
        if self._closed:
            raise AppError("The app is closing; this was not started.")

    @contextlib.contextmanager
    def activity(self, cancel: threading.Event) -> Iterator[threading.Event]:
        """Run blocking work that :meth:`close` may cancel and waits for."""
        with self._activity:
            self._check_open()
            self._active += 1
            self._cancels.add(cancel)
        try:
            yield cancel
        finally:
            with self._activity:
                self._active -= 1
                self._cancels.discard(cancel)
                self._activity.notify_all()

    def close(self, timeout: float = 15.0) -> None:
        """Cancel and wait for running work, suspend uploads, close clients, stop the
        sandbox this process started. Idempotent."""
        with self._activity:
            if self._closed:
                return
            self._closed = True
            for cancel in self._cancels:
                cancel.set()
        signin = self._lazy.signin
        if signin is not None and signin.signing_in:
            signin.cancel()
        deadline = time.monotonic() + timeout
        for recipe in list(self._lazy.recipes.values()):
            recipe.close(timeout=max(0.0, deadline - time.monotonic()))
        with self._activity:
            while self._active and time.monotonic() < deadline:
                self._activity.wait(max(0.0, deadline - time.monotonic()))
            if self._active:
                log.warning("closing with %d task(s) still running", self._active)
        lazy = self._lazy
        if lazy.outbox is not None:
            lazy.outbox.close()
        if lazy.graph is not None:
            lazy.graph.close()
        for session in lazy.kaltura.values():
            session.client.close()
        self.sandbox.stop()

    # ------------------------------------------------------------------ Microsoft

    @property
    def token_store(self) -> TokenCacheStore:
        from app.microsoft.token_cache import TokenCacheStore  # noqa: PLC0415 - msal is heavy

        with self._lock:
            if self._lazy.store is None:
                allow = bool(
                    self.settings.allow_plaintext_token_cache
                    or self.locations.plaintext_token_cache
                )
                throwaway = self.locations.throwaway_token_cache
                store = TokenCacheStore(
                    self.profile_name,
                    allow_plaintext=allow or throwaway,
                    location=self.locations.token_cache,
                    persistence_factory=_no_os_key_store if throwaway else None,
                )
                if store.warning and not throwaway:
                    self.emit(Notice(store.warning, level="warning", topic="token-storage"))
                self._lazy.store = store
            return self._lazy.store

    @property
    def signin(self) -> SignIn:
        from app.microsoft.auth import SignIn, SignInConfig  # noqa: PLC0415

        with self._lock:
            if self._lazy.signin is None:
                ms = self.endpoints.microsoft
                opts = self.sign_in_options
                config = SignInConfig(
                    profile=self.profile_name,
                    authority=ms.authority,
                    client_id=ms.client_id,
                    ca_file=str(ms.ca_file) if ms.ca_file else None,
                    is_sandbox=ms.is_sandbox,
                    exactly_once_sending=bool(self.settings.exactly_once_sending),
                )
                self._lazy.signin = SignIn(
                    config,
                    self.token_store,
                    interactive_fallback=opts.interactive,
                    prefer_device_code=opts.prefer_device_code,
                    on_device_code=opts.on_device_code,
                    parent_window_handle=opts.parent_window_handle,
                    interactive_timeout=opts.timeout,
                )
            return self._lazy.signin

    @property
    def graph(self) -> GraphClient:
        from app.microsoft.graph import GraphClient  # noqa: PLC0415

        with self._lock:
            if self._lazy.graph is None:
                ms = self.endpoints.microsoft
                ca = str(ms.ca_file) if ms.ca_file else None
                self._lazy.graph = GraphClient(ms.graph_url, self.signin, ca_file=ca)
            return self._lazy.graph

    def account(self) -> Account | None:
        """Who is signed in to Microsoft 365 in this profile (from the token cache)."""
        return self.signin.account()

    def sign_in(self, *, device_code: bool = False) -> Account:
        """Interactive sign-in (broker, browser or device code). Cancel with
        :meth:`cancel_sign_in` from another thread."""
        account = self.signin.sign_in(device_code=device_code)
        with self._lock:
            self._lazy.me = None
        return account

    def cancel_sign_in(self) -> None:
        self.signin.cancel()

    def ensure_account(self) -> Account:
        """The signed-in account; the sandbox signs in by itself (its device codes are
        approved at once), a front end that allows it signs in interactively."""
        account = self.account()
        if account is not None:
            return account
        if self.is_sandbox:
            self.emit(Notice("signing in to the sandbox"))
            return self.sign_in(device_code=True)
        if self.sign_in_options.interactive:
            return self.sign_in()
        raise SignInRequired(
            "You are not signed in to Microsoft 365 in this profile.",
            hint="Sign in first, then try again.",
        )

    def me(self, cancel: threading.Event | None = None) -> dict[str, Any]:
        """The signed-in user's Graph profile (``/me``), fetched once."""
        with self._lock:
            cached = self._lazy.me
        if cached is not None:
            return cached
        me = self.graph.get_json(
            "/me",
            params={"$select": "displayName,mail,userPrincipalName,jobTitle"},
            cancel=cancel,
        )
        with self._lock:
            self._lazy.me = me
        return me

    def sender(
        self, cancel: threading.Event | None = None, *, signature_html: str | None = None
    ) -> Sender:
        """Who the mail is from: the signed-in mailbox, with the profile's signature (or
        ``signature_html``)."""
        from app.mail.message import Sender  # noqa: PLC0415

        account = self.ensure_account()
        me = self.me(cancel)
        return Sender(
            email=str(me.get("mail") or me.get("userPrincipalName") or account.username),
            name=str(me.get("displayName") or account.name or ""),
            title=str(me.get("jobTitle") or ""),
            signature_html=self.mail_defaults.signature_html
            if signature_html is None
            else signature_html,
        )

    def recipient_search(
        self, on_results: Callable[[SearchResults], None], *, max_results: int = 10
    ) -> RecipientSearch:
        """Recipient autocomplete for this profile's directory (results arrive on worker
        threads; a Graph error arrives as the results' ``error``). Close it when done."""
        from app.microsoft.search import GraphDirectory, RecipientSearch  # noqa: PLC0415

        directory = GraphDirectory(self.graph, people_top=max_results, users_top=25)
        return RecipientSearch(directory, on_results, max_results=max_results)

    def disconnect(self) -> str:
        """Sign out of Microsoft 365 and delete this profile's stored secrets; returns what
        to tell the user (including how to revoke the app's permission)."""
        message = self.signin.sign_out()
        with self._lock:
            self._lazy.me = None
        return message

    # ------------------------------------------------------------------ Kaltura

    def kaltura_user(self, explicit: str | None = None) -> str:
        """The Kaltura user videos are uploaded as: the signed-in account (the sandbox's
        first sender when nobody is signed in there)."""
        if explicit:
            return explicit
        ep = self.endpoints
        account = None
        # The sandbox uploads as its first sender when its sign-in cannot be read at all
        # (no secure storage, nobody signed in); an organization needs a real sign-in.
        with contextlib.suppress(AppError if ep.is_sandbox else SignInRequired):
            account = self.account()
        if account is not None:
            return account.username
        if ep.is_sandbox and ep.senders:
            return str(ep.senders[0]["email"])
        raise SignInRequired(
            "No one is signed in, so there is no Kaltura user to upload as.",
            hint="Sign in to Microsoft 365 first.",
        )

    def kaltura(self, user: str | None = None) -> KalturaSession:
        """The Kaltura session for ``user`` (default: :meth:`kaltura_user`)."""
        user = self.kaltura_user(user)
        with self._lock:
            session = self._lazy.kaltura.get(user)
            if session is None:
                session = self._open_kaltura(user)
                self._lazy.kaltura[user] = session
            return session

    def _open_kaltura(self, user_id: str) -> KalturaSession:
        from app.kaltura.client import KalturaClient  # noqa: PLC0415
        from app.kaltura.errors import KalturaSettingsError  # noqa: PLC0415
        from app.kaltura.session import (  # noqa: PLC0415
            AdminSecretCredentials,
            AppTokenCredentials,
            Credentials,
            KalturaSession,
            LoginCredentials,
        )

        ep = self.endpoints
        k = ep.kaltura
        client = KalturaClient(k.service_url, partner_id=k.partner_id, ca_file=k.ca_file)
        creds: Credentials
        if k.app_token_id and k.app_token:
            creds = AppTokenCredentials(k.app_token_id, k.app_token, k.app_token_hash_type)
        elif k.app_token_id:
            raise KalturaSettingsError(
                "app_token",
                f'The app token for app token id "{k.app_token_id}" is not stored on this '
                "computer.",
                hint="Enter the app token in the profile's settings (it is kept in the "
                "system's secure storage).",
            )
        elif k.login_id:
            password = secrets_mod.fetch(ep.profile_name, secrets_mod.KALTURA_PASSWORD)
            if not password:
                raise KalturaSettingsError(
                    "password",
                    f'No Kaltura password is stored for "{k.login_id}".',
                    hint="Enter it in Settings > Organization > Kaltura password.",
                )
            creds = LoginCredentials(k.login_id, password)
        elif ep.is_sandbox and k.admin_secret:
            creds = AdminSecretCredentials(k.admin_secret)
        else:
            raise KalturaSettingsError(
                "app_token_id",
                f'The profile "{ep.profile_name}" has no way to sign in to Kaltura.',
                hint="Set an app token id and token (or a Kaltura login) in the profile.",
            )
        return KalturaSession(client, creds, user_id=user_id, sandbox=bool(ep.is_sandbox))

    def category_id(self) -> int | None:
        """The id of the profile's Kaltura category (None when it sets none), looked up once."""
        from app.kaltura import entries  # noqa: PLC0415

        with self._lock:
            if self._lazy.category_known:
                return self._lazy.category_id
        name = self.endpoints.kaltura.category
        found = entries.find_category(self.kaltura(), name) if name else None
        with self._lock:
            self._lazy.category_id, self._lazy.category_known = found, True
        return found

    def uploads(self, user: str | None = None) -> UploadRecipe:
        """The upload recipe for ``user`` (default: the signed-in one) in this profile."""
        from app.workflow.uploads import UploadRecipe  # noqa: PLC0415

        user = self.kaltura_user(user)
        with self._lock:
            recipe = self._lazy.recipes.get(user)
            if recipe is None:
                self._check_open()
                recipe = UploadRecipe(self, user)
                self._lazy.recipes[user] = recipe
            return recipe

    def landing_url(self, entry_id: str, token: str = "", name: str = "") -> str:
        """The landing page of ``entry_id`` (personal when a recipient token is given)."""
        from app.kaltura import links  # noqa: PLC0415

        return links.landing_url(
            self.endpoints.kaltura, entry_id, recipient_token=token, recipient_name=name
        )

    def thumbnail_url(self, entry_id: str, *, width: int = 480, height: int = 0) -> str:
        from app.kaltura import links  # noqa: PLC0415

        if height:
            return links.thumbnail_url(self.endpoints.kaltura, entry_id, width=width, height=height)
        return links.thumbnail_url(self.endpoints.kaltura, entry_id)

    # ------------------------------------------------------------------ mail

    def outbox(self) -> Outbox:
        from app.mail.outbox import Outbox  # noqa: PLC0415

        with self._lock:
            if self._lazy.outbox is None:
                self._check_open()
                outbox = Outbox(self.locations.outbox)
                if outbox.recovered_from is not None:
                    self.emit(
                        Notice(
                            f"The outbox could not be used ({outbox.damage}); it was kept as "
                            f"{outbox.recovered_from} and a new one was started. Messages "
                            "in the old one were not sent.",
                            level="warning",
                        )
                    )
                self._lazy.outbox = outbox
            return self._lazy.outbox

    def transport_kind(self, requested: str = "") -> str:
        kind = requested or self.mail_defaults.transport or "graph"
        if kind not in ("graph", "smtp"):
            raise MailError(
                f'"{kind}" is not a way this app sends mail.',
                hint="Choose Microsoft 365 (graph) or SMTP in the profile's mail settings.",
                setting="mail.transport",
            )
        return kind

    def transport(
        self,
        kind: str,
        *,
        sender_address: str = "",
        signature_html: str | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[Transport, Sender]:
        """The profile's transport of ``kind`` and the sender it sends as (signs in for
        Microsoft 365)."""
        from app.mail.message import Sender  # noqa: PLC0415
        from app.mail.transports.graph import GraphTransport  # noqa: PLC0415
        from app.mail.transports.smtp import SmtpTransport  # noqa: PLC0415

        if kind == "smtp":
            md = self.mail_defaults
            self.check_smtp(sender_address)
            sender = Sender(
                email=sender_address or md.smtp_username,
                signature_html=md.signature_html if signature_html is None else signature_html,
            )
            transport = SmtpTransport.for_profile(
                self.profile_name,
                host=md.smtp_host,
                port=md.smtp_port,
                security=md.smtp_security,
                username=md.smtp_username,
            )
            return transport, sender
        sender = self.sender(cancel, signature_html=signature_html)
        return GraphTransport(self.graph), sender

    def check_smtp(self, sender_address: str = "") -> None:
        """The SMTP settings are there (checked before anything is sent)."""
        md = self.mail_defaults
        if not md.smtp_host:
            raise MailError(
                "No SMTP server is set.",
                hint="Set it in the profile's mail settings.",
                setting="mail.smtp_host",
            )
        if not (sender_address or md.smtp_username):
            raise MailError(
                "No sender address for SMTP.",
                hint="Set the SMTP user name, or give the sender's address.",
                setting="mail.smtp_username",
            )


def _no_os_key_store(location: str) -> object:
    """For a throwaway sign-in: the OS key store is "unavailable", so the cache is a file."""
    raise RuntimeError(f"a throwaway sign-in is kept in a plain file ({location})")

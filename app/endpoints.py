"""What a profile talks to: the resolved Kaltura and Microsoft endpoints and credentials.

The workflow (``app.workflow.services``) calls :func:`resolve` once per profile and passes
the result's pieces into the clients (``app.kaltura``, ``app.microsoft``), which never read
settings themselves. Resolving has no side effects: it reads settings, policy and secrets.

- An organization profile's values come from the settings (with the administrator's
  policy applied) and its secrets from the OS keyring (``app.secrets``).
- The built-in Sandbox profile needs no configuration: its endpoints come from the
  manifest (``sandbox.json``) of a running sandbox, which the caller supplies
  (``sandbox_manifest``): the workflow finds one running for ``$VMSG_SANDBOX_DIR`` or starts
  one it owns and stops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app import policy as policy_mod
from app import secrets as secrets_mod
from app import settings as settings_mod
from app.errors import SandboxError, SettingsError

KALTURA_APP_TOKEN_SECRET = secrets_mod.KALTURA_APP_TOKEN
KALTURA_PASSWORD_SECRET = secrets_mod.KALTURA_PASSWORD
GRAPH_URL = "https://graph.microsoft.com/v1.0"
LOGIN_HOST = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class KalturaEndpoint:
    service_url: str
    partner_id: int
    app_token_id: str = ""
    app_token: str | None = None
    app_token_hash_type: str = "SHA1"
    login_id: str = ""
    uiconf_id: int = 0
    landing_url_template: str = ""
    category: str = ""
    #: Only for the sandbox: never set for an organization.
    admin_secret: str | None = None
    ca_file: Path | None = None
    hosted_preview_images: bool = False


@dataclass(frozen=True)
class MicrosoftEndpoint:
    #: Full authority URL, e.g. https://login.microsoftonline.com/organizations.
    authority: str
    client_id: str
    graph_url: str = GRAPH_URL
    ca_file: Path | None = None
    is_sandbox: bool = False


@dataclass(frozen=True)
class Endpoints:
    profile_name: str
    is_sandbox: bool
    kaltura: KalturaEndpoint
    microsoft: MicrosoftEndpoint
    #: Sandbox only: the seeded accounts that can sign in ([{email, name}]).
    senders: list[dict[str, Any]] = field(default_factory=list)
    settings: settings_mod.Settings | None = None
    policy: policy_mod.Policy | None = None
    #: Sandbox only: where its data lives.
    sandbox_dir: Path | None = None


def load_effective() -> tuple[settings_mod.Settings, policy_mod.Policy]:
    """The user's settings with the administrator's policy applied, and the policy."""
    loaded = settings_mod.load()
    pol = policy_mod.load()
    return pol.apply(loaded.settings), pol


def _authority_url(authority: str) -> str:
    if authority.startswith("https://"):
        return authority.rstrip("/")
    return f"{LOGIN_HOST}/{authority.strip('/') or 'organizations'}"


#: Given the sandbox's data folder, the manifest of a sandbox running for it.
ManifestProvider = Callable[[Path], dict[str, Any]]


def from_sandbox_manifest(
    name: str, profile: settings_mod.Profile, manifest: dict[str, Any], data_dir: Path | None
) -> Endpoints:
    k = manifest["kaltura"]
    ident = manifest["identity"]
    ca = Path(manifest["ca_file"]) if manifest.get("ca_file") else None
    token = k.get("app_token") or {}
    kaltura = KalturaEndpoint(
        service_url=k["url"],
        partner_id=int(k["partner_id"]),
        app_token_id=str(token.get("id", "")),
        app_token=token.get("token"),
        app_token_hash_type=str(token.get("hash_type", "SHA1")),
        uiconf_id=int(k.get("uiconf_id", 0)),
        landing_url_template=profile.kaltura.landing_url_template,
        category=profile.kaltura.category,
        admin_secret=k.get("admin_secret"),
        ca_file=ca,
        hosted_preview_images=profile.kaltura.hosted_preview_images,
    )
    microsoft = MicrosoftEndpoint(
        authority=str(ident["authority"]),
        client_id=str(ident["client_id"]),
        graph_url=str(manifest["graph"]["url"]),
        ca_file=ca,
        is_sandbox=True,
    )
    return Endpoints(
        profile_name=name,
        is_sandbox=True,
        kaltura=kaltura,
        microsoft=microsoft,
        senders=list(manifest.get("senders", [])),
        sandbox_dir=data_dir,
    )


def resolve(
    profile: str | None = None, *, sandbox_manifest: ManifestProvider | None = None
) -> Endpoints:
    """The endpoints of ``profile`` (default: the active one).

    A Sandbox profile needs ``sandbox_manifest``; without one it is a SandboxError.
    """
    settings, pol = load_effective()
    name = profile or settings.active_profile
    prof = settings.profile(name)
    if prof.kind == "sandbox":
        data_dir = paths.sandbox_dir()
        if sandbox_manifest is None:
            raise SandboxError(
                f'The profile "{name}" uses the built-in sandbox, which is not running.',
                hint="Start the sandbox, or choose an organization profile.",
            )
        manifest = sandbox_manifest(data_dir)
        ep = from_sandbox_manifest(name, prof, manifest, data_dir)
        return dataclasses.replace(ep, settings=settings, policy=pol)
    k, m = prof.kaltura, prof.microsoft
    if not k.partner_id:
        raise SettingsError(
            f'The profile "{name}" has no Kaltura partner id.',
            hint="Ask your administrator for it (docs/admin-guide.md).",
        )
    app_token = secrets_mod.fetch(name, KALTURA_APP_TOKEN_SECRET) if k.app_token_id else None
    kaltura = KalturaEndpoint(
        service_url=k.service_url.rstrip("/"),
        partner_id=k.partner_id,
        app_token_id=k.app_token_id,
        app_token=app_token,
        app_token_hash_type=k.app_token_hash_type,
        login_id=k.login_id,
        uiconf_id=k.player_uiconf_id,
        landing_url_template=k.landing_url_template,
        category=k.category,
        admin_secret=None,
        hosted_preview_images=k.hosted_preview_images,
    )
    microsoft = MicrosoftEndpoint(authority=_authority_url(m.authority), client_id=m.client_id)
    return Endpoints(
        profile_name=name,
        is_sandbox=False,
        kaltura=kaltura,
        microsoft=microsoft,
        settings=settings,
        policy=pol,
    )

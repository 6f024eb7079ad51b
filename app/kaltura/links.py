"""Share links: the landing URL a recipient opens, and the entry's thumbnail URL.

The landing URL comes from the profile's template. Placeholders (their values are
URL-encoded, so a recipient's name cannot break out of its query parameter)::

    {entry_id} {partner_id} {uiconf_id} {recipient_token} {recipient_name}

plus ``{service_url}`` and ``{player_url}`` (not encoded: they are the trusted bases the
profile names, meant for the start of a template) and ``{service_url_q}`` (encoded, for a
query parameter). The template may also be one of the built-in choices:

- ``sandbox`` - the sandbox's own landing page (``/landing/<entryId>``), the default for the
  Sandbox profile;
- ``kaltura-player`` - Kaltura's player page (the embedPlaykitJs iframe URL), the default
  for organizations;
- ``mediaspace:<portal URL>`` - a MediaSpace / Video Portal ``/media/t/<entryId>`` page;
- ``static:<URL of index.html>`` - the static landing page shipped in ``resources/landing/``,
  hosted by the organization on any static web host; it reads everything from the URL.
"""

from __future__ import annotations

import re
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from app.kaltura.errors import KalturaSettingsError

SANDBOX_TEMPLATE = "{service_url}/landing/{entry_id}?r={recipient_token}&name={recipient_name}"
PLAYER_TEMPLATE = (
    "{player_url}/p/{partner_id}/embedPlaykitJs/uiconf_id/{uiconf_id}"
    "?iframeembed=true&entry_id={entry_id}"
)
MEDIASPACE_PATH = "/media/t/{entry_id}"
STATIC_QUERY = (
    "?entry_id={entry_id}&partner_id={partner_id}&uiconf_id={uiconf_id}"
    "&service_url={service_url_q}&name={recipient_name}&r={recipient_token}"
)
KALTURA_CDN = "https://cdnapisec.kaltura.com"

ENCODED = ("entry_id", "partner_id", "uiconf_id", "recipient_token", "recipient_name")
RAW = ("service_url", "player_url")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class LinkEndpoint(Protocol):
    """What links need from a profile (``app.endpoints.KalturaEndpoint`` fits)."""

    @property
    def service_url(self) -> str: ...

    @property
    def partner_id(self) -> int: ...

    @property
    def uiconf_id(self) -> int: ...

    @property
    def landing_url_template(self) -> str: ...


def player_base(service_url: str) -> str:
    """Where the player and thumbnails are served: Kaltura's CDN for the SaaS service,
    the service itself for on-premises deployments and the sandbox."""
    host = (urlsplit(service_url).hostname or "").lower()
    if host == "kaltura.com" or host.endswith(".kaltura.com"):
        return KALTURA_CDN
    return service_url.rstrip("/")


def _is_sandbox_url(service_url: str) -> bool:
    from app.kaltura.client import is_loopback_url  # noqa: PLC0415

    return is_loopback_url(service_url)


def resolve_template(template: str, service_url: str) -> str:
    """The template to expand: a built-in name turned into its URL template."""
    t = template.strip()
    if not t:
        return SANDBOX_TEMPLATE if _is_sandbox_url(service_url) else PLAYER_TEMPLATE
    if t == "sandbox":
        return SANDBOX_TEMPLATE
    if t == "kaltura-player":
        return PLAYER_TEMPLATE
    if t.startswith("mediaspace:"):
        return t.removeprefix("mediaspace:").strip().rstrip("/") + MEDIASPACE_PATH
    if t.startswith("static:"):
        base = t.removeprefix("static:").strip()
        if "?" in base:
            return base + "&" + STATIC_QUERY[1:]
        return base + STATIC_QUERY
    return t


def expand(template: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders; an unknown one is a settings error."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in RAW:
            return values[name]
        if name in ENCODED or name == "service_url_q":
            return quote(values[name], safe="")
        known = ", ".join("{" + n + "}" for n in (*ENCODED, *RAW))
        raise KalturaSettingsError(
            "landing_url_template",
            f"The landing page address has an unknown placeholder {{{name}}}.",
            hint=f"Use only {known}.",
        )

    return _PLACEHOLDER.sub(sub, template)


def landing_url(
    endpoint: LinkEndpoint,
    entry_id: str,
    *,
    recipient_token: str = "",
    recipient_name: str = "",
) -> str:
    """The link a recipient opens to watch ``entry_id``."""
    if not entry_id:
        raise ValueError("landing_url needs an entry id")
    template = resolve_template(endpoint.landing_url_template, endpoint.service_url)
    service = endpoint.service_url.rstrip("/")
    url = expand(
        template,
        {
            "entry_id": entry_id,
            "partner_id": str(endpoint.partner_id),
            "uiconf_id": str(endpoint.uiconf_id),
            "recipient_token": recipient_token,
            "recipient_name": recipient_name,
            "service_url": service,
            "service_url_q": service,
            "player_url": player_base(service),
        },
    )
    if not (recipient_token or recipient_name):
        url = _drop_empty_recipient_params(url)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise KalturaSettingsError(
            "landing_url_template",
            f'The landing page template does not give a web address ("{url[:80]}").',
            hint="Start the template with https:// (or use one of the built-in choices).",
        )
    return url


def _drop_empty_recipient_params(url: str) -> str:
    """A link for no one in particular (e.g. the one shown at stop) has no empty ``r=&name=``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [p for p in parts.query.split("&") if p and not p.endswith("=")]
    return urlunsplit(parts._replace(query="&".join(kept)))


def thumbnail_url(
    endpoint: LinkEndpoint,
    entry_id: str,
    *,
    width: int | None = None,
    height: int | None = None,
    vid_sec: float | None = None,
    version: int | None = None,
) -> str:
    """Kaltura's thumbnail API URL for an entry (docs/protocols.md, "Kaltura: delivery URLs")."""
    pid = endpoint.partner_id
    base = player_base(endpoint.service_url)
    url = f"{base}/p/{pid}/sp/{pid}00/thumbnail/entry_id/{quote(entry_id, safe='')}"
    if version is not None:
        url += f"/version/{int(version)}"
    if width:
        url += f"/width/{int(width)}"
    if height:
        url += f"/height/{int(height)}"
    if vid_sec is not None:
        url += f"/vid_sec/{float(vid_sec):g}"
    return url

"""Typed user settings and organization profiles, stored as JSON with a schema version.

The settings are dataclasses declared once here, with their defaults. The file on disk
carries ``schema_version``; older files are upgraded by the functions in ``MIGRATIONS``,
one version step each. Reading never fails: a file that is not JSON, holds values of the
wrong type, unknown keys, or was written by a newer version is backed up next to itself
(timestamped), the parts that are valid are kept, the rest fall back to defaults, and
every reset is reported in :attr:`LoadResult.problems` so the app can say exactly what
happened.

Secrets (a Kaltura app token, an SMTP password) never live here: they go to the OS
keyring (``app.secrets``). The MSAL token cache has its own encrypted store.

The administrator's policy (``app.policy``) overrides and locks values after loading.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from app import paths, system
from app.errors import SettingsError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
SANDBOX_PROFILE = "Sandbox"

T = TypeVar("T")

ProfileKind = Literal["sandbox", "organization"]
Preset = Literal["480p", "720p30", "1080p30"]


@dataclass
class KalturaSettings:
    """Where a profile's videos live."""

    service_url: str = "https://www.kaltura.com"
    partner_id: int = 0
    app_token_id: str = ""
    #: Hash type of the app token (SHA1 when the token does not set one).
    app_token_hash_type: str = "SHA1"
    #: Sign in with user.loginByLoginId instead of an app token (organizations without one).
    login_id: str = ""
    player_uiconf_id: int = 0
    #: Placeholders: {entry_id} {partner_id} {uiconf_id} {recipient_token} {recipient_name}.
    landing_url_template: str = ""
    category: str = ""
    #: Use Kaltura's hosted thumbnail in emails instead of an inline animated GIF.
    hosted_preview_images: bool = False
    #: The largest video the organization's Kaltura accepts, in MB (0: no limit); bigger
    #: files are refused before any byte is uploaded.
    max_upload_mb: int = 2048


@dataclass
class MicrosoftSettings:
    """How a profile signs in to Microsoft 365."""

    #: A tenant id or domain, or ``organizations`` for any work or school account.
    authority: str = "organizations"
    client_id: str = ""


@dataclass
class MailDefaults:
    """What a new message starts with."""

    template: str = "personal-note"
    signature_html: str = ""
    subject: str = "A video message for {{ recipient.first_name or recipient.display_name }}"
    #: "graph" (Microsoft 365) or "smtp".
    transport: str = "graph"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    #: "starttls" or "tls" (implicit TLS).
    smtp_security: str = "starttls"


@dataclass
class Profile:
    """One organization the user belongs to (or the built-in sandbox)."""

    name: str = SANDBOX_PROFILE
    kind: ProfileKind = "sandbox"
    kaltura: KalturaSettings = field(default_factory=KalturaSettings)
    microsoft: MicrosoftSettings = field(default_factory=MicrosoftSettings)
    mail: MailDefaults = field(default_factory=MailDefaults)


@dataclass
class RecordingSettings:
    camera: str = ""
    microphone: str = ""
    preset: Preset = "720p30"
    countdown_seconds: int = 3
    max_duration_seconds: int = 600
    mirror_preview: bool = True


@dataclass
class DesktopSettings:
    """The desktop app's own choices (the command line ignores them)."""

    #: The first-run wizard was finished (or skipped).
    first_run_done: bool = False
    #: "Closing the window keeps the app in the tray" was said once.
    tray_notice_shown: bool = False
    start_at_login: bool = False
    #: The global quick-record shortcut (a Qt key sequence; "" for none).
    quick_record_shortcut: str = "Ctrl+Alt+R"
    #: Show a notification when a sent video is watched.
    notify_watched: bool = True


@dataclass
class Settings:
    schema_version: int = SCHEMA_VERSION
    active_profile: str = SANDBOX_PROFILE
    profiles: dict[str, Profile] = field(default_factory=lambda: {SANDBOX_PROFILE: Profile()})
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    desktop: DesktopSettings = field(default_factory=DesktopSettings)
    #: Allow the MSAL token cache in a 0600 file when no OS secure storage exists.
    allow_plaintext_token_cache: bool = False
    #: Send through Graph's draft flow (needs Mail.ReadWrite) so retries are exactly-once.
    exactly_once_sending: bool = False

    def profile(self, name: str | None = None) -> Profile:
        """The named profile, or the active one. Raises SettingsError if it does not exist."""
        wanted = name or self.active_profile
        try:
            return self.profiles[wanted]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise SettingsError(
                f'There is no profile named "{wanted}".',
                hint=f"Known profiles: {known}.",
            ) from None


# --------------------------------------------------------------------------- migrations


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 held one organization as flat keys; version 2 has named profiles.

    v1: ``{"schema_version": 1, "kaltura_url", "partner_id", "app_token_id", "uiconf_id",
    "tenant", "client_id", "template", "signature", "countdown", "preset"}``.
    """
    org_keys = ("kaltura_url", "partner_id", "app_token_id", "uiconf_id", "tenant", "client_id")
    out: dict[str, Any] = {"schema_version": 2}
    profiles: dict[str, Any] = {SANDBOX_PROFILE: {"name": SANDBOX_PROFILE, "kind": "sandbox"}}
    mail: dict[str, Any] = {}
    if "template" in data:
        mail["template"] = data["template"]
    if "signature" in data:
        mail["signature_html"] = data["signature"]
    if any(k in data for k in org_keys):
        org: dict[str, Any] = {"name": "Organization", "kind": "organization", "kaltura": {}}
        for old, new in (
            ("kaltura_url", "service_url"),
            ("partner_id", "partner_id"),
            ("app_token_id", "app_token_id"),
            ("uiconf_id", "player_uiconf_id"),
        ):
            if old in data:
                org["kaltura"][new] = data[old]
        org["microsoft"] = {
            k2: data[k1]
            for k1, k2 in (("tenant", "authority"), ("client_id", "client_id"))
            if k1 in data
        }
        org["mail"] = mail
        profiles["Organization"] = org
        out["active_profile"] = "Organization"
    else:
        profiles[SANDBOX_PROFILE]["mail"] = mail
    out["profiles"] = profiles
    recording: dict[str, Any] = {}
    if "countdown" in data:
        recording["countdown_seconds"] = data["countdown"]
    if "preset" in data:
        recording["preset"] = data["preset"]
    if recording:
        out["recording"] = recording
    return out


#: ``MIGRATIONS[n]`` upgrades a version-n document to version n+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2}


# --------------------------------------------------------------------------- typed decoding


@dataclass(frozen=True)
class Problem:
    """One part of the settings file that could not be used."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin is dict:
        return "an object"
    if isinstance(tp, type):
        return {"str": "text", "int": "a whole number", "bool": "true or false"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp)


def decode_value(tp: Any, value: Any, where: str, problems: list[Problem]) -> Any:
    """Decode ``value`` as ``tp``. Raises ValueError with a message when it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return decode_value(option, value, where, problems)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors) or f"expected null, found {json.dumps(value)[:60]}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ValueError(f"expected a list, found {json.dumps(value)[:60]}")
        return [
            decode_value(item_tp, item, f"{where}[{i}]", problems) for i, item in enumerate(value)
        ]
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, found {json.dumps(value)[:60]}")
        return decode_dataclass(tp, value, where, problems)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ValueError(f"expected {_type_name(tp)}, found {json.dumps(value)[:60]}")
        return value
    if origin is dict:
        _key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, found {json.dumps(value)[:60]}")
        out = {}
        for key, item in value.items():
            try:
                out[key] = decode_value(val_tp, item, f"{where}.{key}", problems)
            except ValueError as exc:
                problems.append(Problem(f"{where}.{key}", f"{exc}; removed"))
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, found {json.dumps(value)[:60]}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, found {json.dumps(value)[:60]}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, found {json.dumps(value)[:60]}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"expected text, found {json.dumps(value)[:60]}")
        return value
    raise TypeError(f"settings field type {tp!r} is not supported")  # a bug in this module


#: Settings only an organization's profile has: one naming them is an organization's.
_ORGANIZATION_KEYS = {
    "kaltura": {"partner_id", "app_token_id", "login_id", "service_url"},
    "microsoft": {"client_id", "authority"},
}


def _with_profile_kind(data: dict[str, Any]) -> dict[str, Any]:
    """A profile that leaves out "kind" but names its organization's Kaltura or Microsoft
    settings (a policy file typed by hand) is an organization's: the default, "sandbox",
    would send everything to the built-in sandbox without a word."""
    if "kind" in data:
        return data
    for section, keys in _ORGANIZATION_KEYS.items():
        given = data.get(section)
        if isinstance(given, dict) and keys & set(given):
            return {**data, "kind": "organization"}
    return data


def decode_dataclass(cls: type[T], data: dict[str, Any], where: str, problems: list[Problem]) -> T:
    """Build ``cls`` from ``data``: valid fields kept, invalid ones reset and reported."""
    if cls is Profile:
        data = _with_profile_kind(data)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            problems.append(Problem(f"{where}.{key}".lstrip("."), "unknown setting; ignored"))
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        path = f"{where}.{f.name}".lstrip(".")
        try:
            kwargs[f.name] = decode_value(hints[f.name], data[f.name], path, problems)
        except ValueError as exc:
            problems.append(Problem(path, f"{exc}; reset to the default"))
    return cls(**kwargs)


def decode_strict(cls: type[T], data: object, what: str) -> T:
    """Build ``cls`` from ``data`` or raise ValueError saying what is wrong: for stored
    state (upload jobs, take files) where a wrong field is damage, not a default."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    problems: list[Problem] = []
    try:
        value = decode_dataclass(cls, data, "", problems)
    except TypeError as exc:  # a field of no supported type, or missing required ones
        raise ValueError(f"{what}: {exc}") from None
    wrong = [p for p in problems if p.problem != "unknown setting; ignored"]
    if wrong:
        raise ValueError(f"{what}: " + "; ".join(str(p) for p in wrong))
    return value


def encode(obj: Any) -> Any:
    """Settings objects to plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj


# --------------------------------------------------------------------------- loading


@dataclass
class LoadResult:
    settings: Settings
    #: What could not be used, each reset to its default. Empty when the file was fine.
    problems: list[Problem] = field(default_factory=list)
    #: Where the unusable file was copied before anything was reset.
    backup: Path | None = None
    #: The file came from an older schema and was upgraded.
    migrated_from: int | None = None

    def summary(self) -> str:
        """One paragraph the app can show: what was reset, and where the backup is."""
        if not self.problems:
            return ""
        lines = ["Some settings could not be used and were reset:"]
        lines += [f"  - {p}" for p in self.problems]
        if self.backup:
            lines.append(f"Your previous settings file was kept as {self.backup}.")
        return "\n".join(lines)


def _backup(path: Path) -> Path:
    """A copy of a damaged settings file, once per damaged version, keeping its mode."""
    return system.keep_damaged(path)


def _ensure_sandbox_profile(settings: Settings, problems: list[Problem]) -> None:
    existing = settings.profiles.get(SANDBOX_PROFILE)
    if existing is None:
        settings.profiles[SANDBOX_PROFILE] = Profile()
    elif existing.kind != "sandbox" or existing.name != SANDBOX_PROFILE:
        existing.kind = "sandbox"
        existing.name = SANDBOX_PROFILE
        problems.append(Problem("profiles.Sandbox", "the built-in profile was repaired"))
    for key, prof in settings.profiles.items():
        if prof.name != key:
            prof.name = key
    if settings.active_profile not in settings.profiles:
        problems.append(
            Problem(
                "active_profile",
                f'no profile named "{settings.active_profile}"; using "{SANDBOX_PROFILE}"',
            )
        )
        settings.active_profile = SANDBOX_PROFILE


def parse(text: str) -> LoadResult:
    """Decode a settings document. Never raises; problems are reported in the result."""
    problems: list[Problem] = []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return LoadResult(
            Settings(),
            [Problem("", f"not valid JSON (line {exc.lineno}: {exc.msg}); all settings reset")],
        )
    except RecursionError:
        return LoadResult(Settings(), [Problem("", "nested too deeply; all settings reset")])
    if not isinstance(data, dict):
        return LoadResult(Settings(), [Problem("", "not a JSON object; all settings reset")])
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(Problem("schema_version", f"{json.dumps(version)} is not a version"))
        version = SCHEMA_VERSION
    migrated_from = None
    if version > SCHEMA_VERSION:
        problems.append(
            Problem(
                "schema_version",
                f"written by a newer version of the app (schema {version}, this app reads "
                f"{SCHEMA_VERSION}); settings this version knows were kept",
            )
        )
    elif version < SCHEMA_VERSION:
        migrated_from = version
        data = copy.deepcopy(data)
        while version < SCHEMA_VERSION:
            data = MIGRATIONS[version](data)
            version += 1
    data["schema_version"] = SCHEMA_VERSION
    settings = decode_dataclass(Settings, data, "", problems)
    settings.schema_version = SCHEMA_VERSION
    _ensure_sandbox_profile(settings, problems)
    return LoadResult(settings, problems, migrated_from=migrated_from)


def load(path: Path | None = None) -> LoadResult:
    """Read the settings file (defaults when there is none), backing up an unusable one."""
    path = path or paths.settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadResult(Settings())
    except OSError as exc:
        log.warning("cannot read settings %s: %s", path, exc)
        return LoadResult(Settings(), [Problem("", f"cannot read {path}: {exc.strerror}")])
    try:
        text = raw.decode("utf-8-sig")  # Notepad and PowerShell 5 write a BOM
    except UnicodeDecodeError:
        text = "\x00"  # parse() reports it as not JSON
    result = parse(text)
    if result.problems:
        result.backup = _backup(path)
        log.warning("settings reset: %s", "; ".join(map(str, result.problems)))
    return result


def save(settings: Settings, path: Path | None = None) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = path or paths.settings_path()
    text = json.dumps(encode(settings), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    try:
        paths.private_app_dir(path.parent)
        system.write_private(path, text.encode("utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"Could not save settings to {path}: {exc.strerror or exc}.",
            hint="Check that the folder exists and that you may write to it.",
        ) from exc


def field_type(path: str) -> Any:
    """The declared type of a dotted settings path such as ``recording.countdown_seconds``.

    Profile paths look like ``profiles.<name>.kaltura.partner_id``.
    """
    tp: Any = Settings
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
            i += 1
            continue
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            raise KeyError(path)
        hints = typing.get_type_hints(tp)
        if parts[i] not in hints:
            raise KeyError(path)
        tp = hints[parts[i]]
        i += 1
    return tp


__all__ = [
    "MIGRATIONS",
    "SANDBOX_PROFILE",
    "SCHEMA_VERSION",
    "KalturaSettings",
    "LoadResult",
    "MailDefaults",
    "MicrosoftSettings",
    "Problem",
    "Profile",
    "RecordingSettings",
    "Settings",
    "decode_dataclass",
    "decode_value",
    "encode",
    "load",
    "parse",
    "save",
]

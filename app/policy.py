"""The administrator's policy: a read-only JSON file that overrides and locks settings.

An MDM (Intune, Jamf, ...) places it at the machine-wide path of
:func:`app.paths.machine_policy_path`; ``VMSG_POLICY`` points elsewhere for tests.
Its shape mirrors the settings file, plus a version::

    {
      "policy_version": 1,
      "active_profile": "Contoso",
      "exactly_once_sending": true,
      "profiles": {"Contoso": {"kind": "organization",
                               "kaltura": {"partner_id": 12345, "app_token_id": "1_abc"},
                               "microsoft": {"authority": "contoso.onmicrosoft.com",
                                             "client_id": "..."}}},
      "recording": {"max_duration_seconds": 300}
    }

Every value present is applied over the user's settings and locked: the UI shows it
read-only and :func:`set_value` refuses to change it. A policy is never silently
ignored: a file that cannot be parsed or holds a wrong key or type makes
:attr:`Policy.error` say which file, which line and what is wrong, and sending refuses to
run (:meth:`Policy.require_valid`) until the administrator fixes it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.errors import PolicyError, PolicyLockedError
from app.settings import Problem, Settings, decode_dataclass, decode_value, encode, field_type

POLICY_VERSION = 1


@dataclass
class Policy:
    """The policy in force. ``values`` is a partial settings document; empty means none."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    #: Why the policy file is invalid (file, line, problem), or "" when it is valid.
    error: str = ""

    @property
    def present(self) -> bool:
        return self.path is not None

    def locked_paths(self) -> set[str]:
        """Every dotted settings path the policy sets, e.g. ``profiles.Contoso.kaltura``."""
        out: set[str] = set()

        def walk(prefix: str, node: Any, tp: Any) -> None:
            is_dc = dataclasses.is_dataclass(tp) or typing.get_origin(tp) is dict
            if isinstance(node, dict) and is_dc:
                for key, value in node.items():
                    sub = f"{prefix}.{key}" if prefix else key
                    walk(sub, value, field_type(sub))
            else:
                out.add(prefix)

        walk("", self.values, Settings)
        return out

    def is_locked(self, path: str) -> bool:
        """True when ``path`` or anything above it is set by the policy."""
        locked = self.locked_paths()
        parts = path.split(".")
        return any(".".join(parts[: i + 1]) in locked for i in range(len(parts)))

    def require_valid(self) -> None:
        """Raise PolicyError when the policy file is invalid (callers: anything that sends)."""
        if self.error:
            raise PolicyError(
                f"Sending is disabled: the administrator's policy file is invalid. {self.error}",
                hint="Ask your administrator to correct the policy file.",
            )

    def apply(self, settings: Settings) -> Settings:
        """A copy of ``settings`` with every policy value applied over it."""
        if not self.values or self.error:
            return settings
        merged = _merge(encode(settings), self.values)
        problems: list[Problem] = []
        result = decode_dataclass(Settings, merged, "", problems)
        for name, prof in result.profiles.items():
            prof.name = name
        return result


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _line_of(text: str, dotted: str) -> int:
    """Best-effort line number of the last key of ``dotted`` in the JSON text."""
    pos = 0
    for part in dotted.split("."):
        found = text.find(json.dumps(part), pos)
        if found < 0:
            break
        pos = found
    return text.count("\n", 0, pos) + 1


def _validate(values: dict[str, Any], text: str, where: Path) -> str:
    if values.get("policy_version", POLICY_VERSION) != POLICY_VERSION:
        line = _line_of(text, "policy_version")
        return f"{where}, line {line}: policy_version must be {POLICY_VERSION}."
    body = {k: v for k, v in values.items() if k != "policy_version"}
    if "schema_version" in body:
        return f"{where}, line {_line_of(text, 'schema_version')}: schema_version cannot be set."
    problems: list[Problem] = []
    decode_dataclass(Settings, body, "", problems)
    if problems:
        first = problems[0]
        line = _line_of(text, first.path) if first.path else 1
        what = first.problem.replace("; ignored", "").replace("; reset to the default", "")
        what = what.replace("; removed", "")
        return f"{where}, line {line}: {first.path}: {what}."
    return ""


def load(path: Path | None = None) -> Policy:
    """Read the policy in force. A missing file is no policy; an invalid one sets ``error``."""
    path = path or paths.policy_path()
    try:
        # utf-8-sig: Windows PowerShell 5.1 and Notepad save with a byte order mark.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return Policy()
    except (OSError, UnicodeDecodeError) as exc:
        return Policy(path=path, error=f"{path}: cannot be read ({exc}).")
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        return Policy(path=path, error=f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).")
    except RecursionError:
        return Policy(path=path, error=f"{path}: nested too deeply to be a policy.")
    if not isinstance(values, dict):
        return Policy(path=path, error=f"{path}, line 1: the policy must be a JSON object.")
    error = _validate(values, text, path)
    if error:
        return Policy(path=path, error=error)
    values.pop("policy_version", None)
    return Policy(path=path, values=values)


def set_value(settings: Settings, dotted: str, value: Any, policy: Policy) -> None:
    """Change one setting in place, refusing what the policy locks.

    ``dotted`` is a settings path such as ``recording.countdown_seconds`` or
    ``profiles.Contoso.kaltura.partner_id``.
    """
    if policy.is_locked(dotted):
        raise PolicyLockedError(
            f'"{dotted}" is set by your administrator and cannot be changed here.',
            hint=f"The policy file is {policy.path}.",
        )
    parts = dotted.split(".")
    target: Any = settings
    for part in parts[:-1]:
        target = target[part] if isinstance(target, dict) else getattr(target, part)
    try:
        expected = field_type(dotted)
    except KeyError:
        raise PolicyError(f'"{dotted}" is not a setting.') from None
    try:
        value = decode_value(expected, value, dotted, [])
    except ValueError as exc:
        raise PolicyError(f"{dotted}: {exc}.") from None
    if isinstance(target, dict):
        target[parts[-1]] = value
    else:
        setattr(target, parts[-1], value)

"""The administrator guide's policy key table ("Every key" in docs/admin-guide.md) lists
exactly the keys a policy file may set, with the type and default the code gives them.

The keys the code accepts are the settings dataclasses (``app.settings.Settings``, which
``app.policy`` decodes a policy with) minus ``schema_version``, plus ``policy_version``.
A key missing from either side, or a wrong type or default in the guide, fails here.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Literal

import pytest

from app import policy, settings

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "admin-guide.md"
SECTION = "### Every key"
NAME = "<name>"


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    meaning: str


def guide_rows() -> list[Row]:
    """The rows of the key table under the "Every key" heading."""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    start = lines.index(SECTION)
    rows: list[Row] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|", 3)]
        assert len(cells) == 4, f"a key row needs 4 cells: {line}"
        key, type_, default, meaning = cells
        assert key.startswith("`") and key.endswith("`"), f"key not in backticks: {line}"
        rows.append(Row(key.strip("`"), type_, default, meaning))
    return rows


def type_name(tp: Any) -> str:
    """How the guide writes a settings type."""
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(tp))
    names = {str: "text", int: "whole number", bool: "true/false"}
    assert tp in names, f"add {tp!r} to the guide's list of types and to this test"
    return names[tp]


def accepted_keys() -> dict[str, tuple[Any, Any]]:
    """Every leaf key a policy may set: dotted path -> (type, default)."""
    out: dict[str, tuple[Any, Any]] = {"policy_version": (int, policy.POLICY_VERSION)}

    def walk(prefix: str, cls: type[Any]) -> None:
        hints = typing.get_type_hints(cls)
        instance = cls()
        for f in dataclasses.fields(cls):
            if cls is settings.Settings and f.name == "schema_version":
                continue  # a policy cannot set it (app.policy._validate)
            path = f"{prefix}{f.name}"
            tp = hints[f.name]
            if typing.get_origin(tp) is dict:
                value_tp = typing.get_args(tp)[1]
                walk(f"{path}.{NAME}.", value_tp)
            elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
                walk(f"{path}.", tp)
            else:
                out[path] = (tp, getattr(instance, f.name))

    walk("", settings.Settings)
    return out


def test_the_guide_lists_every_key_the_code_accepts_and_no_other() -> None:
    rows = guide_rows()
    listed = [r.key for r in rows]
    assert len(listed) == len(set(listed)), "a key is listed twice"
    accepted = set(accepted_keys())
    assert sorted(accepted - set(listed)) == [], "keys the code accepts but the guide omits"
    assert sorted(set(listed) - accepted) == [], "keys the guide lists but the code refuses"


def test_the_guide_gives_each_key_its_type_and_default() -> None:
    accepted = accepted_keys()
    for row in guide_rows():
        tp, default = accepted[row.key]
        assert row.type == type_name(tp), row.key
        assert row.default == f"`{json.dumps(default)}`", row.key
        assert row.meaning, row.key


def _policy_with(key: str, value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    node = doc
    parts = key.replace(NAME, "Contoso").split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return doc


@pytest.mark.parametrize("key", [r.key for r in guide_rows()])
def test_a_policy_may_set_each_listed_key(key: str, tmp_path: Path) -> None:
    tp, default = accepted_keys()[key]
    value = typing.get_args(tp)[0] if typing.get_origin(tp) is Literal else default
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(_policy_with(key, value)), encoding="utf-8")
    loaded = policy.load(path)
    assert loaded.error == ""
    if key != "policy_version":  # read, checked and dropped: it locks nothing
        assert key.replace(NAME, "Contoso") in loaded.locked_paths()


@pytest.mark.parametrize(
    "doc",
    [
        {"schema_version": 2},
        {"recording": {"no_such_key": 1}},
        {"profiles": {"Contoso": {"kaltura": {"no_such_key": ""}}}},
    ],
)
def test_a_policy_may_not_set_keys_outside_the_list(doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert policy.load(path).error != ""

"""Administrator policy: overrides and locks, and invalid files are never silently ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app import paths, policy, settings
from app.errors import PolicyError, PolicyLockedError
from app.settings import Settings


def _policy_file(text: str) -> Path:
    path = Path(os.environ["VMSG_POLICY"])
    path.write_text(text, encoding="utf-8")
    return path


CONTOSO = {
    "policy_version": 1,
    "active_profile": "Contoso",
    "exactly_once_sending": True,
    "profiles": {
        "Contoso": {
            "kind": "organization",
            "kaltura": {"partner_id": 12345, "app_token_id": "1_abc"},
            "microsoft": {"authority": "contoso.onmicrosoft.com", "client_id": "cid"},
        }
    },
    "recording": {"max_duration_seconds": 300},
}


def test_no_policy_file_means_no_policy() -> None:
    pol = policy.load()
    assert not pol.present and pol.error == "" and pol.values == {}
    s = Settings()
    assert pol.apply(s) is s
    pol.require_valid()


def test_vmsg_policy_overrides_the_machine_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSG_POLICY", str(tmp_path / "p.json"))
    assert paths.policy_path() == tmp_path / "p.json"
    monkeypatch.delenv("VMSG_POLICY")
    assert paths.policy_path() == paths.machine_policy_path()


def test_policy_overrides_user_settings() -> None:
    user = Settings()
    user.recording.max_duration_seconds = 900
    user.recording.countdown_seconds = 5
    settings.save(user)
    _policy_file(json.dumps(CONTOSO, indent=2))
    pol = policy.load()
    assert pol.error == ""
    effective = pol.apply(settings.load().settings)
    assert effective.active_profile == "Contoso"
    assert effective.exactly_once_sending is True
    assert effective.recording.max_duration_seconds == 300  # policy wins
    assert effective.recording.countdown_seconds == 5  # untouched user value stays
    contoso = effective.profiles["Contoso"]
    assert contoso.name == "Contoso"
    assert contoso.kaltura.partner_id == 12345
    assert contoso.microsoft.client_id == "cid"
    assert "Sandbox" in effective.profiles


def test_policy_locks_what_it_sets() -> None:
    _policy_file(json.dumps(CONTOSO))
    pol = policy.load()
    s = pol.apply(Settings())
    assert pol.is_locked("recording.max_duration_seconds")
    assert pol.is_locked("profiles.Contoso.kaltura.partner_id")
    assert not pol.is_locked("recording.countdown_seconds")
    with pytest.raises(PolicyLockedError, match="set by your administrator"):
        policy.set_value(s, "recording.max_duration_seconds", 1000, pol)
    with pytest.raises(PolicyLockedError):
        policy.set_value(s, "profiles.Contoso.kaltura.partner_id", 1, pol)
    policy.set_value(s, "recording.countdown_seconds", 0, pol)
    assert s.recording.countdown_seconds == 0


def test_set_value_checks_types_and_names() -> None:
    s = Settings()
    pol = policy.Policy()
    with pytest.raises(PolicyError, match="expected a whole number"):
        policy.set_value(s, "recording.countdown_seconds", "3", pol)
    with pytest.raises(PolicyError, match="not a setting"):
        policy.set_value(s, "recording.nonsense", 1, pol)
    policy.set_value(s, "profiles.Sandbox.mail.template", "sales-follow-up", pol)
    assert s.profiles["Sandbox"].mail.template == "sales-follow-up"


def test_policy_that_is_not_json_names_file_and_line() -> None:
    path = _policy_file('{\n  "policy_version": 1,\n  "exactly_once_sending": tru\n}\n')
    pol = policy.load()
    assert pol.present
    assert str(path) in pol.error and "line 3" in pol.error and "not valid JSON" in pol.error
    with pytest.raises(PolicyError, match="Sending is disabled") as info:
        pol.require_valid()
    assert str(path) in info.value.message
    # An invalid policy is not applied partially either.
    s = Settings()
    assert pol.apply(s) is s


def test_policy_with_wrong_type_names_line_and_setting() -> None:
    text = json.dumps(
        {
            "policy_version": 1,
            "recording": {"countdown_seconds": 3, "max_duration_seconds": "long"},
        },
        indent=2,
    )
    path = _policy_file(text)
    pol = policy.load()
    assert pol.error.startswith(f"{path}, line 5: recording.max_duration_seconds")
    assert "expected a whole number" in pol.error
    with pytest.raises(PolicyError):
        pol.require_valid()


def test_policy_with_unknown_key_is_invalid() -> None:
    _policy_file(json.dumps({"policy_version": 1, "allow_everything": True}))
    pol = policy.load()
    assert "allow_everything" in pol.error and "unknown setting" in pol.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "must be a JSON object"),
        ('{"policy_version": 7}', "policy_version must be 1"),
        ('{"schema_version": 2}', "schema_version cannot be set"),
    ],
)
def test_other_invalid_policies(text: str, expected: str) -> None:
    _policy_file(text)
    assert expected in policy.load().error


def test_unreadable_policy_is_invalid_not_ignored() -> None:
    path = Path(os.environ["VMSG_POLICY"])
    path.mkdir()  # a directory where the file should be: reading fails
    pol = policy.load()
    assert pol.present and "cannot be read" in pol.error


def test_a_policy_saved_with_a_byte_order_mark_is_read() -> None:
    """Windows PowerShell 5.1 (Out-File, Set-Content -Encoding UTF8) and Notepad write one."""
    path = Path(os.environ["VMSG_POLICY"])
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(CONTOSO).encode("utf-8"))
    pol = policy.load()
    assert pol.error == ""
    assert pol.apply(Settings()).profiles["Contoso"].kaltura.partner_id == 12345


def test_a_policy_profile_without_kind_that_names_its_organization_is_one() -> None:
    profile = {k: v for k, v in CONTOSO["profiles"]["Contoso"].items() if k != "kind"}
    _policy_file(json.dumps({**CONTOSO, "profiles": {"Contoso": profile}}))
    pol = policy.load()
    assert pol.error == ""
    assert pol.apply(Settings()).profiles["Contoso"].kind == "organization"
    # A profile naming nothing of an organization keeps the default.
    bare = settings.parse(
        json.dumps({"schema_version": 2, "profiles": {"Mine": {"mail": {"template": "x"}}}})
    )
    assert bare.settings.profiles["Mine"].kind == "sandbox"

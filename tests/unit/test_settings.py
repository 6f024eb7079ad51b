"""Settings: round-trip, migrations, and every kind of bad file (the app must still start)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import paths, settings
from app.settings import SANDBOX_PROFILE, SCHEMA_VERSION, Profile, Settings


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".damaged-*"))


def test_defaults_when_there_is_no_file() -> None:
    result = settings.load()
    assert result.problems == []
    assert result.settings.active_profile == SANDBOX_PROFILE
    assert result.settings.profiles[SANDBOX_PROFILE].kind == "sandbox"
    assert not paths.settings_path().exists()


def test_round_trip_keeps_every_value() -> None:
    s = Settings()
    org = Profile(name="Contoso", kind="organization")
    org.kaltura.partner_id = 4242
    org.kaltura.app_token_id = "1_abcdef"
    org.kaltura.landing_url_template = "https://videos.contoso.com/media/t/{entry_id}"
    org.microsoft.authority = "contoso.onmicrosoft.com"
    org.microsoft.client_id = "11111111-2222-3333-4444-555555555555"
    org.mail.signature_html = "<p>Zoë — Ventes</p>"
    s.profiles["Contoso"] = org
    s.active_profile = "Contoso"
    s.recording.countdown_seconds = 5
    s.recording.preset = "1080p30"
    settings.save(s)
    loaded = settings.load()
    assert loaded.problems == []
    assert loaded.settings == s
    on_disk = json.loads(paths.settings_path().read_text(encoding="utf-8"))
    assert on_disk["schema_version"] == SCHEMA_VERSION


def test_secrets_are_not_a_setting() -> None:
    # No field of the settings may hold a secret: they go to the keyring.
    text = json.dumps(settings.encode(Settings())).lower()
    for word in ("password", "secret", 'token"', "refresh"):
        assert word not in text


def test_migration_from_schema_1() -> None:
    old = {
        "schema_version": 1,
        "kaltura_url": "https://www.kaltura.com",
        "partner_id": 99,
        "app_token_id": "0_tok",
        "uiconf_id": 777,
        "tenant": "fabrikam.example",
        "client_id": "cid",
        "template": "sales-follow-up",
        "signature": "<b>Bob</b>",
        "countdown": 5,
        "preset": "480p",
    }
    _write(paths.settings_path(), json.dumps(old))
    result = settings.load()
    assert result.problems == []
    assert result.migrated_from == 1
    s = result.settings
    assert s.active_profile == "Organization"
    org = s.profiles["Organization"]
    assert org.kind == "organization"
    assert org.kaltura.partner_id == 99
    assert org.kaltura.player_uiconf_id == 777
    assert org.microsoft.authority == "fabrikam.example"
    assert org.mail.template == "sales-follow-up"
    assert org.mail.signature_html == "<b>Bob</b>"
    assert s.recording.countdown_seconds == 5
    assert s.recording.preset == "480p"
    assert SANDBOX_PROFILE in s.profiles


def test_file_that_is_not_json_is_backed_up_and_reset() -> None:
    path = _write(paths.settings_path(), '{"active_profile": "Sandbox",,,')
    result = settings.load()
    assert result.settings == Settings()
    assert len(result.problems) == 1
    assert "not valid JSON" in str(result.problems[0])
    assert "line 1" in str(result.problems[0])
    assert result.backup is not None
    assert result.backup.read_text(encoding="utf-8") == '{"active_profile": "Sandbox",,,'
    assert _backups(path) == [result.backup]
    assert str(result.backup) in result.summary()


def test_binary_garbage_is_handled() -> None:
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00garbage")
    result = settings.load()
    assert result.settings == Settings()
    assert result.backup is not None


def test_wrong_types_keep_the_valid_parts() -> None:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "recording": {"countdown_seconds": "five", "preset": "4k", "mirror_preview": False},
        "profiles": {
            "Contoso": {
                "kind": "organization",
                "kaltura": {"partner_id": True, "app_token_id": "1_ok"},
            },
            "Broken": "not an object",
        },
        "allow_plaintext_token_cache": "yes",
    }
    _write(paths.settings_path(), json.dumps(doc))
    result = settings.load()
    s = result.settings
    problems = {p.path: p.problem for p in result.problems}
    assert s.recording.countdown_seconds == 3 and "countdown_seconds" in str(problems)
    assert s.recording.preset == "720p30"
    assert s.recording.mirror_preview is False  # valid value kept
    assert s.profiles["Contoso"].kaltura.app_token_id == "1_ok"  # valid sibling kept
    assert s.profiles["Contoso"].kaltura.partner_id == 0
    assert "Broken" not in s.profiles
    assert s.allow_plaintext_token_cache is False
    assert set(problems) == {
        "recording.countdown_seconds",
        "recording.preset",
        "profiles.Contoso.kaltura.partner_id",
        "profiles.Broken",
        "allow_plaintext_token_cache",
    }
    assert "expected a whole number" in problems["recording.countdown_seconds"]
    assert result.backup is not None
    summary = result.summary()
    assert "recording.countdown_seconds" in summary and "reset" in summary


def test_unknown_keys_are_reported_not_fatal() -> None:
    _write(
        paths.settings_path(),
        json.dumps({"schema_version": SCHEMA_VERSION, "colour": "blue", "recording": {"fps": 60}}),
    )
    result = settings.load()
    assert {p.path for p in result.problems} == {"colour", "recording.fps"}
    assert all("unknown setting" in p.problem for p in result.problems)


def test_newer_version_is_backed_up_and_understood_parts_kept() -> None:
    doc = {
        "schema_version": SCHEMA_VERSION + 3,
        "active_profile": SANDBOX_PROFILE,
        "recording": {"countdown_seconds": 0},
        "hologram": {"enabled": True},
    }
    path = _write(paths.settings_path(), json.dumps(doc))
    result = settings.load()
    assert result.settings.recording.countdown_seconds == 0
    texts = [str(p) for p in result.problems]
    assert any("newer version" in t for t in texts)
    assert any(t.startswith("hologram") for t in texts)
    assert result.backup is not None and _backups(path) == [result.backup]
    assert json.loads(result.backup.read_text(encoding="utf-8")) == doc


def test_active_profile_that_does_not_exist_falls_back() -> None:
    _write(
        paths.settings_path(),
        json.dumps({"schema_version": SCHEMA_VERSION, "active_profile": "Gone"}),
    )
    result = settings.load()
    assert result.settings.active_profile == SANDBOX_PROFILE
    assert any(p.path == "active_profile" for p in result.problems)


def test_sandbox_profile_cannot_be_turned_into_an_organization() -> None:
    doc = {"profiles": {"Sandbox": {"kind": "organization"}}, "schema_version": SCHEMA_VERSION}
    _write(paths.settings_path(), json.dumps(doc))
    result = settings.load()
    assert result.settings.profiles[SANDBOX_PROFILE].kind == "sandbox"


def test_unknown_profile_name_is_a_clear_error() -> None:
    with pytest.raises(settings.SettingsError, match='no profile named "Nope"'):
        Settings().profile("Nope")


def test_save_to_unwritable_place_is_a_settings_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(settings.SettingsError, match="Could not save settings"):
        settings.save(Settings(), blocker / "settings.json")


def test_save_is_atomic_and_leaves_no_temp_files() -> None:
    settings.save(Settings())
    settings.save(Settings())
    files = sorted(p.name for p in paths.settings_path().parent.iterdir())
    assert files == ["settings.json"]


def test_a_settings_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps({"schema_version": 2, "recording": {"countdown_seconds": 5}}).encode()
    )
    result = settings.load(path)
    assert result.problems == [] and result.settings.recording.countdown_seconds == 5

"""User paths follow platformdirs, so XDG variables isolate a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import paths


def test_xdg_variables_isolate_every_user_path() -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"])
    data = Path(os.environ["XDG_DATA_HOME"])
    state = Path(os.environ["XDG_STATE_HOME"])
    assert paths.settings_path() == config / "video-messaging" / "settings.json"
    assert paths.data_dir() == data / "video-messaging"
    assert paths.log_path().is_relative_to(state)
    assert paths.recordings_dir().is_relative_to(data)
    assert paths.templates_dir().is_relative_to(data)


def test_sandbox_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert paths.sandbox_dir() == paths.data_dir() / "sandbox"
    monkeypatch.setenv("VMSG_SANDBOX_DIR", str(tmp_path / "sb"))
    assert paths.sandbox_dir() == tmp_path / "sb"


def test_machine_policy_path_is_machine_wide() -> None:
    p = paths.machine_policy_path()
    assert p.name == "policy.json"
    assert not p.is_relative_to(Path.home())


def test_resources_dir_holds_the_shipped_resources() -> None:
    assert paths.resources_dir().name == "resources"
    assert paths.resources_dir().is_dir()

"""User paths follow platformdirs (so XDG variables isolate a run on Linux); VMSG_HOME
isolates every folder on every OS."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from app import paths


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="platformdirs reads XDG on Linux")
def test_xdg_variables_isolate_every_user_path() -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"])
    data = Path(os.environ["XDG_DATA_HOME"])
    state = Path(os.environ["XDG_STATE_HOME"])
    assert paths.settings_path() == config / "video-messaging" / "settings.json"
    assert paths.data_dir() == data / "video-messaging"
    assert paths.log_path().is_relative_to(state)
    assert paths.recordings_dir().is_relative_to(data)
    assert paths.templates_dir().is_relative_to(data)


def test_vmsg_home_puts_every_folder_under_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VMSG_HOME", str(tmp_path / "vm"))
    roots = [paths.config_dir(), paths.data_dir(), paths.log_dir(), paths.cache_dir()]
    assert roots == [tmp_path / "vm" / k for k in ("config", "data", "log", "cache")]
    assert paths.settings_path().is_relative_to(tmp_path / "vm")
    assert paths.log_path().parent == tmp_path / "vm" / "log"
    monkeypatch.setenv("VMSG_HOME", "  ")  # blank: the OS's folders again
    assert not paths.config_dir().is_relative_to(tmp_path)


def test_one_log_file_per_process() -> None:
    import subprocess

    mine = paths.log_path()
    assert mine == paths.log_path()  # the same for the life of the process
    assert mine.name.startswith("vmsg-") and mine.name.endswith(f"-{os.getpid()}.log")
    code = "from app import paths; print(paths.log_path())"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(other).parent == mine.parent and Path(other).name != mine.name


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

"""Test-wide setup: offscreen Qt, isolated user directories, warnings as errors.

Every test runs with its own XDG config/data/state/cache dirs (and no policy unless it
sets ``VMSG_POLICY``), so nothing touches the real user's files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Must happen before any QApplication exists: pytest-qt aborts without a platform.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Qt warnings fail tests through pytest-qt (qt_log_level_fail in pyproject.toml).

import pytest

pytest_plugins = [
    "tests.fixtures.sandbox_kaltura",
    "tests.fixtures.sandbox_microsoft",
    "tests.fixtures.sandbox_all",
]


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point platformdirs at a fresh home for each test."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("VMSG_POLICY", str(home / "no-policy.json"))
    monkeypatch.delenv("VMSG_SANDBOX_DIR", raising=False)
    yield home
    from app import logsetup

    logsetup.shutdown()

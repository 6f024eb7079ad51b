"""Test-wide setup: offscreen Qt, isolated user directories, warnings and errors as failures.

Every test runs with its own XDG config/data/state/cache dirs (and no policy unless it
sets ``VMSG_POLICY``), so nothing touches the real user's files. Python warnings fail a
test (``filterwarnings = error``), Qt warnings too (``qt_log_level_fail``), and so does any
log record at ERROR or above that the test did not declare with ``allow_error_log``: an
unexpected "callback failed" or "encoder failed" is a bug even when the test passes.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
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


class _ErrorRecords(logging.Handler):
    """Collects every record at ERROR or above, from any logger and any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.allowed: list[re.Pattern[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unexpected(self) -> list[str]:
        out = []
        for record in self.records:
            text = record.getMessage()
            if not any(p.search(text) for p in self.allowed):
                out.append(f"{record.levelname} {record.name}: {text}")
        return out


#: What each service marker needs, and why it is Linux only: dev.sh test and .ci/run start
#: these services privately (scripts/with-test-services.sh). Elsewhere a marked test skips
#: with this reason, and never touches the real Credential Manager or Keychain.
LINUX_SERVICES = {
    "needs_audio": "needs the private PulseAudio null sink that dev.sh test starts (Linux)",
    "needs_display": "needs the private Xvfb display that dev.sh test starts (Linux)",
    "needs_keyring": "needs the private Secret Service that dev.sh test starts (Linux); "
    "never the real Credential Manager or Keychain",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if sys.platform.startswith("linux"):
        return
    for item in items:
        for marker, reason in LINUX_SERVICES.items():
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))
                break


@pytest.fixture(autouse=True)
def _error_logs_fail_the_test() -> Iterator[_ErrorRecords]:
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    unexpected = handler.unexpected()
    if unexpected:
        pytest.fail("unexpected error log records:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def allow_error_log(_error_logs_fail_the_test: _ErrorRecords) -> Callable[[str], None]:
    """``allow_error_log(regex)``: this test expects error records matching ``regex``."""

    def allow(pattern: str) -> None:
        _error_logs_fail_the_test.allowed.append(re.compile(pattern))

    return allow


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh home for each test: the XDG folders (what platformdirs and the Linux desktop
    read), and on Windows and macOS, where platformdirs ignores them, ``VMSG_HOME``."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    if sys.platform.startswith("linux"):
        monkeypatch.delenv("VMSG_HOME", raising=False)
    else:
        monkeypatch.setenv("VMSG_HOME", str(home / "vmsg"))
    monkeypatch.setenv("VMSG_POLICY", str(home / "no-policy.json"))
    monkeypatch.delenv("VMSG_SANDBOX_DIR", raising=False)
    yield home
    from app import logsetup

    logsetup.shutdown()

"""Private by default: every file and folder the app writes holding user data, tokens or
recipients is the owner's only (0600 / 0700), whatever the umask.

A whole flow runs through the command line (record with upload, send, a damaged settings
file found and kept, the log written), then every file under the app's own folders and
the take's files are checked.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from app import cli, paths
from app import settings as settings_mod


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="POSIX modes; on Windows the user's profile ACL keeps these private",
)
def test_everything_the_app_writes_is_the_owners_only(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_umask = os.umask(0o022)  # a usual umask: files would be world-readable by default
    try:
        settings_mod.save(settings_mod.Settings(allow_plaintext_token_cache=True))
        take = tmp_path / "takes" / "take.mp4"
        take.parent.mkdir()
        assert cli.main(
            ["record", "-o", str(take), "--camera", "synthetic", "--mic", "synthetic",
             "--seconds", "2", "--size", "320x240", "--upload"]
        ) == 0  # fmt: skip
        assert cli.main(["send", str(take), "--to", "Ann <ann@fabrikam.example>"]) == 0
        assert cli.main(["record", "--recover", "-o", str(take)]) == 0  # rewrites the take
        # A damaged settings file: its copy is kept, with the original's (private) mode.
        paths.settings_path().write_text("{damaged", encoding="utf-8")
        paths.settings_path().chmod(0o600)
        assert cli.main(["outbox"]) == 0
    finally:
        os.umask(old_umask)
        capsys.readouterr()
    roots = [r for r in paths.app_roots() if r.exists()]
    assert {paths.data_dir(), paths.config_dir(), paths.log_dir()} <= set(roots)
    checked: list[Path] = []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            if path.is_symlink():
                continue
            wanted = 0o700 if path.is_dir() else 0o600
            assert _mode(path) & 0o077 == 0, f"{path} is {oct(_mode(path))}, not {oct(wanted)}"
            checked.append(path)
    names = {p.name for p in checked}
    assert {"outbox.sqlite3", "settings.json"} <= names
    assert any(n.startswith("vmsg-") and n.endswith(".log") for n in names)
    assert any(n.startswith("settings.json.damaged-") for n in names)
    for own in (take, take.with_name(take.name + ".take.json")):
        assert _mode(own) == 0o600, f"{own} is {oct(_mode(own))}"
    # The sandbox's manifest holds its admin secret: private too.
    assert _mode(sandbox.manifest_path) == 0o600 and _mode(sandbox.data_dir) == 0o700

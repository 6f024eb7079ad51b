"""The Linux tar.gz's menu entry: installed for the user from wherever the folder was
unpacked (packaging/linux/install-desktop-entry.sh), and taken out again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script")


def _unpacked(folder: Path) -> Path:
    """What build-bundle.sh puts in the tar.gz's folder, with a stand-in executable."""
    folder.mkdir(parents=True)
    for name in ("video-messaging.desktop", "install-desktop-entry.sh"):
        shutil.copy2(LINUX / name, folder / name)
    shutil.copy2(ROOT / "resources" / "icons" / "video-messaging.svg", folder)
    (folder / "video-messaging").write_text("#!/bin/sh\n", encoding="utf-8")
    return folder


def _run(script: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    return subprocess.run(
        ["sh", str(script), *args], env=env, capture_output=True, text=True, check=False
    )


def test_the_entry_starts_the_unpacked_app_and_can_be_removed(tmp_path: Path) -> None:
    folder = _unpacked(tmp_path / "opt" / "Video Messaging 0.1")
    data = tmp_path / "share"
    done = _run(folder / "install-desktop-entry.sh", data)
    assert done.returncode == 0, done.stderr
    entry = (data / "applications" / "video-messaging.desktop").read_text(encoding="utf-8")
    lines = entry.splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert [x for x in lines if x.startswith("Exec=")] == [f'Exec="{folder}/video-messaging"']
    assert "Icon=video-messaging" in lines and "Type=Application" in lines
    icon = data / "icons" / "hicolor" / "scalable" / "apps" / "video-messaging.svg"
    assert icon.read_bytes() == (folder / "video-messaging.svg").read_bytes()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(data / "applications" / "video-messaging.desktop")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
    gone = _run(folder / "install-desktop-entry.sh", data, "--remove")
    assert gone.returncode == 0
    assert not (data / "applications" / "video-messaging.desktop").exists() and not icon.exists()


def test_a_folder_whose_path_the_entry_cannot_quote_is_refused(tmp_path: Path) -> None:
    folder = _unpacked(tmp_path / "100% ready")
    done = _run(folder / "install-desktop-entry.sh", tmp_path / "share")
    assert done.returncode == 2 and "Move this folder" in done.stderr
    assert not (tmp_path / "share" / "applications").exists()

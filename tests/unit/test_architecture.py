"""The layout is the architecture: Qt only in app/ui, and the lint that enforces it works."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def _ruff_on(source: str, as_path: str) -> subprocess.CompletedProcess[str]:
    assert RUFF, "ruff is part of the dev extras"
    return subprocess.run(
        [RUFF, "check", "--no-cache", "--select", "TID251", "--stdin-filename", as_path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    "core_module",
    ["app/recorder/pipeline.py", "app/mail/outbox.py", "app/settings.py", "app/sandbox/x.py"],
)
def test_banned_import_lint_fails_for_pyside6_in_core(core_module: str) -> None:
    done = _ruff_on("from PySide6.QtCore import QObject\n", core_module)
    assert done.returncode == 1
    assert "TID251" in done.stdout and "Qt stays in app/ui/" in done.stdout


def test_banned_import_lint_allows_pyside6_in_ui() -> None:
    done = _ruff_on("from PySide6.QtCore import QObject\n\nQObject()\n", "app/ui/widget.py")
    assert done.returncode == 0, done.stdout


def test_no_core_module_imports_qt() -> None:
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        if (ROOT / "app" / "ui") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_layout() -> None:
    for part in (
        "app/ui",
        "app/recorder",
        "app/mail",
        "app/kaltura",
        "app/microsoft",
        "app/sandbox",
        "resources",
        "tests",
        "benchmarks",
        "docs",
        "build.spec",
        "pyproject.toml",
        "README.md",
        ".ci/run",
    ):
        assert (ROOT / part).exists(), part


def test_opencv_gui_build_is_not_installed() -> None:
    from importlib import metadata

    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("opencv-python")

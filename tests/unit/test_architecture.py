"""The layout is the architecture: Qt only in app/ui, and the lint that enforces it works."""

from __future__ import annotations

import ast
import os
import re
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
        "app/cli",
        "app/workflow",
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


def test_import_linter_fails_on_a_layer_violation(tmp_path: Path) -> None:
    """The contracts in pyproject.toml are really checked: a domain package importing the
    workflow (a lower layer reaching up) breaks the build."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    assert lint, "import-linter is part of the dev extras"
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "app", copy / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    clean = subprocess.run(
        [lint, "--no-cache"], cwd=copy, env=env, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    client = copy / "app" / "kaltura" / "client.py"
    client.write_text(
        client.read_text(encoding="utf-8") + "\nfrom app.workflow import events  # noqa\n"
    )
    broken = subprocess.run(
        [lint, "--no-cache"], cwd=copy, env=env, capture_output=True, text=True, check=False
    )
    assert broken.returncode == 1
    assert "app.kaltura.client -> app.workflow.events" in broken.stdout


def _app_error_names() -> set[str]:
    """Every AppError subclass name in the core (the classes whose messages users read)."""
    import importlib
    import pkgutil

    import app
    from app.errors import AppError

    for info in pkgutil.walk_packages(app.__path__, "app."):
        if not info.name.startswith(("app.ui", "app.cli", "app.__main__")):
            importlib.import_module(info.name)
    names: set[str] = set()
    stack: list[type] = [AppError]
    while stack:
        cls = stack.pop()
        names.add(cls.__name__)
        stack.extend(cls.__subclasses__())
    return names | {"Notice", "Check"}


def _cli_words() -> re.Pattern[str]:
    """``vmsg`` and every option any ``vmsg`` command takes (from the parsers themselves)."""
    import argparse

    from app import cli

    flags: set[str] = set()
    for name in cli.COMMANDS:
        parser = cli.build_parser(name)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for action in [*parser._actions, *sub.choices[name]._actions]:
            flags.update(o for o in action.option_strings if o.startswith("--"))
    alternatives = "|".join(re.escape(f) for f in sorted(flags, key=len, reverse=True))
    return re.compile(rf"\bvmsg\b|(?<![\w-])({alternatives})(?![\w-])")


def test_no_core_message_names_a_command_line() -> None:
    """Errors carry an action; the core's messages never name a vmsg command or flag
    (a desktop user cannot act on them). Front ends render the action their own way."""
    names = _app_error_names()
    cli_words = _cli_words()
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[1] in ("cli", "ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in names:
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                for text in ast.walk(arg):
                    if (
                        isinstance(text, ast.Constant)
                        and isinstance(text.value, str)
                        and cli_words.search(text.value)
                    ):
                        offenders.append(f"{rel}:{text.lineno}: {text.value!r}")
    assert offenders == []


def test_errors_render_their_action_as_a_command_only_in_the_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli.output import print_error
    from app.errors import Action, SignInRequired

    error = SignInRequired("You are not signed in.", hint="Sign in first.")
    assert error.action is Action.SIGN_IN
    print_error(error, profile="Contoso")
    err = capsys.readouterr().err
    assert "vmsg: You are not signed in." in err
    assert "vmsg --profile Contoso login" in err

"""The crash handler logs the traceback (redacted) and hands a summary to the presenter."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app import crash, logsetup


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return logsetup.setup(log_file=tmp_path / "crash.log")


def _flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_unexpected_error_is_logged_and_presented(
    log_file: Path, allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("^unexpected error$")
    shown: list[tuple[str, str]] = []
    crash.set_presenter(lambda summary, details: shown.append((summary, details)))
    try:
        try:
            raise ValueError("bad thing with ks=djJ8MTAwfGFiY2RlZmdoaWprbG1ub3A=")
        except ValueError:
            crash.handle(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        crash.set_presenter(None)
    assert len(shown) == 1
    summary, details = shown[0]
    assert summary.startswith("Something went wrong: ValueError")
    assert "Traceback" in details and "test_crash.py" in details
    assert "djJ8MTAw" not in summary + details
    _flush()
    text = log_file.read_text(encoding="utf-8")
    assert "unexpected error" in text and "ValueError" in text and "djJ8MTAw" not in text


def test_without_presenter_it_prints_a_short_message(
    log_file: Path, capsys: pytest.CaptureFixture[str], allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("^unexpected error$")
    try:
        raise KeyError("x")
    except KeyError:
        crash.handle(*sys.exc_info())  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "Something went wrong: KeyError" in err and "This is a bug" in err


def test_thread_exceptions_reach_the_handler(
    log_file: Path, allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("^unexpected error$")
    shown: list[str] = []
    old_hook = threading.excepthook
    crash.install(gui=True)
    crash.set_presenter(lambda summary, details: shown.append(summary))
    try:
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
    finally:
        crash.set_presenter(None)
        threading.excepthook = old_hook
        sys.excepthook = sys.__excepthook__
    assert shown and "ZeroDivisionError" in shown[0]


def test_a_failing_presenter_falls_back_to_stderr(
    log_file: Path, capsys: pytest.CaptureFixture[str], allow_error_log: Callable[[str], None]
) -> None:
    allow_error_log("^(unexpected error|crash dialog failed)$")

    def broken(summary: str, details: str) -> None:
        raise RuntimeError("dialog exploded")

    crash.set_presenter(broken)
    try:
        try:
            raise OSError("disk")
        except OSError:
            crash.handle(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        crash.set_presenter(None)
    assert "Something went wrong: OSError" in capsys.readouterr().err

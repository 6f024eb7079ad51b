"""A damaged or oversized video is refused before anything is uploaded, with what is wrong
and how to repair it; the repaired take then sends. Never "This is a bug"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import cli, paths
from app.sandbox.testing import write_fmp4
from tests.integration.workflow.conftest import kaltura_calls


def _cut(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "This is a bug" not in out + err and "Traceback" not in err
    return code, out, err


def test_a_take_cut_off_by_a_crash_is_refused_with_the_repair_then_sends(
    sandbox: Any, plaintext_cache: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    take = tmp_path / "cut.mp4"
    code, _out, err = _run(
        capsys, "record", "-o", str(take), "--camera", "synthetic", "--mic", "synthetic",
        "--seconds", "3", "--size", "320x240",
    )  # fmt: skip
    assert code == 0, err
    _cut(take, 0.8)
    for argv in (["send", str(take), "--to", "ann@fabrikam.example"], ["upload", str(take)]):
        code, out, err = _run(capsys, *argv)
        assert code == 1 and out == ""
        assert "cut.mp4 is damaged: it ends in the middle of its last part" in err
        assert f"To repair it: vmsg record --recover -o {take}" in err
    assert kaltura_calls(sandbox, "uploadToken", "add") == 0  # nothing was uploaded
    code, out, err = _run(capsys, "record", "--recover", "-o", str(take))
    assert code == 0, err
    assert 1.0 < json.loads(out)["recovered"][0]["duration"] < 3.0
    code, out, err = _run(capsys, "send", str(take), "--to", "ann@fabrikam.example")
    assert code == 0, err
    assert json.loads(out)["state"] == "sent"


def test_a_video_larger_than_the_kaltura_limit_is_refused_before_upload(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps(
            {
                "schema_version": 2,
                "allow_plaintext_token_cache": True,
                "profiles": {"Sandbox": {"kind": "sandbox", "kaltura": {"max_upload_mb": 1}}},
            }
        )
    )
    video = write_fmp4(tmp_path / "big.mp4", seconds=4)  # noise: a few MB
    for argv in (["send", str(video), "--to", "ann@fabrikam.example"], ["upload", str(video)]):
        code, _out, err = _run(capsys, *argv)
        assert code == 1
        assert "more than the 1 MB your organization's Kaltura accepts" in err
    assert kaltura_calls(sandbox, "uploadToken", "add") == 0

"""``vmsg record`` and ``vmsg devices`` through the real command line entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from app import cli
from app.recorder import media


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_record_synthetic_prints_a_json_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "t.mp4"
    code, out, err = run(capsys, "record", "-o", str(out_path), "--camera", "synthetic",
                         "--mic", "synthetic:skew=+0.1%,jitter=5ms", "--seconds", "1.5",
                         "--preset", "480p")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["duration"] == 1.5 and summary["frames"] == 45
    assert summary["dropped_frames"] == 0 and summary["audio_samples"] == 72000
    assert summary["health_events"] == []
    assert "recording (Ctrl+C to stop)" in err
    assert media.probe(out_path).has_moof


def test_record_with_fps_and_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-o", str(tmp_path / "s.mp4"), "--camera", "synthetic", "--mic", "none"]
    args += ["--seconds", "1", "--size", "700x400", "--fps", "15"]
    code, out, err = run(capsys, "record", *args)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["size"] == "640x360" and summary["fps"] == 15 and summary["frames"] == 15
    assert "using 640x360" in err and summary["notes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--camera", "nosuch"], "The camera 'nosuch' is not connected"),
        pytest.param(
            ["--camera", "7", "--mic", "none"],
            "No camera found at /dev/video7",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="device nodes are Linux's"
            ),
        ),
        (["--camera", "file:/no/such.mp4", "--mic", "none"], "does not exist"),
        (["--camera", "synthetic", "--mic", "synthetic:skew=fast"], "skew 'fast' is not a number"),
        (
            ["--camera", "synthetic", "--mic", "nosuchmic"],
            "The microphone 'nosuchmic' is not connected",
        ),
    ],
)
def test_bad_devices_get_clear_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "record", "-o", str(tmp_path / "x.mp4"), "--seconds", "1", *args)
    assert code == 1
    assert message in err
    assert not (tmp_path / "x.mp4").exists()


def test_bad_size_is_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["record", "-o", str(tmp_path / "x.mp4"), "--size", "big"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_unwritable_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "record", "-o", str(blocker / "x.mp4"), "--camera", "synthetic",
                       "--mic", "none", "--seconds", "1")  # fmt: skip
    assert code == 1 and "does not exist" in err


def test_record_from_a_file_camera(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.recorder.conftest import write_take

    src = write_take(tmp_path / "src.mp4", 2.0)
    code, out, err = run(capsys, "record", "-o", str(tmp_path / "f.mp4"), "--camera",
                         f"file:{src}", "--mic", "none", "--seconds", "1.5")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["size"] == "854x480" and summary["frames"] >= 40


def test_devices_lists_and_tests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "devices")
    assert code == 0
    listing = json.loads(out.strip().splitlines()[-1])
    assert set(listing) == {"cameras", "microphones", "portaudio"}
    code, out, err = run(capsys, "devices", "--test", "--camera", "synthetic", "--mic", "synthetic",
                         "--seconds", "1")  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0, err
    assert report["ok"] and 25 <= report["measured_fps"] <= 35 and report["peak_dbfs"] > -60


def test_devices_test_reports_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "devices", "--test", "--camera", "synthetic:pattern=black",
                         "--mic", "synthetic:level=silent", "--seconds", "1")  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and not report["ok"]
    text = " ".join(report["problems"])
    assert "black" in text and "silent" in text
    assert "problem:" in err


def test_recover_with_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "record", "--recover", "-o", str(tmp_path / "x.mp4"))
    assert code == 0 and json.loads(out)["recovered"] == []


@pytest.mark.needs_audio
def test_devices_lists_each_camera_and_microphone_once_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.recorder import devices

    clip = tmp_path / "clip.mp4"
    code, _, err = run(capsys, "record", "-o", str(clip), "--camera", "synthetic", "--mic", "none",
                       "--seconds", "1", "--preset", "480p")  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "devices", "--camera", f"file:{clip}")
    assert code == 0, err
    listing = json.loads(out.strip().splitlines()[-1])
    if not listing["microphones"]:
        pytest.skip("no PulseAudio input here (the test runner starts one: dev.sh test)")
    for kind in ("cameras", "microphones"):
        names = [d["name"] for d in listing[kind]]
        ids = [d["id"] for d in listing[kind]]
        assert len(names) == len(set(names)), f"{kind} listed twice: {names}"
        assert len(ids) == len(set(ids))
    assert [d["name"] for d in listing["cameras"]].count("clip.mp4") == 1
    assert len({d["backend"] for d in listing["microphones"]}) == 1  # one host API only
    assert "clip.mp4" in err and "id: " in err
    # Every id listed chooses that very device.
    for d in listing["microphones"]:
        mic = devices.make_microphone(d["id"])
        assert mic.device == d["index"]
    first = listing["microphones"][0]
    code, out, err = run(capsys, "devices", "--test", "--camera", f"file:{clip}", "--mic",
                         first["id"], "--seconds", "1")  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    assert report["microphone"] == first["name"] and report["audio_blocks"] > 0, err


def test_a_microphone_giving_only_zeros_on_macos_is_reported_as_denied() -> None:
    from app.recorder.preflight import preflight
    from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone

    report = preflight(SyntheticCamera(), SyntheticMicrophone(level="silent"), seconds=1,
                       platform="darwin")  # fmt: skip
    assert report.denied == ["microphone"]
    assert any("not allowed" in p and "Privacy & Security" in p for p in report.problems)
    linux = preflight(SyntheticCamera(), SyntheticMicrophone(level="silent"), seconds=1,
                      platform="linux")  # fmt: skip
    assert linux.denied == [] and any("muted" in p for p in linux.problems)


@pytest.mark.needs_audio
def test_a_microphone_list_can_be_read_again_without_restarting() -> None:
    """PortAudio reads its device list once; a rescan restarts it (for a microphone
    plugged in since), but never while a stream is open."""
    from app.recorder import devices, microphone

    first = devices.list_microphones()
    if not first:
        pytest.skip("no PulseAudio input here (the test runner starts one: dev.sh test)")
    mic = devices.make_microphone(first[0].id)
    mic.open()
    try:
        assert microphone.rescan() is False  # a stream is open: not cut off
    finally:
        mic.stop()
    assert microphone.rescan() is True
    assert [d.id for d in devices.list_microphones(rescan=True)] == [d.id for d in first]

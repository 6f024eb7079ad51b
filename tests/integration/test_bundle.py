"""The frozen bundle (build.spec): it builds, and each of its executables passes its own
self-test, offscreen and (when the test run has a display) on a real X11 display.

A frozen Qt + OpenCV + PyAV app fails in ways a source checkout never shows (a missing
plugin or hidden import, a library found on the build machine only); the self-test loads
every native piece and runs the whole flow, so this is where those would show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def opencv() -> str:
    """The folder of the bundle's OpenCV (scripts/build-opencv.sh: built once, about 6
    minutes, then cached in the user's cache, which the per-test homes do not hide here)."""
    if sys.platform.startswith("win"):
        return "wheel"
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-opencv.sh")], cwd=ROOT, capture_output=True,
        text=True, check=True, timeout=3600, env={**os.environ, "VMSG_PYTHON": sys.executable},
    ).stdout.strip().splitlines()[-1]  # fmt: skip


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, opencv: str) -> Path:
    work = tmp_path_factory.mktemp("pyinstaller")
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"), "build.spec"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
        env={**os.environ, "VMSG_OPENCV": opencv},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    folder = work / "dist" / "video-messaging"
    assert (folder / "video-messaging").exists() and (folder / "vmsg").exists()
    return folder


def _self_test(exe: Path, **env: str) -> dict[str, object]:
    run_env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    run_env.update(env)
    done = subprocess.run(
        [str(exe), "--self-test"], env=run_env, cwd=exe.parent, capture_output=True,
        text=True, encoding="utf-8", timeout=600, check=False,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and report["self_test"] == "passed", report
    assert report["frozen"] is True
    return report


@pytest.mark.slow
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the release workflow builds the others"
)
def test_the_frozen_command_line_passes_its_self_test(bundle: Path) -> None:
    report = _self_test(bundle / "vmsg")
    checks = report["checks"]
    assert isinstance(checks, dict) and "1 email sent and received" in checks["record_upload_send"]
    # The take read back through PyAV, and the bundle's OpenCV encoded a JPEG of it.
    assert "it reads back, and OpenCV makes a JPEG of it" in checks["record_upload_send"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checked here on Linux")
def test_the_linux_bundle_carries_one_ffmpeg_a_small_opencv_and_a_part_of_icu(bundle: Path) -> None:
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    codecs = sorted(str(p.relative_to(bundle)) for p in files if p.name.startswith("libavcodec"))
    assert len(codecs) == 1 and "/av.libs/" in codecs[0], codecs  # PyAV's, and only that
    dangling = [str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_symlink()
                and not p.exists()]  # fmt: skip
    assert dangling == []
    # The OpenCV scripts/build-opencv.sh builds: no libraries of its own, no FFmpeg, small.
    assert not any(p.name == "opencv_python_headless.libs" for p in bundle.rglob("*"))
    (cv2_lib,) = [p for p in files if p.name.startswith("cv2") and ".so" in p.name]
    needed = subprocess.run(
        ["objdump", "-p", str(cv2_lib)], capture_output=True, text=True, check=True
    ).stdout
    assert "libav" not in needed and "openblas" not in needed
    assert cv2_lib.stat().st_size < 30e6
    # A part of ICU's data (build.spec), in place of the wheel's 32 MB.
    (icu_data,) = [p for p in files if p.name.startswith("libicudata.so")]
    assert icu_data.stat().st_size < 12e6
    # The size targets of the shipped bundle (benchmarks/bundle.py measures the tar.gz).
    assert sum(p.stat().st_size for p in files) <= 300e6


@pytest.mark.slow
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the release workflow builds the others"
)
def test_the_frozen_desktop_app_passes_its_self_test(bundle: Path) -> None:
    report = _self_test(bundle / "video-messaging", QT_QPA_PLATFORM="offscreen")
    checks = report["checks"]
    assert isinstance(checks, dict) and checks["main_window"].startswith("painted")
    # Qt's collation and case mapping on the part of ICU's data the bundle ships.
    assert checks["text"] == "collation and case mapping in other languages"
    display = os.environ.get("VMSG_TEST_DISPLAY")
    if display:  # the real X11 platform plugin (xcb) and its libraries, from the bundle
        real = _self_test(bundle / "video-messaging", QT_QPA_PLATFORM="xcb", DISPLAY=display)
        real_checks = real["checks"]
        assert isinstance(real_checks, dict) and "'xcb'" in real_checks["qt"]


def _cv2_names_the_app_uses() -> set[str]:
    """Every ``cv2.NAME`` in app/ (``import cv2`` is the only way the app imports it)."""
    import ast

    names = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "cv2"
            ):
                names.add(node.attr)
    return names


@pytest.mark.slow
@pytest.mark.skipif(sys.platform.startswith("win"), reason="Windows ships the wheel's OpenCV")
def test_the_bundles_opencv_has_every_name_the_app_uses(opencv: str) -> None:
    """The bundle's OpenCV has only some modules (scripts/build-opencv.sh): a new cv2 call
    outside them fails here, not in a user's hands."""
    folder = opencv
    names = _cv2_names_the_app_uses()
    assert {"VideoCapture", "resize", "imencode", "putText"} <= names
    probe = (
        "import cv2, json, sys; names = json.loads(sys.argv[1]); "
        "print(json.dumps([cv2.__file__, sorted(n for n in names if not hasattr(cv2, n))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sorted(names))], capture_output=True,
        text=True, check=True, env={**os.environ, "PYTHONPATH": folder},
    )  # fmt: skip
    where, missing = json.loads(done.stdout)
    assert Path(where).is_relative_to(folder) and missing == []

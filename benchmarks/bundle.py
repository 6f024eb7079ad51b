"""The bundle's size, before and after what build.spec leaves out, built side by side.

Before: ``VMSG_BUNDLE_NO_EXCLUDES=1``, PyInstaller's defaults with the wheels as they come
(the OpenCV wheel with its own FFmpeg and OpenBLAS, Qt's translations and GTK theme,
symbol tables). After: the bundle as shipped (build.spec: the OpenCV built by
scripts/build-opencv.sh, the exclusions, stripped on Linux). Each is measured unpacked
and packed as the release packs it (``tar -czf``), with its largest folders; the targets
are the issue's: at most 300 MB unpacked and 120 MB as tar.gz (MB = 10^6 bytes).

    .venv/bin/python benchmarks/bundle.py            # both builds (about 2 minutes, plus
                                                     # about 6 the first time OpenCV builds)
    .venv/bin/python benchmarks/bundle.py --after    # the shipped build only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_UNPACKED_MB = 300
TARGET_TARGZ_MB = 120


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _largest(folder: Path, count: int = 6) -> dict[str, float]:
    """The biggest second-level folders (and files) under _internal, in MB."""
    inside = folder / "_internal"
    sizes = {}
    for entry in inside.iterdir() if inside.is_dir() else []:
        if entry.is_symlink():
            continue
        sizes[entry.name] = _size(entry) if entry.is_dir() else entry.stat().st_size
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:count]
    return {name: round(size / 1e6, 1) for name, size in top}


def build(work: Path, name: str, env: dict[str, str]) -> dict[str, object]:
    dist, build_dir = work / name / "dist", work / name / "build"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR",
         "--distpath", str(dist), "--workpath", str(build_dir), "build.spec"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"bundle ({name}): PyInstaller failed:\n{done.stderr[-3000:]}")
    seconds = time.monotonic() - start
    folder = dist / "video-messaging"
    tarball = work / name / "video-messaging.tar.gz"
    subprocess.run(["tar", "-C", str(dist), "-czf", str(tarball), "video-messaging"], check=True)
    return {
        "unpacked_mb": round(_size(folder) / 1e6, 1),
        "targz_mb": round(tarball.stat().st_size / 1e6, 1),
        "files": sum(1 for p in folder.rglob("*") if p.is_file()),
        "largest_mb": _largest(folder),
        "build_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", action="store_true", help="measure the shipped build only")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("VMSG_BUNDLE_NO_EXCLUDES",)}
    result: dict[str, object] = {"benchmark": "bundle", "platform": sys.platform}
    with tempfile.TemporaryDirectory(prefix="vmsg-bundle-") as tmp:
        work = Path(tmp)
        if not args.after:
            before = build(work, "before", {**base, "VMSG_BUNDLE_NO_EXCLUDES": "1"})
            result["before"] = before
            print(json.dumps({"before": before}), file=sys.stderr)
        after = build(work, "after", base)
        result["after"] = after
    result["target_unpacked_mb"] = TARGET_UNPACKED_MB
    result["target_targz_mb"] = TARGET_TARGZ_MB
    result["targets_met"] = {
        "unpacked": float(str(after["unpacked_mb"])) <= TARGET_UNPACKED_MB,
        "targz": float(str(after["targz_mb"])) <= TARGET_TARGZ_MB,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

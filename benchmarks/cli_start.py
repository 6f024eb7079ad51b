"""How long ``vmsg --version`` and ``vmsg --help`` take, next to a bare ``python -c pass``.

The command line registers its commands lazily, so these two load no media or network
library (PyAV, OpenCV, Qt, MSAL, requests). Each command runs as a whole process
``--runs`` times (default 5), interleaved with the baseline so machine noise hits both
alike; the medians and their ratios are reported (target: at most 3x the baseline). The
modules each command imported are listed too (``-X importtime``), to show which heavy
libraries it did not load.

    .venv/bin/python benchmarks/cli_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("av", "cv2", "numpy", "PySide6", "msal", "requests", "jinja2", "sounddevice")
TARGET_RATIO = 3.0


def vmsg_command() -> list[str]:
    """The installed ``vmsg`` console script next to this Python (else ``-m app``)."""
    script = Path(sys.executable).with_name("vmsg")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app"]


def _run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - started


def imported_modules(argv: list[str], env: dict[str, str]) -> set[str]:
    """Top-level packages a command imported (from ``python -X importtime``)."""
    if argv[0] != sys.executable:
        argv = [sys.executable, *argv]  # the console script is a Python file
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=ROOT, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ)
    vmsg = vmsg_command()
    commands = {
        "baseline_python_c_pass": [sys.executable, "-c", "pass"],
        "vmsg_version": [*vmsg, "--version"],
        "vmsg_help": [*vmsg, "--help"],
    }
    for argv in commands.values():  # warm the file cache
        _run(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            times[name].append(_run(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["baseline_python_c_pass"]
    result: dict[str, object] = {
        "benchmark": "cli_start",
        "runs": args.runs,
        "command": " ".join(Path(vmsg[0]).name if i == 0 else a for i, a in enumerate(vmsg)),
    }
    for name, value in medians.items():
        result[f"{name}_median_ms"] = round(value * 1000, 1)
        result[f"{name}_runs_ms"] = [round(v * 1000, 1) for v in times[name]]
    for name in ("vmsg_version", "vmsg_help"):
        ratio = medians[name] / base
        result[f"{name}_ratio"] = round(ratio, 2)
        result[f"{name}_meets_target"] = ratio <= TARGET_RATIO
        heavy = sorted(imported_modules(commands[name], env) & set(HEAVY))
        result[f"{name}_heavy_imports"] = heavy
    result["target_ratio"] = TARGET_RATIO
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The desktop app's own costs, each next to a baseline measured in the same run.

- **launch**: the ``video-messaging`` entry point (arguments, logging, the single-instance
  check, the window) from process start to the first paint of the main window, against a minimal
  PySide6 window (a QApplication and one QWidget); fresh processes, interleaved, medians
  (target: at most 2x the minimal window).
- **stall**: the GUI thread's worst stall while recording: a 10 ms timer whose late
  firings are measured, idle first (the baseline) then during a 720p take with the live
  preview and upload while recording (target <= 50 ms).
- **preview**: frames painted per second by the live preview during the take (>= 25).
- **cpu**: the app process's CPU seconds per recorded second (<= 1.0). The sandbox runs in
  its own process, so its work is not counted.
- **memory**: RSS at idle, and its growth over the take (<= 30 MB over 10 minutes).

Everything runs offscreen (``QT_QPA_PLATFORM=offscreen``), with the synthetic camera and
microphone, against ``vmsg sandbox`` in a child process, in a throwaway home.

    .venv/bin/python benchmarks/ui.py [--seconds 600] [--runs 5]   # the full run
    .venv/bin/python benchmarks/ui.py --quick                        # 30 s take, 3 runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINIMAL = r"""
import sys, time
t0 = float(sys.argv[1])
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
w = QWidget(); w.resize(1100, 720)
class Probe(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print(time.time() - t0, flush=True); app.quit()
        return False
probe = Probe(); w.installEventFilter(probe); w.show(); app.exec()
"""


def home_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):  # fmt: skip
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env["VMSG_SANDBOX_DIR"] = str(home / "sandbox")
    env["VMSG_POLICY"] = str(home / "no-policy.json")
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/vmsg-bench"
    settings = Path(env["XDG_CONFIG_HOME"]) / "video-messaging" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({
        "schema_version": 2, "allow_plaintext_token_cache": True,
        "recording": {"camera": "synthetic", "microphone": "synthetic", "preset": "720p30",
                      "countdown_seconds": 0, "max_duration_seconds": 3600},
        "desktop": {"first_run_done": True, "tray_notice_shown": True},
    }))  # fmt: skip
    return env


def first_paint(script: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", script, repr(time.time())],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


SOURCE_APP = [sys.executable, "-c", "import sys; from app.ui.entry import main; sys.exit(main())"]


def app_first_paint(env: dict[str, str], home: Path, command: list[str] | None = None) -> float:
    """The real launch (the ``video-messaging`` entry point the installers start:
    arguments, logging, the single-instance check, the window) up to the window's first
    paint, which the app writes to ``VMSG_FIRST_PAINT_FILE``. ``command``: another way to
    start it (the frozen bundle's executable)."""
    stamp = home / "first-paint.txt"
    stamp.unlink(missing_ok=True)
    started = time.time()
    proc = subprocess.Popen(
        command or SOURCE_APP,
        env={**env, "VMSG_FIRST_PAINT_FILE": str(stamp)}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        while not stamp.exists() or not stamp.read_text():
            if time.monotonic() > end or proc.poll() is not None:
                raise SystemExit("the app did not paint its window")
            time.sleep(0.005)
        return float(stamp.read_text()) - started
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def compile_app() -> None:
    """An installed app starts from bytecode (pip compiles on install; the bundle carries
    it). Compile the app's modules first, so the source app is timed that way too even
    where ``PYTHONDONTWRITEBYTECODE`` is set and nothing was cached."""
    import compileall

    compileall.compile_dir(ROOT / "app", quiet=1)


def _interleaved(
    baseline: Callable[[], float], measured: Callable[[], float], runs: int
) -> tuple[float, float, list[float]]:
    """Medians of ``runs`` launches of each, one after the other (after one warm-up each,
    for the OS file cache), so a busy moment of the machine hits both alike; and each
    pair's ratio, to show the spread."""
    compile_app()
    baseline()
    measured()
    pairs = [(baseline(), measured()) for _ in range(runs)]
    ratios = sorted(m / b for b, m in pairs)
    return (
        statistics.median(b for b, _ in pairs),
        statistics.median(m for _, m in pairs),
        ratios,
    )


def _spread(ratios: list[float]) -> list[float]:
    """The pairs' ratios at the first and third quartile."""
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return [round(q[0], 2), round(q[2], 2)]


def launch(env: dict[str, str], home: Path, runs: int) -> dict[str, Any]:
    m, a, ratios = _interleaved(
        lambda: first_paint(MINIMAL, env), lambda: app_first_paint(env, home), runs
    )
    return {
        "launch_first_paint_ms": round(a * 1000, 1),
        "minimal_window_first_paint_ms": round(m * 1000, 1),
        "launch_ratio": round(a / m, 2),
        "launch_ratio_quartiles": _spread(ratios),
        "launch_target_ratio": 2.0,
    }


def frozen_launch(env: dict[str, str], home: Path, runs: int, exe: Path) -> dict[str, Any]:
    """The frozen app's launch to first paint against the source app's, interleaved."""
    frozen_cmd = [str(exe.resolve())]
    s, f, ratios = _interleaved(
        lambda: app_first_paint(env, home), lambda: app_first_paint(env, home, frozen_cmd), runs
    )
    return {
        "source_first_paint_ms": round(s * 1000, 1),
        "frozen_first_paint_ms": round(f * 1000, 1),
        "frozen_vs_source": round(f / s, 2),
        "frozen_vs_source_quartiles": _spread(ratios),
        "frozen_target_ratio": 1.5,
    }


def take(env: dict[str, str], seconds: float) -> dict[str, Any]:
    """Run the take in a child process (a fresh app) and return its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--child-take", str(seconds)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the take failed:\n{done.stderr[:2500]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child_take(seconds: float) -> None:
    """In a fresh process: start the app, measure idle, record ``seconds``, measure."""
    import psutil
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from app.ui.app import DesktopApp

    desktop = DesktopApp(app, show_wizard=False, crash_dialogs=False, global_hotkey=False)
    proc = psutil.Process()
    stalls: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(10)
    last = [0]

    def tick() -> None:
        now = clock.elapsed()
        stalls.append(max(0, now - last[0] - 10))
        last[0] = now

    probe.timeout.connect(tick)

    def pump_until(condition: Any, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit("timed out")
            app.processEvents()
            time.sleep(0.002)

    def run_for(duration: float) -> None:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)

    desktop.start()
    pump_until(lambda: desktop.report is not None, 120)
    window = desktop.window
    run_for(5.0)  # settle: the monitor's picture, history, sign-in
    rss_idle = proc.memory_info().rss
    clock.start()
    last[0] = 0
    probe.start()
    run_for(10.0)
    idle_stalls = list(stalls)
    stalls.clear()
    rec = desktop.recording
    window.actions_by_name["record"].trigger()
    pump_until(lambda: rec.state == "recording", 120)
    pump_until(lambda: rec.link is not None, 60)
    painted0 = window.record.preview.frames_painted
    cpu0 = sum(proc.cpu_times()[:2])
    t0 = time.monotonic()
    rec_t0 = rec.elapsed()
    rss_samples: list[tuple[float, int]] = []
    first_minute: list[float] = []
    while rec.elapsed() - rec_t0 < seconds:
        run_for(1.0)
        rss_samples.append((rec.elapsed(), proc.memory_info().rss))
        if rec.elapsed() - rec_t0 <= 60 and not first_minute and rec.elapsed() - rec_t0 >= 59:
            first_minute = list(stalls)
    wall = time.monotonic() - t0
    recorded = rec.elapsed() - rec_t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    painted = window.record.preview.frames_painted - painted0
    take_stalls = list(stalls)
    window.actions_by_name["record"].trigger()
    pump_until(lambda: rec.state in ("finished", "failed"), 120)
    probe.stop()
    # Growth: from 10 s into the take (buffers warmed) to its end.
    base = next((r for t, r in rss_samples if t - rec_t0 >= 10), rss_samples[0][1])
    growth = rss_samples[-1][1] - base
    desktop.shutdown()
    print(json.dumps({
        "take_seconds": round(recorded, 1),
        "stall_idle_worst_ms": max(idle_stalls or [0]),
        "stall_take_worst_ms": max(take_stalls or [0]),
        "stall_first_60s_worst_ms": max(first_minute or take_stalls or [0]),
        "stall_take_p99_ms": _p99(take_stalls),
        "stall_target_ms": 50,
        "preview_fps": round(painted / wall, 1),
        "preview_target_fps": 25,
        "cpu_seconds_per_recorded_second": round(cpu / recorded, 3),
        "cpu_target": 1.0,
        "rss_idle_mb": round(rss_idle / 1e6, 1),
        "rss_growth_mb": round(growth / 1e6, 1),
        "rss_growth_target_mb": 30,
        "uploaded": bool(rec.take and rec.take.uploaded),
    }), flush=True)  # fmt: skip
    os._exit(0)  # the figures are out; skip tearing down Qt at interpreter exit


def _p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)] if values else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the take")
    parser.add_argument("--runs", type=int, default=5, help="launches of each window")
    parser.add_argument("--quick", action="store_true", help="a 30 s take, 3 launches")
    parser.add_argument("--launch-only", action="store_true", help="only the launch figures")
    parser.add_argument(
        "--frozen",
        type=Path,
        help="a built bundle's video-messaging executable: its launch against the source "
        "app's, side by side (target: at most 1.5x); implies --launch-only",
    )
    parser.add_argument("--child-take", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_take is not None:
        child_take(args.child_take)
        return
    if args.quick:
        args.seconds, args.runs = 30.0, 3
    home = Path(tempfile.mkdtemp(prefix="vmsg-bench-ui-"))
    env = home_env(home)
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "app", "sandbox", "--users", "300"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        manifest = Path(env["VMSG_SANDBOX_DIR"]) / "sandbox.json"
        end = time.monotonic() + 60
        while not manifest.exists() and time.monotonic() < end:
            time.sleep(0.1)
        result: dict[str, Any] = {"benchmark": "ui"}
        if args.frozen is not None:
            result.update(frozen_launch(env, home, args.runs, args.frozen))
            print(json.dumps(result))
            return
        result.update(launch(env, home, args.runs))
        if args.launch_only:
            print(json.dumps(result))
            return
        result.update(take(env, args.seconds))
    finally:
        sandbox.terminate()
        sandbox.wait(30)
    result["targets_met"] = {
        "launch": result["launch_ratio"] <= 2.0,
        "stall": result["stall_first_60s_worst_ms"] <= 50,
        "preview": result["preview_fps"] >= 25,
        "cpu": result["cpu_seconds_per_recorded_second"] <= 1.0,
        "memory": result["rss_growth_mb"] <= 30,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

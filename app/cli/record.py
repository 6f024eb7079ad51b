"""``vmsg record`` and ``vmsg devices [--test]``.

``vmsg record -o OUT.mp4`` records until Ctrl+C (SIGINT/SIGTERM stop cleanly and leave a
valid file), ``--seconds`` or a lost device, then prints a JSON summary on stdout. Progress
and health go to stderr. Before recording it lists interrupted takes in the output folder;
``--recover`` finalizes them instead of recording. ``--upload`` streams the take to Kaltura
while it is recorded (``app.workflow.take``): the link is printed before the take stops.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from app import system
from app.cli.output import emit_json, say
from app.errors import DeviceError, RecordingError
from app.recorder import devices, recovery
from app.recorder.events import (
    AudioLevel,
    CountdownTick,
    FileGrew,
    FormatNote,
    HealthEvent,
    Started,
    Stopped,
)
from app.recorder.presets import DEFAULT_PRESET, PRESETS
from app.workflow.events import LinkReady, Notice


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range")
    return w, h


def register(subparsers: Any, name: str) -> None:
    if name == "record":
        rec = subparsers.add_parser(
            "record",
            help="Record a take from the camera and microphone.",
            description="Record a take to a fragmented MP4 (H.264 + AAC). Ctrl+C stops.",
        )
        rec.add_argument("-o", "--output", type=Path, help="the .mp4 file to write")
        rec.add_argument(
            "--camera", help="camera id from 'vmsg devices', 'synthetic', or 'file:PATH'"
        )
        rec.add_argument(
            "--mic",
            help="microphone id or name from 'vmsg devices', 'default', 'none', or "
            "'synthetic[:skew=+0.1%%]'",
        )
        rec.add_argument("--seconds", type=float, help="stop after this many seconds")
        rec.add_argument("--size", type=_size, help="WIDTHxHEIGHT (nearest supported is used)")
        rec.add_argument("--fps", type=float, help="frames per second")
        rec.add_argument("--countdown", type=int, default=0, choices=range(0, 11), metavar="N",
                         help="seconds of countdown before recording (0-10)")  # fmt: skip
        rec.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
        rec.add_argument("--overwrite", action="store_true", help="replace an existing file")
        rec.add_argument(
            "--recover", action="store_true",
            help="finalize interrupted takes in the output folder (or the recordings folder); "
        "with -o an existing file, repair that file",
        )  # fmt: skip
        rec.add_argument(
            "--upload", action="store_true",
            help="upload to Kaltura while recording, so the link is ready at stop",
        )  # fmt: skip
        rec.add_argument("--title", help="the video's title in Kaltura (with --upload)")
        rec.set_defaults(handler=run_record)
    elif name == "devices":
        dev = subparsers.add_parser(
            "devices",
            help="List cameras and microphones (--test: 2 s pre-flight check).",
            description="List cameras and microphones; --test opens them for 2 s and reports.",
        )
        dev.add_argument("--test", action="store_true", help="open camera and mic for 2 s")
        dev.add_argument(
            "--camera",
            help="camera to test, or to list with the others: an id from the list, "
            "'synthetic', or 'file:PATH' (default: the first)",
        )
        dev.add_argument(
            "--mic", help="microphone to test or list: an id or name (default: the default input)"
        )
        dev.add_argument("--seconds", type=float, default=2.0, help=argparse.SUPPRESS)
        dev.set_defaults(handler=run_devices)


def _print_event(event: object) -> None:
    if isinstance(event, AudioLevel | FileGrew):
        return
    if isinstance(event, CountdownTick):
        say(f"recording in {event.remaining}...")
    elif isinstance(event, Started):
        say("recording (Ctrl+C to stop)")
    elif isinstance(event, Stopped):
        say(f"stopped after {event.t:.2f} s ({event.reason})")
    elif isinstance(event, FormatNote):
        say(f"note: {event.message}")
    elif isinstance(event, HealthEvent):
        say(f"warning: {event.message}")
    elif isinstance(event, LinkReady):
        say(f"uploading while recording; the link is {event.landing_url}")
    elif isinstance(event, Notice):
        say(event.message if event.level == "info" else f"warning: {event.message}")


def _recover(folder: Path) -> int:
    takes = recovery.find_recoverable(folder)
    if not takes:
        say(f"no interrupted takes in {folder}")
        emit_json({"recovered": []})
        return 0
    done = []
    failed = 0
    for take in takes:
        try:
            state = recovery.finalize(take)
            done.append({"path": str(take.video), "duration": state.duration})
            say(f"recovered {take.video} ({state.duration:.2f} s)")
        except RecordingError as exc:
            failed += 1
            say(exc.user_message())
    emit_json({"recovered": done, "failed": failed})
    return 1 if failed else 0


def _recover_file(video: Path) -> int:
    try:
        state = recovery.finalize(video)
    except RecordingError as exc:
        say(exc.user_message())
        emit_json({"recovered": [], "failed": 1})
        return 1
    say(f"recovered {video} ({state.duration:.2f} s)")
    emit_json({"recovered": [{"path": str(video), "duration": state.duration}], "failed": 0})
    return 0


def run_record(args: argparse.Namespace) -> int:
    from app import paths  # noqa: PLC0415
    from app.workflow.services import Services  # noqa: PLC0415
    from app.workflow.take import TakeOptions, TakeSession  # noqa: PLC0415 - PyAV, OpenCV

    if args.recover:
        if args.output is not None and args.output.is_file():
            return _recover_file(args.output)  # this take, whatever its state file says
        folder = args.output.parent if args.output else paths.recordings_dir()
        return _recover(folder)
    if args.output is None:
        raise RecordingError("No output file given.", hint="Use -o OUT.mp4.")
    if args.seconds is not None and args.seconds <= 0:
        raise RecordingError("--seconds must be more than 0.")
    folder = args.output.parent if str(args.output.parent) else Path()
    pending = recovery.find_recoverable(folder)
    if pending:
        names = ", ".join(t.video.name for t in pending)
        say(f"interrupted takes found: {names} (vmsg record --recover -o {folder}/x.mp4)")
    options = TakeOptions(
        output=args.output.resolve() if args.upload else args.output,
        camera=args.camera,
        microphone=args.mic,
        preset=args.preset,
        size=args.size,
        fps=args.fps,
        countdown=args.countdown,
        max_seconds=args.seconds,
        overwrite=args.overwrite,
        upload=args.upload,
        title=args.title or args.output.stem,
    )
    services = Services.open(args.profile, on_event=_print_event) if args.upload else None
    try:
        take = TakeSession(services, options, on_event=_print_event)
        interrupted = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            interrupted.set()

        previous = {s: signal.signal(s, on_signal) for s in system.stop_signals()}
        try:
            take.start()
            while not take.done and not interrupted.wait(0.1):
                pass
            finished = take.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if finished.uploaded:
            say(f"link ready: {finished.landing_url}")
        elif finished.upload_error:
            say(f"the upload did not finish: {finished.upload_error}")
            say("it resumes the next time this video is sent or uploaded")
        emit_json(take.summary())
    finally:
        if services is not None:
            services.close()
    ok = finished.result.stop_reason in ("user", "max_duration")
    return 0 if ok and not finished.upload_error else 1


def run_devices(args: argparse.Namespace) -> int:
    if not args.test:
        cameras = devices.list_cameras()
        microphones = devices.list_microphones()
        # A file or test source named on the command line is listed with the devices.
        named = ((args.camera, cameras, "camera"), (args.mic, microphones, "microphone"))
        for spec, found, kind in named:
            extra = devices.describe(spec, kind) if spec else None
            if extra is not None and all(d.id != extra.id for d in found):
                found.append(extra)
        listing: dict[str, Any] = {
            "cameras": [vars(d) for d in cameras],
            "microphones": [vars(d) for d in microphones],
            "portaudio": devices.portaudio_version(),
        }
        for kind in ("cameras", "microphones"):
            print(f"{kind}:", file=sys.stderr)
            for d in listing[kind]:
                print(f"  {d['name']}  ({d['detail']})\n      id: {d['id']}", file=sys.stderr)
            if not listing[kind]:
                print("  (none found)", file=sys.stderr)
        emit_json(listing)
        return 0
    from app.recorder.preflight import preflight  # noqa: PLC0415

    problems: list[str] = []
    camera = microphone = None
    try:
        camera = devices.make_camera(args.camera)
    except DeviceError as exc:
        problems.append(exc.user_message())
    try:
        microphone = devices.make_microphone(args.mic)
    except DeviceError as exc:
        problems.append(exc.user_message())
    report = preflight(camera, microphone, seconds=args.seconds)
    report.problems[:0] = problems
    for problem in report.problems:
        say(f"problem: {problem}")
    emit_json(report.to_dict())
    return 0 if report.ok else 1

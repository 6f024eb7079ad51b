"""The recorder: sources -> bounded queues -> one encoder/muxer thread -> fragmented MP4.

Threads (Cap's pipeline shape):

- the camera's and the microphone's own threads call :meth:`Recorder._on_frame` and
  :meth:`Recorder._on_audio`, which only look (health, preview) and enqueue; they never
  block: when the video queue is full the frame is dropped and counted, audio is always kept;
- one encoder thread places audio on the recording clock (:mod:`app.recorder.align`),
  encodes and muxes (:mod:`app.recorder.muxer`); at the stop it keeps writing until both
  sources have delivered something captured after the stop (at most 1 s more), so what a
  slow camera or microphone captured before the stop is still in the take;
- a controller thread runs the countdown, starts the clock, watches max duration, disk
  space, dropped-frame rate and lost devices, and finishes the take;
- events go through a queue to a dispatcher thread that calls ``on_event``, so a slow UI
  callback never stalls capture.

Usage::

    rec = Recorder(path, SyntheticCamera(), SyntheticMicrophone(), countdown=3)
    rec.start()          # returns at once; CountdownTick events, then Started
    ...; rec.pause(); rec.resume()
    result = rec.stop()  # blocks until the file is closed; TakeResult
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import math
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import system
from app.errors import DeviceError, RecordingError
from app.recorder import sidecar
from app.recorder.align import AudioAligner
from app.recorder.clock import RecordingClock
from app.recorder.events import (
    AudioLevel,
    CountdownTick,
    DeviceLost,
    DiskSpaceLow,
    FileGrew,
    FormatNote,
    FrameDropRateHigh,
    HealthEvent,
    Paused,
    RecorderEvent,
    Resumed,
    Started,
    Stopped,
)
from app.recorder.health import CameraHealth, MicrophoneHealth
from app.recorder.muxer import Mp4Writer
from app.recorder.presets import DEFAULT_PRESET, Preset, get_preset
from app.recorder.preview import LatestFrame
from app.recorder.sources import AudioBlock, CameraSource, MicrophoneSource, VideoFrame

log = logging.getLogger(__name__)

DiskUsage = Callable[[str], Any]  # shutil.disk_usage-like: returns an object with .free
MB = 1024 * 1024


@dataclass
class TakeResult:
    """What a finished take holds."""

    path: Path
    state: str  # "final" or "cancelled"
    duration: float
    frames: int
    dropped_frames: int
    audio_samples: int
    sample_rate: int
    width: int
    height: int
    fps: float
    preset: str
    stop_reason: str
    camera: str
    microphone: str
    health_events: list[HealthEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audio_inserted: int = 0
    audio_dropped: int = 0
    audio_stretched: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "state": self.state,
            "duration": round(self.duration, 4),
            "frames": self.frames,
            "dropped_frames": self.dropped_frames,
            "audio_samples": self.audio_samples,
            "sample_rate": self.sample_rate,
            "size": f"{self.width}x{self.height}",
            "fps": self.fps,
            "preset": self.preset,
            "stop_reason": self.stop_reason,
            "camera": self.camera,
            "microphone": self.microphone,
            "audio_corrections": {
                "inserted": self.audio_inserted,
                "dropped": self.audio_dropped,
                "stretched": self.audio_stretched,
            },
            "health_events": [e.to_dict() for e in self.health_events],
            "notes": self.notes,
        }


class Recorder:
    """One take. Create, :meth:`start`, optionally pause/resume, :meth:`stop`."""

    def __init__(
        self,
        output: Path,
        camera: CameraSource,
        microphone: MicrophoneSource | None,
        *,
        preset: str | Preset = DEFAULT_PRESET,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        countdown: int = 0,
        max_seconds: float | None = None,
        on_event: Callable[[RecorderEvent], None] | None = None,
        clock: RecordingClock | None = None,
        disk_usage: DiskUsage = shutil.disk_usage,
        disk_reserve_bytes: int = 100 * MB,
        disk_warn_bytes: int = 500 * MB,
        mirror_preview: bool = False,
        overwrite: bool = False,
        warmup_timeout: float = 4.0,
        video_queue_frames: int = 15,
        writer_factory: Callable[[Path, Preset, int], Mp4Writer] | None = None,
    ) -> None:
        if countdown < 0:
            raise RecordingError("The countdown cannot be negative.", hint="Use 0, 3 or 5.")
        if max_seconds is not None and max_seconds <= 0:
            raise RecordingError("The maximum duration must be more than 0 seconds.")
        self.output = Path(output)
        self.camera = camera
        self.microphone = microphone
        base = preset if isinstance(preset, Preset) else get_preset(preset)
        if size is not None:
            base = dataclasses.replace(base, width=size[0], height=size[1])
        if fps is not None:
            if not 1 <= fps <= 60:
                raise RecordingError(
                    f"{fps} frames per second is not supported.", hint="Use 1 to 60."
                )
            base = dataclasses.replace(base, fps=round(fps))
        self.preset = base
        self.countdown = countdown
        self.max_seconds = max_seconds
        self.on_event = on_event
        self.clock = clock or RecordingClock()
        self.disk_usage = disk_usage
        self.disk_reserve = disk_reserve_bytes
        self.disk_warn = disk_warn_bytes
        self.overwrite = overwrite
        self.warmup_timeout = warmup_timeout
        self.writer_factory = writer_factory or (
            lambda path, preset, rate: Mp4Writer(path, preset, sample_rate=rate)
        )
        self.preview = LatestFrame(mirror=mirror_preview)
        self.notes: list[str] = []
        self.health_events: list[HealthEvent] = []
        self.level: AudioLevel | None = None
        self.dropped = 0
        self.queued_frames = 0
        self._video_q: queue.Queue[tuple[npt.NDArray[np.uint8], float]] = queue.Queue(
            maxsize=video_queue_frames
        )
        self._audio_q: queue.SimpleQueue[AudioBlock] = queue.SimpleQueue()
        self._event_q: queue.SimpleQueue[RecorderEvent | None] = queue.SimpleQueue()
        self._dropped_window = 0
        self._last_audio_wall = time.monotonic()
        self._stop_req = threading.Event()
        self._stop_reason = "user"
        self._stop_host_t: float | None = None
        self._finishing = threading.Event()
        # Host time of the newest frame the camera delivered, and whether it is gone: at the
        # stop the encoder waits for a frame captured after the stop, so the last frames,
        # still on their way from a slow camera, are not cut off.
        self._latest_frame_t = -math.inf
        self._camera_lost = False
        self._encoder_done = threading.Event()
        self._done = threading.Event()
        self._first_audio = threading.Event()
        self._first_frame = threading.Event()
        self._lock = threading.Lock()
        self._prepared = False
        self._started_threads = False
        self._writer: Mp4Writer | None = None
        self._aligner = AudioAligner(self.clock)
        self._encoder_error: BaseException | None = None
        #: The disk filled up under the encoder (ENOSPC): the take is cut at its last
        #: complete fragment instead of failing.
        self._disk_full = False
        self._disk_full_reported = False
        self._result: TakeResult | None = None
        self._state = sidecar.TakeState(video=self.output.name, state="preparing", pid=os.getpid())
        self._camera_health = CameraHealth(self._emit, self._rec_time)
        self._mic_health = MicrophoneHealth(self._emit, self._rec_time)
        self._threads: list[threading.Thread] = []
        self._dispatcher: threading.Thread | None = None
        camera.attach_clock(self.clock)
        if microphone is not None:
            microphone.attach_clock(self.clock)

    # --- public API -----------------------------------------------------------------

    @property
    def state(self) -> str:
        if self._done.is_set():
            return "stopped"
        if not self.clock.started:
            return "countdown" if self._started_threads else "idle"
        return self.clock.state

    @property
    def elapsed(self) -> float:
        return self.clock.elapsed()

    @property
    def sample_rate(self) -> int:
        return self.microphone.sample_rate if self.microphone is not None else 48000

    def prepare(self) -> None:
        """Check the output and the disk, open the devices and warm them up.

        Raises :class:`RecordingError` (output, disk) or :class:`DeviceError` (devices)
        before anything is recorded; on error everything opened is released again.
        """
        if self._prepared:
            return
        self._check_output()
        self._check_disk_before_start()
        opened: list[Callable[[], None]] = []
        try:
            fmt = self.camera.open(self.preset.width, self.preset.height, self.preset.fps)
            opened.append(self.camera.stop)
            if fmt.delivered:
                self.notes.append(f"camera: {fmt.delivered}")
            if fmt.note:
                self.notes.append(fmt.note)
                self._emit(FormatNote(0.0, fmt.note))
            self.preset = dataclasses.replace(
                self.preset, width=fmt.width - fmt.width % 2, height=fmt.height - fmt.height % 2,
                fps=max(1, round(fmt.fps)),
            )  # fmt: skip
            if self.microphone is not None:
                self.microphone.open()
                opened.append(self.microphone.stop)
            self._start_dispatcher()
            self.camera.start(self._on_frame, lambda msg: self._on_lost("camera", msg))
            if self.microphone is not None:
                self.microphone.start(self._on_audio, lambda msg: self._on_lost("microphone", msg))
                if not self._first_audio.wait(self.warmup_timeout):
                    raise DeviceError(
                        f"The microphone '{self.microphone.name}' delivers no sound.",
                        hint="Check that it is connected and allowed (privacy settings), "
                        "or record without sound.",
                    )
            if not self._first_frame.wait(self.warmup_timeout):
                raise DeviceError(
                    f"The camera '{self.camera.name}' opens but delivers no pictures.",
                    hint="Close other apps that use the camera, or plug it in again.",
                )
            if self._stop_req.is_set() and self._stop_reason == "device_lost":
                raise DeviceError(
                    "A device was lost while it was being opened.",
                    hint="Plug it in again and retry.",
                )
            self._writer = self.writer_factory(self.output, self.preset, self.sample_rate)
            self._writer.open()
        except BaseException:
            for close in reversed(opened):
                with contextlib.suppress(Exception):
                    close()
            self._stop_dispatcher()
            if self._writer is not None:
                self._writer.abort()
            with contextlib.suppress(OSError):
                if self.output.exists() and self.output.stat().st_size <= 4096:
                    self.output.unlink()
            raise
        self._aligner = AudioAligner(self.clock, self.sample_rate)
        if self.max_seconds is not None:
            self._aligner.limit = round(self.max_seconds * self.sample_rate)
        self._state = sidecar.TakeState(
            video=self.output.name,
            state="preparing",
            pid=os.getpid(),
            pid_started=sidecar.process_start(os.getpid()),
            preset=self.preset.name,
            width=self.preset.width,
            height=self.preset.height,
            fps=self.preset.fps,
            sample_rate=self.sample_rate,
            camera=self.camera.name,
            microphone=self.microphone.name if self.microphone else "none",
            notes=list(self.notes),
        )
        sidecar.write_state(self.output, self._state)
        self._prepared = True

    def abandon(self) -> None:
        """Undo :meth:`prepare` without recording: release the devices, remove the file."""
        if not self._prepared or self._started_threads:
            return
        for close in (self.camera.stop, getattr(self.microphone, "stop", None)):
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self._stop_dispatcher()
        if self._writer is not None:
            self._writer.abort()
        for path in (self.output, sidecar.sidecar_path(self.output)):
            with contextlib.suppress(OSError):
                path.unlink()
        self._prepared = False

    def start(self) -> None:
        """Prepare if needed, then run the countdown and start recording (non-blocking)."""
        if self._started_threads:
            raise RecordingError("This take has already been started.")
        self.prepare()
        self._started_threads = True
        for target, name in ((self._encode_loop, "rec-encoder"), (self._control, "rec-control")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until the clock runs (after the countdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.clock.started:
            if self._done.is_set() or (deadline is not None and time.monotonic() > deadline):
                return self.clock.started
            time.sleep(0.01)
        return True

    def pause(self) -> None:
        with self._lock:
            if self.clock.state != "running":
                raise RecordingError("Only a running take can be paused.")
            t = self.clock.pause()
        self._emit(Paused(self.clock.elapsed(t)))
        self._update_sidecar("paused")

    def resume(self) -> None:
        with self._lock:
            if self.clock.state != "paused":
                raise RecordingError("Only a paused take can be resumed.")
            t = self.clock.resume()
        self._emit(Resumed(self.clock.elapsed(t)))
        self._update_sidecar("recording")

    def stop(self, timeout: float = 30.0) -> TakeResult:
        """Stop (or cancel during the countdown), close the file, and return the result."""
        if not self._started_threads:
            raise RecordingError("The take was never started.")
        self._request_stop("user", self.clock.now())
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> TakeResult:
        """Wait for the take to end (max duration, device lost, disk full, or stop)."""
        if not self._done.wait(timeout):
            raise RecordingError(
                "The recorder did not finish the file in time.",
                hint="The file written so far can be recovered at the next start.",
            )
        assert self._result is not None
        return self._result

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # --- capture callbacks (source threads; never block) ------------------------------

    def _rec_time(self, host_t: float) -> float:
        return self.clock.elapsed(host_t) if self.clock.started else 0.0

    def _on_frame(self, frame: VideoFrame) -> None:
        self._first_frame.set()
        self.preview.put(frame.image)
        self._camera_health.feed(frame.image, frame.t)
        rec = self.clock.to_rec(frame.t)
        if rec is not None and (self.max_seconds is None or rec < self.max_seconds):
            try:
                self._video_q.put_nowait((frame.image, rec))
                self.queued_frames += 1
            except queue.Full:
                self.dropped += 1
                self._dropped_window += 1
        # After the put: frames come in capture order, so once the encoder sees a frame from
        # after the stop here, every earlier one is already queued (or counted as dropped).
        self._latest_frame_t = max(self._latest_frame_t, frame.t)

    def _on_audio(self, block: AudioBlock) -> None:
        self._last_audio_wall = time.monotonic()
        self._first_audio.set()
        self._mic_health.feed(block.samples, block.t, block.sample_rate)
        self._audio_q.put(block)

    def _on_lost(self, kind: str, message: str) -> None:
        if kind == "camera":
            self._camera_lost = True  # no later frame will come: the encoder need not wait
        name = self.camera.name if kind == "camera" else getattr(self.microphone, "name", kind)
        self._emit(
            DeviceLost(
                self._rec_time(self.clock.now()),
                name,
                kind,
                message=f"{message}. What was recorded is kept; plug it in again to record more.",
            )
        )
        self._request_stop("device_lost", self.clock.now())

    # --- events ------------------------------------------------------------------------

    def _emit(self, event: RecorderEvent) -> None:
        if isinstance(event, AudioLevel):
            self.level = event
        elif isinstance(event, HealthEvent):
            self.health_events.append(event)
            log.info("recorder health: %s %s", event.kind, event.message)
        if self.on_event is not None:
            self._event_q.put(event)

    def _start_dispatcher(self) -> None:
        if self.on_event is None or self._dispatcher is not None:
            return
        self._dispatcher = threading.Thread(target=self._dispatch, name="rec-events", daemon=True)
        self._dispatcher.start()

    def _stop_dispatcher(self) -> None:
        if self._dispatcher is not None:
            self._event_q.put(None)
            self._dispatcher.join(timeout=5)
            self._dispatcher = None

    def _dispatch(self) -> None:
        callback = self.on_event
        assert callback is not None
        while (event := self._event_q.get()) is not None:
            try:
                callback(event)
            except Exception:  # a UI bug must not kill the recorder
                log.exception("recorder event callback failed")

    # --- checks --------------------------------------------------------------------------

    def _check_output(self) -> None:
        out = self.output
        parent = out.parent if str(out.parent) else Path()
        if out.is_dir():
            raise RecordingError(
                f"The output {out} is a folder.", hint="Give a file name ending in .mp4."
            )
        if not parent.is_dir():
            raise RecordingError(
                f"Cannot record to {out}: the folder {parent} does not exist.",
                hint="Create the folder or choose another place.",
            )
        if out.exists() and out.stat().st_size > 0 and not self.overwrite:
            raise RecordingError(
                f"{out} already exists; it is not overwritten so nothing is lost.",
                hint="Choose another file name or delete the old file first.",
            )
        try:
            with open(out, "wb"):
                pass
            system.private_file(out)  # the take is the user's alone, like its sidecar
        except OSError as exc:
            raise RecordingError(
                f"Cannot write the recording to {out}: {exc.strerror or exc}.",
                hint="Choose a folder you can write to.",
            ) from exc

    def _free_bytes(self) -> int:
        return int(
            self.disk_usage(str(self.output.parent if str(self.output.parent) else ".")).free
        )

    def _bytes_per_second(self) -> float:
        return (self.preset.maxrate_kbps + self.preset.audio_kbps) * 1000 / 8

    def _check_disk_before_start(self) -> None:
        planned = self.max_seconds if self.max_seconds is not None else 120.0
        need = self.disk_reserve + int(self._bytes_per_second() * min(planned, 600.0))
        free = self._free_bytes()
        if free < need:
            with contextlib.suppress(OSError):
                if self.output.exists() and self.output.stat().st_size == 0:
                    self.output.unlink()
            raise RecordingError(
                f"Too little disk space to record: {free // MB} MB free where "
                f"{self.output.parent} is, {need // MB} MB needed.",
                hint="Free some space or record to another drive.",
            )

    # --- controller thread -------------------------------------------------------------

    def _request_stop(self, reason: str, host_t: float | None) -> None:
        with self._lock:
            if self._stop_req.is_set():
                return
            self._stop_reason = reason
            self._stop_host_t = host_t
            self._stop_req.set()

    def _update_sidecar(self, state: str | None = None) -> bool:
        """Write the take's state file; False (logged) when it could not be written."""
        if state is not None:
            self._state.state = state
        self._state.elapsed = round(self.clock.elapsed(), 3)
        self._state.frames = self._writer.frames if self._writer else 0
        self._state.dropped_frames = self.dropped
        self._state.bytes = self._writer.bytes_on_disk() if self._writer else 0
        try:
            sidecar.write_state(self.output, self._state)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # The next start finds the take by its last state and finalizes it.
                log.warning("no room to update the take's state file: %s", exc)
            else:
                log.warning("could not update the take's state file: %s", exc)
            return False
        return True

    def _control(self) -> None:
        try:
            for remaining in range(self.countdown, 0, -1):
                self._emit(CountdownTick(0.0, remaining))
                if self._stop_req.wait(1.0):
                    break
            if not self._stop_req.is_set():
                with self._lock:
                    self.clock.start()
                self._state.started_at = sidecar.now_iso()
                self._update_sidecar("recording")
                self._emit(Started(0.0))
                self._watch()
        except Exception as exc:
            log.exception("recorder controller failed")
            self._encoder_error = self._encoder_error or exc
            self._request_stop("error", self.clock.now())
        finally:
            self._finish()

    def _watch(self) -> None:
        last_second = time.monotonic()
        last_drop_report = -1e9
        last_sidecar = time.monotonic()
        warned_disk = False
        while True:
            wait = 0.1
            if self.max_seconds is not None and self.clock.state == "running":
                remaining = self.max_seconds - self.clock.elapsed()
                if remaining <= 0:
                    self._request_stop("max_duration", self.clock.to_host(self.max_seconds))
                wait = max(0.0, min(wait, remaining))
            if self._stop_req.wait(wait):
                return
            if self._encoder_error is not None:
                self._request_stop("error", self.clock.now())
                return
            now = time.monotonic()
            if now - last_second < 1.0:
                continue
            last_second = now
            self._camera_health.check_stall(self.clock.now())
            if self.microphone is not None and now - self._last_audio_wall > 3.0:
                self._on_lost("microphone", f"The microphone '{self.microphone.name}' stopped")
                return
            dropped, self._dropped_window = self._dropped_window, 0
            if dropped and now - last_drop_report >= 5.0:
                last_drop_report = now
                self._emit(
                    FrameDropRateHigh(
                        self.clock.elapsed(),
                        dropped,
                        self.dropped,
                        message="The computer cannot keep up; some video frames are "
                        "skipped. Close other apps or choose a lower quality.",
                    )
                )
            free = self._free_bytes()
            if free < self.disk_reserve:
                self._disk_full_reported = True
                self._emit(
                    DiskSpaceLow(
                        self.clock.elapsed(),
                        free,
                        True,
                        message="The disk is almost full: the recording was stopped and saved.",
                    )
                )
                self._request_stop("disk_full", self.clock.now())
                return
            if free < self.disk_warn and not warned_disk:
                warned_disk = True
                self._emit(
                    DiskSpaceLow(
                        self.clock.elapsed(),
                        free,
                        False,
                        message="The disk is nearly full: the recording will stop before "
                        "it runs out.",
                    )
                )
            if now - last_sidecar >= 5.0:
                last_sidecar = now
                self._update_sidecar()

    def _finish(self) -> None:
        stop_t = self._stop_host_t if self._stop_host_t is not None else self.clock.now()
        started = self.clock.started
        with self._lock:
            self.clock.stop(stop_t)
        self._stop_host_t = stop_t
        self._finishing.set()
        self._encoder_done.wait(60)
        for close in (self.camera.stop, getattr(self.microphone, "stop", None)):
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        duration = self.clock.elapsed() if started else 0.0
        writer = self._writer
        reason = self._stop_reason
        if self._encoder_error is not None:
            reason = "error"
            self.notes.append(f"encoder error: {self._encoder_error}")
        overflows = int(getattr(self.microphone, "overflows", 0) or 0)
        if overflows:
            self.notes.append(
                f"the microphone lost samples {overflows} times (the computer was busy); "
                "the gaps were filled with silence, sync is kept"
            )
        state = "final" if started else "cancelled"
        if self._disk_full and started:
            # Cut at the last complete fragment: the take is "recovered" with the duration
            # really saved, and the user is told once.
            duration = self._cut_to_complete_fragments()
            state = "recovered"
            if not self._disk_full_reported:
                self._disk_full_reported = True
                self._emit(
                    DiskSpaceLow(
                        duration,
                        0,
                        True,
                        message=f"The disk is full: the recording stopped and the first "
                        f"{duration:.1f} s were saved. Free some space to record more.",
                    )
                )
            self.notes.append(f"the disk filled up; {duration:.2f} s were saved")
        self._emit(Stopped(duration, reason))
        self._result = TakeResult(
            path=self.output,
            state=state,
            duration=duration,
            frames=writer.frames if writer else 0,
            dropped_frames=self.dropped + (writer.skipped if writer else 0),
            audio_samples=writer.audio_samples if writer else 0,
            sample_rate=self.sample_rate,
            width=self.preset.width,
            height=self.preset.height,
            fps=self.preset.fps,
            preset=self.preset.name,
            stop_reason=reason,
            camera=self.camera.name,
            microphone=self.microphone.name if self.microphone else "none",
            health_events=list(self.health_events),
            notes=list(self.notes),
            audio_inserted=self._aligner.inserted,
            audio_dropped=self._aligner.dropped,
            audio_stretched=self._aligner.stretched,
        )
        self._state.duration = round(duration, 4)
        self._state.stop_reason = reason
        self._state.notes = list(self.notes)
        if not self._update_sidecar(state) and started:
            # Never silent: the video is complete, but its state file still says it is
            # being recorded, so the next start will check it as an interrupted take.
            note = (
                f"the take is saved, but its state file next to it could not be updated "
                f"({sidecar.sidecar_path(self.output).name}); the next start checks the "
                "take again and keeps it"
            )
            self.notes.append(note)
            self._result.notes.append(note)
        if not started:
            with contextlib.suppress(OSError):
                self.output.unlink()
        self._stop_dispatcher()
        self._done.set()

    # --- encoder thread -----------------------------------------------------------------

    def _encoder_failed(self, exc: BaseException, writer: Mp4Writer) -> None:
        log.exception("encoder failed")
        self._encoder_error = exc
        self._request_stop("error", self.clock.now())
        writer.abort()

    def _cut_to_complete_fragments(self) -> float:
        """After the disk filled up: drop the torn last fragment, in place (no space is
        needed for that), and return the duration of what is kept."""
        from app.recorder import media  # noqa: PLC0415 - probing is only needed here

        end, pairs = media.complete_fragments_end(self.output)
        with contextlib.suppress(OSError):
            os.truncate(self.output, end)
        if not pairs:
            return 0.0
        try:
            return max(0.0, media.probe(self.output).duration - self._writer_offset())
        except RecordingError:
            return 0.0

    def _writer_offset(self) -> float:
        return self._writer.video_offset if self._writer is not None else 0.0

    def _drain_audio(self, writer: Mp4Writer) -> None:
        while True:
            try:
                block = self._audio_q.get_nowait()
            except queue.Empty:
                return
            for samples in self._aligner.push(block):
                writer.write_audio(samples)

    def _encode_loop(self) -> None:
        writer = self._writer
        assert writer is not None
        rate = self.sample_rate
        finishing_since: float | None = None
        reported = 0
        try:
            while True:
                self._drain_audio(writer)
                if self.microphone is None and self.clock.started:
                    # No mic: a silent track that keeps pace (an unfed stream stalls the muxer).
                    writer.write_audio(self._aligner.fill_to(round(self.clock.elapsed() * rate)))
                # Read before the queue: if it holds, every frame of the take was queued (or
                # dropped) before this get, so an empty queue means all of them are written.
                video_covered = self._finishing.is_set() and (
                    self._camera_lost or self._latest_frame_t >= (self._stop_host_t or 0.0)
                )
                try:
                    image, rec = self._video_q.get(timeout=0.01)
                except queue.Empty:
                    if not self._finishing.is_set():
                        continue
                    now = time.monotonic()
                    finishing_since = finishing_since or now
                    stop_t = self._stop_host_t or 0.0
                    audio_covered = self.microphone is None or self._aligner.latest_host_end >= (
                        stop_t
                    )
                    if (audio_covered and video_covered and now - finishing_since > 0.05) or (
                        now - finishing_since > 1.0
                    ):
                        break
                    continue
                writer.write_video(image, rec)
                if writer.frames % self.preset.fps == 1:  # about once per fragment
                    size = writer.bytes_on_disk()
                    if size > reported:
                        reported = size
                        self._emit(FileGrew(rec, size))
            self._drain_audio(writer)
            if self.clock.started:
                writer.write_audio(self._aligner.fill_to(round(self.clock.elapsed() * rate)))
            writer.close()
            self._emit(FileGrew(self.clock.elapsed(), writer.bytes_on_disk()))
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                self._encoder_failed(exc, writer)
            else:
                # The disk filled up faster than the once-a-second check saw: not a bug.
                log.warning("the disk is full while recording %s: %s", self.output, exc)
                self._disk_full = True
                self._request_stop("disk_full", self.clock.now())
                writer.abort()
        except Exception as exc:  # an encoder failure: keep what is on disk
            self._encoder_failed(exc, writer)
        finally:
            self._encoder_done.set()

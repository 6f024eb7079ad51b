"""Playback of a finished take for review: pictures into a one-slot buffer, sound to a speaker.

The review screen shows the take, lets the user scrub to any frame and set trim points; this
is the engine behind it, plain Python without Qt. The UI paints :attr:`Player.frame` (a
:class:`~app.recorder.preview.LatestFrame`) at its own pace and listens to small typed events.

Design:

- **One worker thread owns every PyAV object** (containers and decoders are not
  thread-safe). It reads the file through two demuxers, one per stream, so each stream is read
  in its own time order: a fragmented MP4 stores up to a whole GOP (1 s) of one track before
  the other, and a single demuxer would have to hold that much decoded video to keep the
  sound fed. Memory stays bounded: the frame on screen, one decoded frame ahead and at most
  :data:`AUDIO_AHEAD` seconds of sound.
- **The caller never waits for decoding.** :meth:`Player.play`, :meth:`~Player.pause`,
  :meth:`~Player.seek` and :meth:`~Player.set_range` change a few fields under a lock and
  wake the worker. A new seek target replaces one not yet started, and a seek being decoded is
  abandoned when a newer one arrives, so scrubbing only ever decodes the latest position.
- **Seeks are frame-accurate**: the demuxer goes back to the keyframe at or before the
  target, the decoder runs forward, and the last frame whose time is <= the target is shown,
  so a trim handle shows the frame under it. A target less than a second ahead of the decoder
  is reached by decoding on, without a seek (a recorder GOP is at most 1 s long, so this is
  never slower).
- **The sound is the master clock** when a device plays it: the position is the number of
  samples the device has played (handed to its callback, less its output latency), and each
  frame is put when that clock reaches the frame's time, so lips stay on the sound even when
  the device's clock drifts from the computer's. Without a device (none exists, or it fails to
  open: CI machines have no sound card), with ``audio=False``, or after the sound track ends,
  the wall clock (``clock``) runs the picture instead. A frame that is already late by more
  than :data:`LATE` is decoded but not converted, so a slow machine catches up.
- **Times are take times**, the ones :func:`app.recorder.media.trim` cuts at: the file's
  times less the AAC priming shift the muxer applies to both tracks (``app.recorder.muxer``).
  The first frame is at 0, and an in point set at the time of a shown frame keeps that frame.
- **Events** (:class:`PlayerPosition` about ten times a second while playing and after each
  seek, :class:`PlayerStateChanged`, :class:`PlayerEnded`) are called on the worker thread; an
  exception in the callback is logged and never stops playback.

Usage::

    player = Player(path, on_event=handler)
    player.open()          # probes; raises RecordingError for a damaged file
    player.play(); player.seek(2.5); player.pause()
    image_and_seq = player.frame.get()
    player.close()
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from app.errors import Action, RecordingError
from app.recorder.media import damage
from app.recorder.muxer import AAC_PRIMING
from app.recorder.preview import LatestFrame

log = logging.getLogger(__name__)

#: File time of take time 0: the muxer shifts both tracks by the AAC encoder's priming
#: (see app.recorder.muxer), and media.trim reads times the same way.
CONTENT_OFFSET = AAC_PRIMING / 48000
#: How often PlayerPosition is sent while playing (seconds of wall time).
POSITION_INTERVAL = 0.1
#: Sound decoded ahead of the device: enough to ride out a slow video frame.
AUDIO_AHEAD = 0.5
#: A seek target at most this far ahead of the decoder is reached by decoding on.
FORWARD_DECODE_LIMIT = 1.0
#: A frame later than this is skipped (not converted) ...
LATE = 0.1
#: ... unless nothing has been shown for this long (a slow machine still sees pictures).
MAX_FREEZE = 0.25
#: A device silent for this long is given up (the first stream of a process may take ~2 s
#: to start: docs/protocols.md, "Audio").
DEVICE_STALL = 3.0
#: The worker looks at its clock at least this often while playing.
MAX_WAIT = 0.05
#: ... and sleeps at least this long (no spinning on a clock that has not moved).
MIN_WAIT = 0.001
#: Tolerance of time comparisons (well below a 90 kHz tick).
EPS = 1e-6
#: A position this close to the end of the range counts as the end.
END_EPS = 1e-3

_PLAYABLE_HINT = "Choose another video, or record it again."


@dataclass(frozen=True)
class PlayerEvent:
    """Base class of what the player reports to ``on_event``."""


@dataclass(frozen=True)
class PlayerPosition(PlayerEvent):
    """The playback position, in take seconds."""

    seconds: float


@dataclass(frozen=True)
class PlayerStateChanged(PlayerEvent):
    """Playback started (``playing``) or stopped (paused, ended or failed)."""

    playing: bool


@dataclass(frozen=True)
class PlayerEnded(PlayerEvent):
    """Playback reached the end of the range (or of the take) and stopped there."""


EventSink = Callable[[PlayerEvent], None]


def _ticks(seconds: float, time_base: Fraction | None) -> int:
    """Take time ``seconds`` as a timestamp of the file in ``time_base`` (0: the start)."""
    if seconds <= 0 or not time_base:
        return 0
    return max(0, math.floor((seconds + CONTENT_OFFSET) / time_base))


def _close_iterator(frames: Iterator[Any]) -> None:
    # Closing the PyAV demux generator at once frees its packet and resets the read timeout
    # now, not whenever the garbage collector gets to it after the next seek.
    close = getattr(frames, "close", None)
    if close is not None:
        close()


class _VideoReader:
    """The video demuxer and decoder, one frame ahead. Worker thread only (after open)."""

    def __init__(self, path: Path, container: InputContainer, stream: VideoStream) -> None:
        self.path = path
        self.container = container
        self.stream = stream
        rate = stream.average_rate or stream.guessed_rate
        self.frame_duration = 1 / float(rate) if rate else 1 / 30
        self.pending: av.VideoFrame | None = None
        self.eof = False
        self.error = ""
        #: The last frame taken from the reader (shown or skipped) and its take time.
        self.current: av.VideoFrame | None = None
        self.current_time: float | None = None
        self._frames: Iterator[av.VideoFrame] = container.decode(stream)

    def time(self, frame: av.VideoFrame) -> float:
        if frame.pts is None:  # no timestamp: assume the nominal frame rate
            return (self.current_time or 0.0) + self.frame_duration
        return max(0.0, frame.time - CONTENT_OFFSET)

    def peek(self) -> av.VideoFrame | None:
        """The next frame (not taken yet), or None at the end of the readable video."""
        if self.pending is None and not self.eof:
            try:
                self.pending = next(self._frames)
            except StopIteration:
                self.eof = True
            except (av.FFmpegError, ValueError) as exc:
                # A damaged tail: play what is readable, as other players do.
                self.error = str(exc)
                self.eof = True
                log.info("the video of %s cannot be decoded further: %s", self.path.name, exc)
        return self.pending

    def take(self) -> av.VideoFrame:
        frame = self.pending
        assert frame is not None
        self.pending = None
        self.current, self.current_time = frame, self.time(frame)
        return frame

    def seek(self, seconds: float) -> None:
        """Go back to the keyframe at or before ``seconds`` (take time)."""
        _close_iterator(self._frames)
        self.pending, self.eof, self.error = None, False, ""
        self.current = self.current_time = None
        try:
            offset = _ticks(seconds, self.stream.time_base)
            self.container.seek(offset, stream=self.stream, backward=True)
        except av.FFmpegError as exc:
            # No usable index: start again from the top (correct, only slower).
            log.info("seeking in %s failed (%s); decoding from the start", self.path.name, exc)
            self.container.close()
            self.container = av.open(str(self.path))
            self.stream = self.container.streams.video[0]
            self.stream.thread_type = "AUTO"
        self._frames = self.container.decode(self.stream)

    def close(self) -> None:
        _close_iterator(self._frames)
        self.pending = self.current = None
        self.container.close()


class _AudioReader:
    """The sound track from a position on, as float32 blocks at the device's rate and layout.

    Worker thread only. Blocks are placed by their timestamps relative to the segment start:
    samples before it are dropped, a gap is filled with silence, so sample ``n`` of the output
    always plays at take time ``start + n / rate`` and the sample count is a clock.
    """

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self.container: InputContainer = av.open(str(path))
        try:
            self.stream: AudioStream = self.container.streams.audio[0]
            self._resampler = av.AudioResampler(format="flt", layout=self._layout(), rate=rate)
        except BaseException:
            self.container.close()
            raise
        self.eof = True
        self._start = 0.0
        self._next = 0
        self._frames: Iterator[av.AudioFrame] = iter(())

    def _layout(self) -> str:
        return "stereo" if self.channels == 2 else "mono"

    def start(self, seconds: float) -> None:
        _close_iterator(self._frames)
        offset = _ticks(seconds, self.stream.time_base)
        self.container.seek(offset, stream=self.stream, backward=True)
        self._frames = self.container.decode(self.stream)
        # A fresh resampler: the old one may still hold samples from before the seek.
        self._resampler = av.AudioResampler(format="flt", layout=self._layout(), rate=self.rate)
        self._start, self._next, self.eof = seconds, 0, False

    def read(self) -> npt.NDArray[np.float32] | None:
        """The next block, shape (samples, channels); None at the end of the track."""
        while not self.eof:
            try:
                outputs = self._resampler.resample(next(self._frames))
            except StopIteration:
                self.eof = True
                outputs = self._resampler.resample(None)
            except (av.FFmpegError, ValueError) as exc:
                log.info("the sound cannot be decoded further: %s", exc)
                self.eof = True
                outputs = []
            blocks = [b for b in (self._place(out) for out in outputs) if len(b)]
            if blocks:
                return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return None

    def _place(self, frame: av.AudioFrame) -> npt.NDArray[np.float32]:
        # Packed float: to_ndarray gives one row of interleaved samples.
        samples = frame.to_ndarray().reshape(-1, self.channels).astype(np.float32, copy=False)
        if frame.time is None:
            index = self._next
        else:
            index = round((frame.time - CONTENT_OFFSET - self._start) * self.rate)
        if index > self._next:
            gap = np.zeros((index - self._next, self.channels), np.float32)
            samples = np.concatenate([gap, samples])
        elif index < self._next:
            samples = samples[self._next - index :]
        self._next += len(samples)
        return np.ascontiguousarray(samples)

    def close(self) -> None:
        _close_iterator(self._frames)
        self.container.close()


class Player:
    """Plays one take: frames into :attr:`frame`, sound to ``output_device``.

    ``output_device`` is a sounddevice device (index or name; None: the default output).
    ``clock`` is the wall clock used without sound. ``max_width`` shrinks frames wider than
    it (None: full size). Call :meth:`open` first and :meth:`close` at the end.
    """

    def __init__(
        self,
        path: Path,
        *,
        on_event: EventSink | None = None,
        audio: bool = True,
        output_device: int | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_width: int | None = 1280,
    ) -> None:
        self.path = Path(path)
        self.on_event = on_event
        self.audio = audio
        self.output_device = output_device
        self.clock = clock
        self.max_width = max_width
        #: The picture to paint: BGR uint8, C-contiguous, a copy owned by the reader.
        self.frame = LatestFrame()
        #: Take time of the newest frame put into :attr:`frame` (None before the first).
        self.frame_time: float | None = None
        self.duration = 0.0
        self.size = (0, 0)
        self.fps = 0.0
        self.has_audio = False
        #: True when the sound plays on a device (and runs the clock).
        self.audio_available = False

        # Shared with the caller; guarded by _cond.
        self._cond = threading.Condition()
        self._want_playing = False  # what the caller asked for (the `playing` property)
        self._running = False  # a playback segment is on the clock
        self._pos = 0.0  # the position whenever no segment runs
        self._seek_target: float | None = None
        self._generation = 0  # bumped by seek/pause/end: work for an older one is dropped
        self._range = (0.0, 0.0)
        self._closing = False
        self._seg_pos = 0.0  # take time where the running segment started
        self._seg_wall = 0.0  # wall clock then (wall-clock segments)
        self._audio_clock = False  # the running segment follows the sound

        # The sound: the worker fills the ring, the PortAudio callback drains it.
        self._audio_lock = threading.Lock()
        self._ring: collections.deque[npt.NDArray[np.float32]] = collections.deque()
        self._ring_head = 0
        self._ring_samples = 0
        self._audio_active = False
        self._handed_before = 0  # samples handed to the device before the last callback
        self._handed = 0  # ... and after it
        self._stamp: float | None = None  # clock() at the last callback that handed sound
        self._last_callback = 0.0  # clock() at the last callback of any kind
        self._heard = 0.0  # the largest heard sample count reported (never goes back)
        self._stream: Any = None  # sounddevice.OutputStream
        self._rate = 0
        self._channels = 0
        self._latency = 0.0

        # The worker's own.
        self._thread: threading.Thread | None = None
        self._video: _VideoReader | None = None
        self._audio_reader: _AudioReader | None = None
        self._audio_failed = False
        self._stream_started = False
        self._feeding = False  # this segment's sound goes into the ring
        self._announced = False
        self._next_position_event = 0.0
        self._last_put_wall = 0.0

    # --- the caller's side ---------------------------------------------------------------

    def open(self) -> None:
        """Probe the file, show its first frame, open the sound device, start the worker.

        Blocks for the probe (tens of ms). Raises RecordingError when the file is missing,
        damaged or holds no readable video.
        """
        if self._closing:
            raise RuntimeError("this player is closed")
        if self._thread is not None:
            return
        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise self._unplayable(exc) from exc
        try:
            if not container.streams.video:
                raise RecordingError(
                    f"{self.path.name} cannot be played: it holds no video.",
                    hint=_PLAYABLE_HINT,
                    action=Action.CHOOSE_FILE,
                )
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            reader = _VideoReader(self.path, container, stream)
            first = reader.peek()
            if first is None:
                raise self._unplayable(reader.error or "no frame could be decoded")
            reader.take()
            self._show(first, reader.current_time or 0.0)
        except BaseException:
            container.close()
            raise
        self._video = reader
        self.size = (stream.codec_context.width, stream.codec_context.height)
        self.fps = float(stream.average_rate or 0)
        self.has_audio = bool(container.streams.audio)
        end = ((container.start_time or 0) + (container.duration or 0)) / 1_000_000
        if not container.duration and stream.duration and stream.time_base:
            end = float(stream.duration * stream.time_base)
        self.duration = max(end - CONTENT_OFFSET, reader.current_time or 0.0)
        self._range = (0.0, self.duration)
        if self.audio and self.has_audio:
            self._open_output()
        self._thread = threading.Thread(
            target=self._run, name=f"player {self.path.name}", daemon=True
        )
        self._thread.start()

    @property
    def playing(self) -> bool:
        return self._want_playing

    @property
    def position(self) -> float:
        """Seconds (take time) of the playhead."""
        with self._cond:
            return self._running_position() if self._running else self._pos

    @property
    def range(self) -> tuple[float, float]:
        return self._range

    def play(self) -> None:
        """Play from the position; from the start of the range when outside it or at its end."""
        with self._cond:
            if self._closing or self._thread is None or self._want_playing:
                return
            start, end = self._range
            if self._pos >= end - END_EPS or self._pos < start - EPS:
                self._seek_to(start)
            self._want_playing = True
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            if self._running:
                self._pos = self._running_position()
            self._stop_segment()
            self._want_playing = False
            self._cond.notify_all()

    def seek(self, seconds: float) -> None:
        """Move the playhead; the frame at that time is put into :attr:`frame` soon after.

        Returns at once; playback, if on, continues from there.
        """
        with self._cond:
            if self._closing or self._thread is None:
                return
            self._seek_to(min(max(0.0, seconds), self.duration))
            self._cond.notify_all()

    def set_range(self, start: float, end: float) -> None:
        """Play only ``[start, end]``: playback stops at ``end``, a new play starts at ``start``."""
        start = min(max(0.0, start), self.duration)
        end = min(max(0.0, end), self.duration)
        if end < start:
            raise ValueError(f"the range ends ({end:.3f} s) before it starts ({start:.3f} s)")
        with self._cond:
            self._range = (start, end)
            self._cond.notify_all()

    def close(self) -> None:
        """Stop, join the worker, release the file and the sound device. Idempotent."""
        with self._cond:
            self._closing = True
            self._stop_segment()
            self._want_playing = False
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # PortAudioError from an unplugged device: nothing to release
                log.debug("closing the output stream failed", exc_info=True)

    def __enter__(self) -> Player:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- shared helpers (called with _cond held) --------------------------------------------

    def _seek_to(self, seconds: float) -> None:
        self._seek_target = seconds
        self._pos = seconds
        self._stop_segment()

    def _stop_segment(self) -> None:
        self._running = False
        self._generation += 1
        with self._audio_lock:
            self._audio_active = False

    def _running_position(self) -> float:
        if self._audio_clock:
            pos = self._seg_pos + self._heard_samples() / self._rate
        else:
            pos = self._seg_pos + (self.clock() - self._seg_wall)
        return min(max(pos, 0.0), self.duration)

    def _heard_samples(self) -> float:
        with self._audio_lock:
            if self._stamp is None:
                heard = 0.0
            else:
                # Sample `handed_before` reaches the speaker `latency` after that callback.
                elapsed = self.clock() - self._stamp - self._latency
                heard = self._handed_before + elapsed * self._rate
                heard = min(max(heard, 0.0), float(self._handed))
            self._heard = max(self._heard, heard)
            return self._heard

    def _unplayable(self, cause: BaseException | str) -> RecordingError:
        if isinstance(cause, FileNotFoundError) or not self.path.exists():
            why = "the file is missing"
        else:
            try:
                why = damage(self.path)
            except OSError:
                why = ""
            why = why or "it is damaged or not a video this app can read"
        return RecordingError(
            f"{self.path.name} cannot be played: {why}.",
            hint=_PLAYABLE_HINT,
            details=str(cause),
            action=Action.CHOOSE_FILE,
        )

    def _emit(self, event: PlayerEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a UI bug must not stop playback
            log.exception("player event callback failed")

    # --- sound ------------------------------------------------------------------------------

    def _open_output(self) -> None:
        try:
            import sounddevice  # noqa: PLC0415 - raises OSError without libportaudio
        except OSError as exc:
            log.info("playing %s without sound: PortAudio is missing (%s)", self.path.name, exc)
            return
        try:
            info: Any = sounddevice.query_devices(self.output_device, kind="output")
            channels = min(2, int(info["max_output_channels"]))
            if channels < 1:
                raise ValueError(f"'{info['name']}' has no output channels")
            rate = int(info["default_samplerate"])
            stream = sounddevice.OutputStream(
                samplerate=rate,
                channels=channels,
                dtype="float32",
                device=self.output_device,
                callback=self._on_audio,
            )
        except Exception as exc:  # PortAudioError, ValueError (no such device), ...
            # Reviewing without sound beats not reviewing: no sound card is normal on CI.
            log.info("playing %s without sound: no output device (%s)", self.path.name, exc)
            return
        self._stream, self._rate, self._channels = stream, rate, channels
        self._latency = float(stream.latency)
        self.audio_available = True

    def _on_audio(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's callback: hand out ring samples, count them, never wait."""
        now = self.clock()
        filled = 0
        with self._audio_lock:
            if self._audio_active:
                while filled < frames and self._ring:
                    chunk = self._ring[0]
                    take = min(frames - filled, len(chunk) - self._ring_head)
                    outdata[filled : filled + take] = chunk[
                        self._ring_head : self._ring_head + take
                    ]
                    filled += take
                    self._ring_head += take
                    if self._ring_head >= len(chunk):
                        self._ring.popleft()
                        self._ring_head = 0
                self._ring_samples -= filled
                if filled:
                    # The block's first sample sounds `latency` from now; an empty block
                    # (underrun) keeps the previous mapping, which then runs up to `handed`.
                    self._handed_before = self._handed
                    self._handed += filled
                    self._stamp = now
            self._last_callback = now
        if filled < frames:
            outdata[filled:] = 0

    def _reset_ring(self) -> None:
        with self._audio_lock:
            self._ring.clear()
            self._ring_head = self._ring_samples = 0
            self._handed_before = self._handed = 0
            self._stamp = None
            self._heard = 0.0

    def _top_up_audio(self) -> None:
        reader = self._audio_reader
        if reader is None or not self._feeding:
            return
        target = int(max(AUDIO_AHEAD, 4 * self._latency) * self._rate)
        while not reader.eof and self._ring_samples < target:
            block = reader.read()
            if block is None:
                return
            with self._audio_lock:
                self._ring.append(block)
                self._ring_samples += len(block)

    def _start_stream(self) -> None:
        """Start the device; it then runs (silent while paused) until close.

        Measured with PulseAudio: a stream restarted after stop() or abort() delivers nothing
        for ~2 s, a running one answers within a callback (~9 ms), so pausing only stops
        handing out sound.
        """
        if self._stream is None:
            return
        try:
            self._last_callback = self.clock()
            self._stream.start()
            self._stream_started = True
        except Exception as exc:  # PortAudioError: the device went away since open()
            log.info("playing %s without sound: the device failed (%s)", self.path.name, exc)
            self._give_up_sound()

    def _start_sound(self, pos: float) -> bool:
        """Position the sound at ``pos`` and fill the ring; False: play this one silently."""
        if not self._stream_started or self._audio_failed:
            return False
        self._reset_ring()
        try:
            if self._audio_reader is None:
                self._audio_reader = _AudioReader(self.path, self._rate, self._channels)
            self._audio_reader.start(pos)
        except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
            log.info("playing %s without sound: its sound cannot be read (%s)", self.path.name, exc)
            self._give_up_sound()
            return False
        return True

    def _give_up_sound(self) -> None:
        self._audio_failed = True
        self.audio_available = False

    def _sound_played_out(self) -> bool:
        """Whether the whole sound track has been decoded and heard."""
        reader = self._audio_reader
        if reader is None or not reader.eof:
            return False
        with self._audio_lock:
            drained, handed = not self._ring_samples, self._handed
        return drained and self._heard_samples() >= handed

    def _stop_sound(self) -> None:
        """Hand out no more sound (the device keeps running, silent) and forget the ring."""
        self._feeding = False
        with self._audio_lock:
            self._audio_active = False
        self._reset_ring()

    def _device_stalled(self) -> bool:
        # A device that stops calling back (unplugged, suspended) would freeze the clock.
        with self._audio_lock:
            last = self._last_callback
        return self.clock() - max(last, self._seg_wall) > DEVICE_STALL

    def _use_wall_clock(self) -> None:
        self._feeding = False
        with self._cond:
            if self._running and self._audio_clock:
                pos = self._running_position()
                self._seg_pos, self._seg_wall, self._audio_clock = pos, self.clock(), False

    # --- the worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._start_stream()
            self._loop()
        except Exception:  # a bug: stop playing, keep the app alive
            log.exception("the player stopped")
            with self._cond:
                self._stop_segment()
                self._want_playing = False
            if self._announced:
                self._announced = False
                self._emit(PlayerStateChanged(False))
        finally:
            self._stop_sound()
            if self._stream_started:
                self._stream_started = False
                try:
                    # abort, not stop: what the device still holds need not sound on.
                    self._stream.abort()
                except Exception:  # PortAudioError from an unplugged device
                    log.info("stopping the sound failed", exc_info=True)
            if self._video is not None:
                self._video.close()
            if self._audio_reader is not None:
                self._audio_reader.close()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                target, self._seek_target = self._seek_target, None
                gen = self._generation
                want, running = self._want_playing, self._running
            if not running and self._feeding:
                self._stop_sound()
            if target is not None:
                self._seek_video(target, gen)
            elif want and not running:
                self._start_segment(gen)
            elif not want:
                self._show_current()
                if self._announced:
                    self._announced = False
                    self._emit(PlayerStateChanged(False))
                with self._cond:
                    self._cond.wait_for(
                        lambda: self._closing or self._seek_target is not None or self._want_playing
                    )
            else:
                wait = self._play_step(gen)
                if wait > 0:
                    with self._cond:
                        if gen == self._generation and not self._closing:
                            self._cond.wait(wait)

    def _start_segment(self, gen: int) -> None:
        with self._cond:
            pos = self._pos
        with_sound = self._feeding = self._start_sound(pos)
        self._top_up_audio()
        with self._cond:
            if gen != self._generation or not self._want_playing or self._closing:
                return
            self._seg_pos, self._seg_wall = pos, self.clock()
            self._audio_clock = with_sound
            with self._audio_lock:
                self._audio_active = with_sound
            self._running = True
        self._next_position_event = 0.0
        if not self._announced:
            self._announced = True
            self._emit(PlayerStateChanged(True))

    def _play_step(self, gen: int) -> float:
        """Show what is due; return how long to wait before looking again."""
        assert self._video is not None
        self._top_up_audio()
        if self._feeding and self._sound_played_out():
            self._use_wall_clock()  # the sound track ended before the picture: the wall runs on
        elif self._feeding and self._device_stalled():
            log.info("the sound device stopped answering; playing %s on", self.path.name)
            self._give_up_sound()
            self._use_wall_clock()
            self._stop_sound()
        with self._cond:
            if gen != self._generation:
                return 0.0
            now = self._running_position()
            end = self._range[1]
        wall = self.clock()
        if wall >= self._next_position_event:
            self._next_position_event = wall + POSITION_INTERVAL
            self._emit(PlayerPosition(now))
        video = self._video
        frame = video.peek()
        if frame is not None and video.time(frame) < end - EPS:
            due = video.time(frame)
            if due > now + EPS:
                return min(max(due - now, MIN_WAIT), MAX_WAIT)
            video.take()
            if now - due <= LATE or wall - self._last_put_wall >= MAX_FREEZE:
                self._show(frame, due)
            return 0.0
        if now >= end - END_EPS:
            self._finish(gen, end)
            return 0.0
        return min(max(end - now, MIN_WAIT), MAX_WAIT)

    def _finish(self, gen: int, end: float) -> None:
        with self._cond:
            if gen != self._generation:
                return
            self._stop_segment()
            self._want_playing = False
            self._pos = end
        self._stop_sound()
        self._show_current()
        self._emit(PlayerPosition(end))
        self._announced = False
        self._emit(PlayerStateChanged(False))
        self._emit(PlayerEnded())

    def _seek_video(self, target: float, gen: int) -> None:
        """Put the last frame at or before ``target``, decoding from the keyframe before it."""
        video = self._video
        assert video is not None
        best: av.VideoFrame | None = None
        behind = video.current_time
        if behind is not None and behind <= target + EPS and target - behind < FORWARD_DECODE_LIMIT:
            best = video.current  # decode on from here
        else:
            video.seek(target)
        retried = False
        decoded = 0
        while (frame := video.peek()) is not None:
            if video.time(frame) > target + EPS:
                if best is not None:
                    break
                if not retried and target > 0:
                    # The demuxer landed after the target (a file without a usable index):
                    # decode from the very start instead, once.
                    retried = True
                    video.seek(0.0)
                    continue
            best = video.take()  # the target lies before the first frame: show that one
            decoded += 1
            if decoded % 8 == 0:
                with self._cond:
                    if gen != self._generation or self._closing:
                        return  # a newer target (or close) arrived: drop this one
        if best is None or video.current_time is None:
            return
        self._show(best, video.current_time)
        self._emit(PlayerPosition(target))

    def _show_current(self) -> None:
        """Stopped on a frame skipped for being late: show it, the picture must match."""
        video = self._video
        if video is None or video.current is None or video.current_time is None:
            return
        if video.current_time != self.frame_time:
            self._show(video.current, video.current_time)

    def _show(self, frame: av.VideoFrame, seconds: float) -> None:
        width, height = frame.width, frame.height
        if self.max_width and width > self.max_width:
            height = max(2, round(height * self.max_width / width / 2) * 2)
            width = self.max_width
        bgr = frame.reformat(width=width, height=height, format="bgr24", interpolation="AREA")
        # to_ndarray is a strided view of PyAV's buffer: copy it into an array of our own.
        image = np.array(bgr.to_ndarray(), dtype=np.uint8, order="C", copy=True)
        self.frame_time = seconds
        self.frame.put(image)
        self._last_put_wall = self.clock()

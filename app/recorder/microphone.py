"""The real microphone: a sounddevice (PortAudio) InputStream at 48 kHz with a callback.

Each block is stamped with the host time of its first sample, taken from PortAudio's input
ADC time (``inputBufferAdcTime``, on the stream's clock) converted to ``time.monotonic`` via
the callback's ``currentTime``, where the host API reports a plausible one; otherwise
(ALSA over PulseAudio, measured) from the lower envelope of callback arrival times
(:class:`ArrivalClock`), so a late callback on a busy machine shifts nothing.
The first stream in a process may deliver its first callback late (docs/protocols.md, "Audio": up to
~1.9 s with PulseAudio), so the recorder warms it up before the clock starts, and the
aligner fills whatever is missing with silence.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.errors import DeviceError
from app.recorder.clock import RecordingClock
from app.recorder.sources import AudioBlock, AudioSink, LostSink

log = logging.getLogger(__name__)

#: A reported input latency above this is not believed (measured: ALSA over PulseAudio
#: reports 0.43 s for the first 1-2 s of a stream, then 0, while data arrives steadily).
MAX_PLAUSIBLE_LATENCY = 0.1
BUFFER_SECONDS = 0.2


class ArrivalClock:
    """Capture times from callback arrival times, immune to late callbacks.

    A block's last sample was captured at the latest when its callback arrived, and a
    callback is never early, only late (scheduling, a busy machine). So the capture time of
    sample ``n`` is ``T0 + n / rate`` where ``T0`` is the lower envelope of
    ``arrival - samples_so_far / rate`` over the last ``window`` seconds. A sliding window
    (rather than the all-time minimum) lets it follow a slow clock skew (lag <= window x
    skew: 2 ms at 0.1 %) and a real dropout (after ``window``).
    """

    def __init__(self, sample_rate: int, window: float = 2.0) -> None:
        self.rate = sample_rate
        self.window = window
        self.samples = 0
        self._candidates: collections.deque[tuple[float, float]] = collections.deque()

    def reset(self) -> None:
        """Forget the envelope (samples were lost: the old one no longer holds)."""
        self._candidates.clear()

    def stamp(self, arrival: float, frames: int) -> float:
        """Host time of the first sample of a block of ``frames`` that arrived now."""
        end = self.samples + frames
        value = arrival - end / self.rate
        # Monotonic deque: the front is the minimum over the window.
        while self._candidates and self._candidates[-1][1] >= value:
            self._candidates.pop()
        self._candidates.append((arrival, value))
        while self._candidates[0][0] < arrival - self.window:
            self._candidates.popleft()
        t0 = self._candidates[0][1]
        start = t0 + self.samples / self.rate
        self.samples = end
        return start


def _privacy_hint() -> str:
    platform: str = sys.platform  # a variable, so every branch is type-checked on every OS
    if platform == "darwin":
        return (
            "Allow microphone access in System Settings > Privacy & Security > Microphone, "
            "close other apps that use it, or record without sound."
        )
    if platform == "win32":
        return (
            "Allow desktop apps to use the microphone in Settings > Privacy & security > "
            "Microphone, close other apps that use it, or record without sound."
        )
    return (
        "Check that it is connected and not used exclusively by another app, and that the "
        "sound server (PulseAudio/PipeWire) runs; or record without sound."
    )


def _sounddevice() -> Any:
    try:
        import sounddevice  # noqa: PLC0415 - raises OSError without libportaudio
    except OSError as exc:
        raise DeviceError(
            "The sound library (PortAudio) is not installed, so no microphone can be used.",
            hint="Install libportaudio2 (Linux), or record without sound.",
        ) from exc
    return sounddevice


_streams_lock = threading.Lock()
_open_streams = 0


def rescan() -> bool:
    """Restart PortAudio so it lists the devices present now (it reads the list once, when
    it starts). Skipped, returning False, while any input stream is open: a restart would
    cut it off."""
    sd = _sounddevice()
    with _streams_lock:
        if _open_streams:
            return False
        # sounddevice has no public call for this; terminate + initialize is what its
        # maintainers suggest for hot-plugged devices (sounddevice issue #125).
        sd._terminate()
        sd._initialize()
    return True


def _stream_opened(delta: int) -> None:
    global _open_streams  # noqa: PLW0603 - one count for the process, like PortAudio's
    with _streams_lock:
        _open_streams = max(0, _open_streams + delta)


def _extra_settings(sd: Any, info: Any) -> Any:
    """WASAPI refuses a rate other than the device's mixer rate (often 44.1 kHz) unless
    asked to convert; everything is recorded at 48 kHz."""
    try:
        api = str(sd.query_hostapis(int(info["hostapi"]))["name"])
    except (KeyError, TypeError, ValueError, sd.PortAudioError):
        return None
    if api == "Windows WASAPI" and hasattr(sd, "WasapiSettings"):
        return sd.WasapiSettings(auto_convert=True)
    return None


class SoundDeviceMicrophone:
    """A PortAudio input device; ``device`` is an index, a name, or None for the default."""

    def __init__(
        self,
        device: int | str | None = None,
        *,
        name: str = "",
        sample_rate: int = 48000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.now = now
        self.name = name or ("default microphone" if device is None else f"microphone {device}")
        self.overflows = 0
        self._use_adc: bool | None = None
        self._arrival = ArrivalClock(sample_rate)
        self._stream: Any = None
        self._on_block: AudioSink | None = None
        self._on_lost: LostSink | None = None
        self._stopping = threading.Event()

    def attach_clock(self, clock: RecordingClock) -> None:
        """Real devices ignore the recording clock (they stamp with host time)."""

    def open(self) -> None:
        sd = _sounddevice()
        # Under the lock rescan() takes: PortAudio is never restarted between reading the
        # device and opening its stream.
        with _streams_lock:
            self._stream = self._open_stream(sd)
            global _open_streams  # noqa: PLW0603
            _open_streams += 1

    def _open_stream(self, sd: Any) -> Any:
        try:
            info: Any = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceError(
                f"No microphone found ({self.name}).",
                hint="Connect a microphone, choose another one, or record without sound.",
                details=str(exc),
            ) from exc
        self.name = str(info["name"])
        if int(info["max_input_channels"]) < 1:
            raise DeviceError(
                f"'{self.name}' is not a microphone (it has no input channels).",
                hint="Choose an input device (one that has input channels).",
            )
        try:
            return sd.InputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                device=self.device,
                callback=self._callback,
                finished_callback=self._finished,
                # A deep buffer (not 'low', ~9 ms here): a callback delayed by a busy
                # machine then finds its samples still buffered instead of lost (measured:
                # with 35 ms, PulseAudio silently dropped ~50 ms under load). Timing does not
                # depend on it: stamps come from the arrival envelope.
                latency=BUFFER_SECONDS,
                extra_settings=_extra_settings(sd, info),
            )
        except sd.PortAudioError as exc:
            raise DeviceError(
                f"The microphone '{self.name}' could not be opened: {exc}.",
                hint=_privacy_hint(),
            ) from exc

    def start(self, on_block: AudioSink, on_lost: LostSink) -> None:
        if self._stream is None:
            self.open()
        self._on_block, self._on_lost = on_block, on_lost
        self._stopping.clear()
        sd = _sounddevice()
        try:
            self._stream.start()
        except sd.PortAudioError as exc:
            raise DeviceError(
                f"The microphone '{self.name}' could not be started: {exc}.",
                hint=_privacy_hint(),
            ) from exc

    def stop(self) -> None:
        self._stopping.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            _stream_opened(-1)
            try:
                stream.stop()
                stream.close()
            except Exception:  # PortAudioError on an unplugged device: nothing left to do
                log.debug("closing the input stream failed", exc_info=True)

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        now = self.now()
        overflow = bool(status and status.input_overflow)
        if overflow:
            self.overflows += 1
            self._arrival.reset()
        adc = float(getattr(time_info, "inputBufferAdcTime", 0.0) or 0.0)
        current = float(getattr(time_info, "currentTime", 0.0) or 0.0)
        reported = current - adc
        if self._use_adc is None:
            self._use_adc = adc > 0 and current > 0 and 0.0 <= reported < MAX_PLAUSIBLE_LATENCY
        elif self._use_adc and not 0.0 <= reported < MAX_PLAUSIBLE_LATENCY:
            log.info("input ADC times became implausible (%.3f s); using arrival times", reported)
            self._use_adc = False
        if self._use_adc:
            t = now - reported
        else:
            # PortAudio's stream latency is the buffer's capacity, not the delay to the
            # callback: subtracting it made the tone land 30 ms early (measured with
            # 'high'). The arrival envelope alone put it within a few ms.
            t = self._arrival.stamp(now, frames)
        if self._on_block is not None:
            samples = np.ascontiguousarray(indata[:, 0], dtype=np.float32).copy()
            self._on_block(AudioBlock(samples, t, self.sample_rate, discontinuity=overflow))

    def _finished(self) -> None:
        if not self._stopping.is_set() and self._on_lost is not None:
            self._on_lost(f"The microphone '{self.name}' stopped")

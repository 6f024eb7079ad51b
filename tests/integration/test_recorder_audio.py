"""The real audio path: record from the default input while a tone plays into the sink.

In CI the test runner starts PulseAudio with a null sink whose monitor is the default
source (docs/protocols.md, "Audio") and sets PULSE_SERVER/XDG_RUNTIME_DIR. Whatever is played
into the sink comes back on the default input on a real, steady clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from app.recorder import devices, media, sync
from app.recorder.microphone import SoundDeviceMicrophone
from app.recorder.recorder import Recorder
from app.recorder.synthetic import SyntheticCamera
from tests.helpers import wait_until

OFFSET = 1024 / 48000


def write_tone(path: Path, seconds: float = 1.0, hz: float = 1000.0) -> None:
    t = np.arange(round(seconds * 48000)) / 48000
    pcm = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())


@pytest.fixture
def steady_sink() -> Iterator[str]:
    """Keep a silent 10 ms stream playing into the null sink, so its clock ticks finely.

    A null sink renders ahead of its clock by its configured latency: the smallest latency
    any of its streams asks for. Alone with the recorder's stream that is a whole fragment,
    so the monitor delivered a tone up to ~50 ms early or late, depending on where the sink
    was in its render cycle (measured over 20 runs: -33 to +47 ms, once failing CI). With a
    10 ms stream connected it renders in steps of a few ms, and the tone landed 6-35 ms after
    paplay started, never early (measured, idle and with both cores busy). A real microphone
    captures on its own clock; this only steadies the test's stand-in for one.

    Yields the path of ``paplay``. Skips, before starting anything, where there is no
    PulseAudio input to record from (the test runner starts one: dev.sh test).
    """
    if not os.environ.get("PULSE_SERVER") or not devices.list_microphones():
        pytest.skip("no private PulseAudio input here (the test runner starts one: dev.sh test)")
    pacat, pactl, paplay = shutil.which("pacat"), shutil.which("pactl"), shutil.which("paplay")
    if pacat is None or pactl is None or paplay is None:
        pytest.skip("pacat, pactl and paplay (pulseaudio-utils) are not installed")
    with open("/dev/zero", "rb") as zeros:
        proc = subprocess.Popen(
            [pacat, "--playback", "--latency-msec=10", "--format=s16le", "--rate=48000",
             "--channels=1", "--client-name=vmsg-test-steady-sink"],
            stdin=zeros,
        )  # fmt: skip
    try:
        wait_until(
            lambda: "vmsg-test-steady-sink" in _sink_inputs(pactl) or proc.poll() is not None,
            timeout=10,
        )
        assert proc.poll() is None, "pacat could not play into the null sink"
        yield paplay
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sink_inputs(pactl: str) -> str:
    return subprocess.run(
        [pactl, "list", "sink-inputs"], capture_output=True, text=True, timeout=10, check=False
    ).stdout


@pytest.mark.needs_audio
def test_tone_played_into_the_sink_is_recorded_at_the_right_time(
    tmp_path: Path, steady_sink: str
) -> None:
    player = steady_sink
    tone = tmp_path / "tone.wav"
    write_tone(tone)
    path = tmp_path / "real.mp4"
    rec = Recorder(path, SyntheticCamera(), SoundDeviceMicrophone(None), preset="480p",
                   max_seconds=4.0)  # fmt: skip
    rec.start()
    assert rec.wait_started(10)
    wait_until(lambda: rec.elapsed >= 1.5 or rec.done, timeout=30, poll=0.005)
    assert not rec.done
    played_at = rec.elapsed
    proc = subprocess.Popen([player, "--latency-msec=10", str(tone)])
    result = rec.wait(30)
    assert proc.wait(10) == 0
    assert result.stop_reason == "max_duration"
    assert media.check_playable(path).playable
    onsets = sync.beep_onsets(path, level=0.1)
    assert len(onsets) == 1, onsets
    heard_at = onsets[0] - OFFSET  # content time
    # paplay needs a few ms to connect and start, so the tone comes a little after it was
    # played; the sink may still render a few ms ahead (steady_sink), hence a small
    # allowance for "early".
    info = (played_at, heard_at, result.to_dict()["audio_corrections"], result.notes)
    assert -0.03 <= heard_at - played_at <= 0.15, info
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    start = round((onsets[0] + 0.2) * 48000)
    segment = audio[start : start + 9600]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    peak_hz = np.argmax(spectrum) * 48000 / len(segment)
    assert abs(peak_hz - 1000) < 30, info  # the tone itself (clock corrections stretch <= 2 %)
    loud = np.nonzero(np.abs(audio) > 0.1)[0]
    assert abs((loud[-1] - loud[0]) / 48000 - 1.0) < 0.1  # the whole second of tone

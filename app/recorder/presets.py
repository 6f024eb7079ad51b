"""Recording presets and the encoder settings chosen for them from measurements.

Measured (docs/protocols.md, "Media: encoder settings and measured speed"; 2 cores, libx264,
tune=zerolatency): 720p veryfast 164 frames/s and 32 % CPU at 30 fps with no late frame, so
720p uses veryfast. 1080p veryfast reaches only 86 frames/s
with single frames up to 47 ms, too close to the 33 ms budget on a shared machine, so 1080p
uses superfast (between veryfast and ultrafast's 116 frames/s) at a higher bitrate.
Bitrates are capped (VBV) so a streaming upload keeps up on common uplinks: ~2.5 Mbit/s at
720p. GOP is 1 s: it bounds what a crash can lose and makes one fragment per second.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import RecordingError


@dataclass(frozen=True)
class Preset:
    name: str
    width: int
    height: int
    fps: int
    x264_preset: str
    crf: int
    maxrate_kbps: int
    audio_kbps: int = 96

    def encoder_options(self) -> dict[str, str]:
        """libx264 private options (zerolatency: no B-frames, no lookahead, sliced threads)."""
        return {
            "preset": self.x264_preset,
            "tune": "zerolatency",
            "crf": str(self.crf),
            "maxrate": f"{self.maxrate_kbps}k",
            "bufsize": f"{self.maxrate_kbps * 2}k",
            # Keyframes are forced on whole seconds by the encoder; never in between.
            "x264-params": f"keyint={self.fps * 2}:min-keyint={self.fps}:scenecut=0",
        }


PRESETS: dict[str, Preset] = {
    "480p": Preset("480p", 854, 480, 30, "veryfast", 23, 1200),
    "720p30": Preset("720p30", 1280, 720, 30, "veryfast", 23, 2500),
    "1080p30": Preset("1080p30", 1920, 1080, 30, "superfast", 23, 4500),
}
DEFAULT_PRESET = "720p30"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise RecordingError(
            f"There is no recording preset called {name!r}.",
            hint=f"Use one of: {', '.join(PRESETS)}.",
        ) from None

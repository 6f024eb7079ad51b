"""After the take: probe, fragment scan, playability check, thumbnail, GIF preview, trim.

- :func:`probe` says what a file holds (codecs, size, duration, fragments).
- :func:`top_level_boxes` walks the MP4 box structure without a decoder: crash recovery
  uses it to find where the last complete fragment ends.
- :func:`thumbnail` is a JPEG of one frame; :func:`gif_preview` an animated, palette-
  optimized GIF (FFmpeg palettegen + paletteuse through PyAV's filter graph) with a
  play-button overlay and an optional text line on the first frame, shrunk until <= 1 MB.
- :func:`trim` cuts [start, end) into a new fragmented MP4, stream-copying the whole GOPs in
  between and re-encoding only the partial GOPs at the cuts (and the audio, which is cheap and
  keeps the cut sample-exact, hence the sync).
"""

from __future__ import annotations

import io
import math
import struct
import time
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.filter import Graph

from app import system
from app.errors import Action, RecordingError
from app.recorder.muxer import AAC_PRIMING, FRAGMENTED_MP4, VIDEO_TIME_BASE
from app.recorder.presets import PRESETS, Preset

GIF_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Box:
    type: str
    offset: int
    size: int
    complete: bool


def top_level_boxes(path: Path) -> list[Box]:
    """The top-level MP4 boxes; the last one may be incomplete (a crash mid-write)."""
    boxes: list[Box] = []
    total = path.stat().st_size
    with open(path, "rb") as fh:
        offset = 0
        while offset + 8 <= total:
            fh.seek(offset)
            header = fh.read(16)
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1 and len(header) >= 16:
                size = struct.unpack(">Q", header[8:16])[0]
            elif size == 0:
                size = total - offset
            if size < 8:
                break
            name = kind.decode("latin-1")
            boxes.append(Box(name, offset, size, offset + size <= total))
            offset += size
    return boxes


#: Top-level box types an ISO base media file (MP4, MOV) starts with.
_ISO_FIRST_BOXES = frozenset({"ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid"})


def damage(path: Path) -> str:
    """What is wrong with an MP4/MOV file's structure, or "" when nothing is.

    A recording cut off by a crash or a full disk ends in the middle of its last box;
    players and PyAV then fail somewhere inside it. Files of other containers (WebM) are
    not judged here ("").
    """
    boxes = top_level_boxes(path)
    if not boxes or boxes[0].type not in _ISO_FIRST_BOXES:
        return ""
    last = boxes[-1]
    if not last.complete:
        missing = last.offset + last.size - path.stat().st_size
        return (
            f"it ends in the middle of its last part ({missing} bytes are missing), as a "
            "recording cut off by a crash or a full disk does"
        )
    tail = path.stat().st_size - (last.offset + last.size)
    if tail:
        return f"it has {tail} stray bytes at its end"
    return ""


def complete_fragments_end(path: Path) -> tuple[int, int]:
    """(byte offset just after the last complete moof+mdat pair, number of such pairs)."""
    boxes = top_level_boxes(path)
    end = 0
    pairs = 0
    for i, box in enumerate(boxes):
        if not box.complete:
            break
        if box.type in ("ftyp", "moov"):
            end = box.offset + box.size
        elif box.type == "mdat" and i > 0 and boxes[i - 1].type == "moof":
            end = box.offset + box.size
            pairs += 1
    return end, pairs


@dataclass
class MediaInfo:
    path: Path
    duration: float
    video_codec: str
    audio_codec: str
    width: int
    height: int
    fps: float
    fragments: int
    has_moof: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 4),
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "size": f"{self.width}x{self.height}",
            "fps": self.fps,
            "fragments": self.fragments,
            "has_moof": self.has_moof,
        }


def _open(path: Path) -> Any:
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise RecordingError(
            f"{path} cannot be read as a video: {exc}.",
            hint="Check that the file is a recording made by this app.",
        ) from exc


def probe(path: Path) -> MediaInfo:
    boxes = top_level_boxes(path)
    moofs = sum(1 for b in boxes if b.type == "moof")
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = (container.duration or 0) / 1_000_000
        return MediaInfo(
            path=path,
            duration=duration,
            video_codec=video.codec_context.name if video else "",
            audio_codec=audio.codec_context.name if audio else "",
            width=video.codec_context.width if video else 0,
            height=video.codec_context.height if video else 0,
            fps=float(video.average_rate or 0) if video else 0.0,
            fragments=moofs,
            has_moof=moofs > 0,
        )


@dataclass
class PlayCheck:
    """The result of decoding a whole file, as a player would."""

    video_frames: int
    video_end: float
    audio_end: float
    errors: list[str] = field(default_factory=list)

    @property
    def playable(self) -> bool:
        return self.video_frames > 0 and not self.errors

    @property
    def duration(self) -> float:
        return min(self.video_end, self.audio_end) if self.audio_end else self.video_end


def check_playable(path: Path) -> PlayCheck:
    """Decode every packet of both streams; count frames and decode errors."""
    result = PlayCheck(0, 0.0, 0.0)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        result.errors.append(str(exc))
        return result
    with container:
        try:
            for packet in container.demux():
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame) and frame.time is not None:
                        result.video_frames += 1
                        rate = packet.stream.average_rate or 30
                        result.video_end = max(result.video_end, frame.time + 1 / float(rate))
                    elif isinstance(frame, av.AudioFrame) and frame.time is not None:
                        end = frame.time + frame.samples / frame.sample_rate
                        result.audio_end = max(result.audio_end, end)
        except av.FFmpegError as exc:
            result.errors.append(str(exc))
    return result


def _frame_at(path: Path, at: float) -> npt.NDArray[np.uint8]:
    with _open(path) as container:
        stream = container.streams.video[0]
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.time is not None and frame.time >= at:
                break
        if last is None:
            raise RecordingError(f"{path} has no video frames.")
        image: npt.NDArray[np.uint8] = last.to_ndarray(format="bgr24")
        return image


def thumbnail(path: Path, *, at: float | None = None, width: int = 640, quality: int = 85) -> bytes:
    """A JPEG of the frame at ``at`` seconds (default: 1.5 s in, or the middle if shorter)."""
    if at is None:
        at = min(1.5, probe(path).duration / 2)
    image: Any = _frame_at(path, at)
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(
            image, (width, round(h * width / w / 2) * 2), interpolation=cv2.INTER_AREA
        )
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RecordingError("The thumbnail could not be encoded.")
    return bytes(data.tobytes())


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts draw ASCII only: fold accents ("Zoë" -> "Zoe"), drop the rest.
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def draw_play_button(image: npt.NDArray[np.uint8]) -> None:
    """A translucent dark disc with a white triangle in the middle, drawn in place."""
    h, w = image.shape[:2]
    r = max(12, min(w, h) // 6)
    cx, cy = w // 2, h // 2
    overlay = image.copy()
    cv2.circle(overlay, (cx, cy), r, (40, 40, 40), -1, cv2.LINE_AA)
    cv2.addWeighted(overlay, 0.6, image, 0.4, 0, dst=image)
    cv2.circle(image, (cx, cy), r, (255, 255, 255), max(2, r // 12), cv2.LINE_AA)
    tri = np.array(
        [(cx - r // 3, cy - r // 2), (cx - r // 3, cy + r // 2), (cx + r // 2, cy)], np.int32
    )
    cv2.fillPoly(image, [tri], (255, 255, 255), cv2.LINE_AA)


def _draw_text(image: npt.NDArray[np.uint8], text: str) -> None:
    text = _ascii(text).strip()
    if not text:
        return
    h, w = image.shape[:2]
    scale = 0.6
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    while tw > w - 20 and scale > 0.3:
        scale -= 0.05
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = th + 16
    image[h - band :, :] = (image[h - band :, :] * 0.35).astype(np.uint8)
    cv2.putText(
        image, text, ((w - tw) // 2, h - 8), cv2.FONT_HERSHEY_SIMPLEX, scale,
        (255, 255, 255), 1, cv2.LINE_AA,
    )  # fmt: skip


def _pull_all(sink: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(sink.pull())
        except (av.BlockingIOError, av.EOFError):
            return out


def _encode_gif(images: list[npt.NDArray[np.uint8]], fps: int, colors: int, dither: str) -> bytes:
    h, w = images[0].shape[:2]
    tb = Fraction(1, fps)
    frames = []
    for i, image in enumerate(images):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = i, tb
        frames.append(frame)
    # Pass 1: one palette for the whole clip.
    g1 = Graph()
    src = g1.add_buffer(width=w, height=h, format=av.VideoFormat("bgr24"), time_base=tb)
    gen = g1.add("palettegen", f"max_colors={colors}:stats_mode=diff")
    sink = g1.add("buffersink")
    src.link_to(gen)
    gen.link_to(sink)
    g1.configure()
    for frame in frames:
        src.push(frame)
    src.push(None)
    palettes = _pull_all(sink)
    if not palettes:
        raise RecordingError("The GIF palette could not be computed.")
    palette = palettes[0]
    # Pass 2: map every frame onto it.
    g2 = Graph()
    src2 = g2.add_buffer(width=w, height=h, format=av.VideoFormat("bgr24"), time_base=tb)
    psrc = g2.add_buffer(
        width=palette.width, height=palette.height, format=palette.format, time_base=tb
    )
    use = g2.add("paletteuse", f"dither={dither}:diff_mode=rectangle")
    sink2 = g2.add("buffersink")
    src2.link_to(use, 0, 0)
    psrc.link_to(use, 0, 1)
    use.link_to(sink2)
    g2.configure()
    palette.pts, palette.time_base = 0, tb
    psrc.push(palette)
    mapped: list[Any] = []
    for frame in frames:
        src2.push(frame)
        mapped.extend(_pull_all(sink2))
    src2.push(None)
    psrc.push(None)
    mapped.extend(_pull_all(sink2))
    buf = io.BytesIO()
    with av.open(buf, "w", format="gif", options={"loop": "0"}) as out:
        stream = out.add_stream("gif", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "pal8"
        for i, frame in enumerate(mapped):
            frame.pts, frame.time_base = i, tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def gif_preview(
    path: Path,
    *,
    first_frame_text: str = "",
    seconds: float = 3.0,
    width: int = 480,
    start: float = 0.0,
    max_bytes: int = GIF_MAX_BYTES,
) -> bytes:
    """An animated GIF of up to ``seconds`` (<= 3) from ``start``, ``width`` px wide.

    Every frame carries the play button; the first also ``first_frame_text``. Frame rate,
    colours and dithering step down until the GIF fits in ``max_bytes``.
    """
    seconds = min(seconds, 3.0)
    # Most webcam takes fit at the first step; busy pictures step down (each ~1-2 s).
    attempts = ((10, 128, "bayer:bayer_scale=4"), (8, 96, "bayer:bayer_scale=5"),
                (6, 64, "none"), (5, 32, "none"))  # fmt: skip
    decoded: list[tuple[float, npt.NDArray[np.uint8]]] = []
    with _open(path) as container:
        if not container.streams.video:
            raise RecordingError(f"{path} has no video to make a preview from.")
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                if frame.time is None or frame.time < start:
                    continue
                if frame.time >= start + seconds:
                    break
                image = frame.to_ndarray(format="bgr24")
                h, w = image.shape[:2]
                size = (width, round(h * width / w / 2) * 2)
                decoded.append(
                    (frame.time - start, cv2.resize(image, size, interpolation=cv2.INTER_AREA))
                )
        except (av.FFmpegError, ValueError) as exc:
            raise RecordingError(
                f"The beginning of {path.name} cannot be decoded to make its preview: it "
                "is damaged.",
                hint="Choose another video, or record it again.",
                details=str(exc),
                action=Action.CHOOSE_FILE,
            ) from exc
    if not decoded:
        raise RecordingError(f"{path} has no video to make a preview from.")
    data = b""
    for fps, colors, dither in attempts:
        images: list[npt.NDArray[np.uint8]] = []
        for k in range(max(1, math.ceil(seconds * fps))):
            t = k / fps
            if t > decoded[-1][0] + 1e-6:
                break
            nearest = min(decoded, key=lambda d: abs(d[0] - t))[1].copy()
            draw_play_button(nearest)
            images.append(nearest)
        if first_frame_text:
            _draw_text(images[0], first_frame_text)
        data = _encode_gif(images, fps, colors, dither)
        if len(data) <= max_bytes:
            return data
    raise RecordingError(
        f"The GIF preview is {len(data)} bytes, more than {max_bytes}, even at low quality."
    )


# --- trim -------------------------------------------------------------------------------


def _nal_units(data: bytes) -> list[bytes]:
    """Split Annex B (start-code) data into NAL units."""
    units = []
    i, n = 0, len(data)
    starts = []
    while i < n - 3:
        if (
            data[i] == 0
            and data[i + 1] == 0
            and (data[i + 2] == 1 or (data[i + 2] == 0 and i + 3 < n and data[i + 3] == 1))
        ):
            length = 3 if data[i + 2] == 1 else 4
            starts.append((i, i + length))
            i += length
        else:
            i += 1
    for k, (_, begin) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        units.append(data[begin:end].rstrip(b"\x00") if k + 1 < len(starts) else data[begin:end])
    return units


def parameter_sets(extradata: bytes) -> tuple[bytes, ...]:
    """SPS and PPS NAL units from avcC or Annex B extradata."""
    if not extradata:
        return ()
    if extradata[0] == 1:  # avcC
        out = []
        pos = 5
        nsps = extradata[pos] & 0x1F
        pos += 1
        for _ in range(nsps):
            (length,) = struct.unpack(">H", extradata[pos : pos + 2])
            out.append(extradata[pos + 2 : pos + 2 + length])
            pos += 2 + length
        npps = extradata[pos]
        pos += 1
        for _ in range(npps):
            (length,) = struct.unpack(">H", extradata[pos : pos + 2])
            out.append(extradata[pos + 2 : pos + 2 + length])
            pos += 2 + length
        return tuple(out)
    return tuple(u for u in _nal_units(extradata) if u and u[0] & 0x1F in (7, 8))


def annexb_to_avcc(data: bytes) -> bytes:
    """Start-code NAL units to 4-byte length-prefixed ones (what avcC MP4 samples hold)."""
    return b"".join(struct.pack(">I", len(u)) + u for u in _nal_units(data) if u)


def preset_for(width: int, height: int, fps: float) -> Preset:
    """The encoder settings the recorder would have used for this size."""
    base = (
        PRESETS["1080p30"]
        if height >= 1080
        else PRESETS["720p30"]
        if height >= 720
        else PRESETS["480p"]
    )
    return Preset(base.name, width, height, max(1, round(fps)), base.x264_preset, base.crf,
                  base.maxrate_kbps, base.audio_kbps)  # fmt: skip


@dataclass
class TrimResult:
    path: Path
    duration: float
    copied_frames: int
    reencoded_frames: int
    mode: str  # "copy+reencode" or "reencode"
    seconds: float  # wall time taken

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 4),
            "copied_frames": self.copied_frames,
            "reencoded_frames": self.reencoded_frames,
            "mode": self.mode,
            "seconds": round(self.seconds, 3),
        }


def _make_encoder(preset: Preset) -> Any:
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = preset.width, preset.height, "yuv420p"
    ctx.time_base = VIDEO_TIME_BASE
    ctx.framerate = Fraction(preset.fps)
    ctx.options = preset.encoder_options()
    ctx.flags |= av.codec.context.Flags.global_header
    ctx.open()
    return ctx


def trim(src: Path, dst: Path, start_s: float, end_s: float) -> TrimResult:
    """Cut ``[start_s, end_s)`` (file times) of ``src`` into the new fragmented MP4 ``dst``."""
    began = time.monotonic()
    if end_s <= start_s or start_s < 0:
        raise RecordingError(
            f"Cannot trim from {start_s:.2f} s to {end_s:.2f} s.",
            hint="The out point must come after the in point.",
        )
    info = probe(src)
    end_s = min(end_s, info.duration - AAC_PRIMING / 48000)
    if end_s - start_s < 0.1:
        raise RecordingError(
            f"The take is {info.duration:.2f} s long; nothing is left between "
            f"{start_s:.2f} s and {end_s:.2f} s."
        )
    if dst.resolve() == src.resolve():
        raise RecordingError("Trim writes a new file: choose another output name.")
    offset = AAC_PRIMING / 48000
    content_start, content_end = start_s, end_s
    # Cut points are content (recording) times; in the file both tracks sit ``offset`` later.
    start_s, end_s = (start_s + offset if start_s > 0 else 0.0), end_s + offset
    with _open(src) as inp:
        vin = inp.streams.video[0]
        tb = vin.time_base
        packets = [p for p in inp.demux(vin) if p.pts is not None]
    packets.sort(key=lambda p: p.pts)
    times = [float(p.pts * tb) for p in packets]
    keys = [t for t, p in zip(times, packets, strict=True) if p.is_keyframe]
    preset = preset_for(info.width, info.height, info.fps or 30)
    encoder = _make_encoder(preset)
    with _open(src) as probe_in:
        template_sets = parameter_sets(
            bytes(probe_in.streams.video[0].codec_context.extradata or b"")
        )
    can_copy = parameter_sets(bytes(encoder.extradata or b"")) == template_sets and bool(
        template_sets
    )
    eps = 1e-4
    k_in = next((k for k in keys if k >= start_s - eps), None)
    k_out = max((k for k in keys if k <= end_s + eps), default=None)
    copy_span = can_copy and k_in is not None and k_out is not None and k_out > k_in
    if not copy_span:
        k_in = k_out = end_s  # re-encode everything in [start, end)
    assert k_in is not None and k_out is not None

    out = av.open(str(dst), "w", format="mp4", options=dict(FRAGMENTED_MP4))
    try:
        with _open(src) as inp:
            if copy_span:
                vout = out.add_stream_from_template(inp.streams.video[0])
            else:
                vout = out.add_stream("libx264", rate=preset.fps, options=preset.encoder_options())
                vout.width, vout.height, vout.pix_fmt = preset.width, preset.height, "yuv420p"
                vout.codec_context.time_base = VIDEO_TIME_BASE
            vout.time_base = VIDEO_TIME_BASE
            aout = out.add_stream("aac", rate=48000, layout="mono")
            aout.bit_rate = preset.audio_kbps * 1000
        video_packets: list[tuple[float, Any, bool]] = []  # (out time, packet, from encoder)

        def out_pts(t: float) -> int:
            # File times are content times + offset (the AAC priming shift, see muxer);
            # the first sample of a fragmented MP4 sits at 0 instead.
            return round(max(t - content_start, offset) * 90000)

        reencoded = 0
        last_key_second = -1

        def encode_range(lo: float, hi: float) -> None:
            """Decode from the keyframe at or before ``lo``; re-encode frames in [lo, hi)."""
            nonlocal reencoded, last_key_second
            if hi - lo <= eps:
                return
            key = max((k for k in keys if k <= lo + eps), default=0.0)
            ctx = encoder if copy_span else vout.codec_context
            first = True
            with _open(src) as inp:
                vs = inp.streams.video[0]
                inp.seek(round(key / float(vs.time_base)), stream=vs, backward=True)
                for frame in inp.decode(vs):
                    t = frame.time
                    if t is None or t < lo - eps:
                        continue
                    if t >= hi - eps:
                        break
                    new = av.VideoFrame.from_ndarray(
                        frame.to_ndarray(format="yuv420p"), format="yuv420p"
                    )
                    new.pts, new.time_base = out_pts(t), VIDEO_TIME_BASE
                    second = math.floor(t - content_start - offset + 0.5 / preset.fps)
                    if first or second > last_key_second:
                        new.pict_type = av.video.frame.PictureType.I
                        last_key_second = max(last_key_second, second)
                        first = False
                    for pkt in ctx.encode(new):
                        video_packets.append((float(pkt.pts * VIDEO_TIME_BASE), pkt, copy_span))
                    reencoded += 1
            if copy_span:
                for pkt in ctx.encode(None):
                    video_packets.append((float(pkt.pts * VIDEO_TIME_BASE), pkt, True))

        encode_range(start_s, k_in)
        if copy_span:
            encoder = _make_encoder(preset)  # a flushed encoder cannot be reused
        copied = 0
        if copy_span:
            for t, pkt in zip(times, packets, strict=True):
                if k_in - eps <= t < k_out - eps:
                    pkt.pts = pkt.dts = out_pts(t)
                    pkt.time_base = VIDEO_TIME_BASE
                    video_packets.append((float(pkt.pts * VIDEO_TIME_BASE), pkt, False))
                    copied += 1
                    last_key_second = max(
                        last_key_second, math.floor(t - content_start - offset + 1e-3)
                    )
            encode_range(k_out, end_s)
        if not copy_span:
            for pkt in vout.codec_context.encode(None):
                video_packets.append((float(pkt.pts * VIDEO_TIME_BASE), pkt, False))

        # Audio: decode, cut sample-exactly at the same instants, re-encode.
        audio_packets: list[tuple[float, Any]] = []
        pcm: list[npt.NDArray[np.float32]] = []
        with _open(src) as inp:
            if inp.streams.audio:
                ain = inp.streams.audio[0]
                for frame in inp.decode(ain):
                    if frame.time is None:
                        continue
                    data = frame.to_ndarray().astype(np.float32)
                    mono = data.mean(axis=0) if data.ndim == 2 else data
                    t0 = frame.time
                    n = len(mono)
                    i0 = max(0, math.ceil((content_start + offset - t0) * 48000 - 1e-6))
                    i1 = min(n, math.ceil((end_s - t0) * 48000 - 1e-6))
                    if i1 > i0:
                        pcm.append(mono[i0:i1])
        samples = np.concatenate(pcm) if pcm else np.zeros(0, np.float32)
        total = round((content_end - content_start) * 48000)
        if len(samples) < total:
            samples = np.concatenate([samples, np.zeros(total - len(samples), np.float32)])
        samples = samples[:total]
        for i in range(0, len(samples), 1024):
            chunk = np.ascontiguousarray(samples[i : i + 1024]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i + AAC_PRIMING
            frame.time_base = Fraction(1, 48000)
            for pkt in aout.encode(frame):
                audio_packets.append((float(pkt.pts or 0) / 48000, pkt))
        for pkt in aout.encode(None):
            audio_packets.append((float(pkt.pts or 0) / 48000, pkt))

        merged = sorted(
            [(t, 0, i, p, conv) for i, (t, p, conv) in enumerate(video_packets)]
            + [(t, 1, i, p, False) for i, (t, p) in enumerate(audio_packets)],
            key=lambda x: (x[0], x[1], x[2]),
        )
        for _, kind, _, packet, convert in merged:
            pkt = packet
            if kind == 0:
                if convert:
                    # A standalone encoder writes start codes; avcC samples need lengths.
                    pkt = av.Packet(annexb_to_avcc(bytes(packet)))
                    pkt.pts = pkt.dts = packet.pts
                    pkt.time_base = VIDEO_TIME_BASE
                    pkt.is_keyframe = packet.is_keyframe
                pkt.stream = vout
            out.mux(pkt)
    finally:
        out.close()
    system.private_file(dst)  # a take is the user's alone
    duration = probe(dst).duration
    return TrimResult(
        path=dst,
        duration=duration,
        copied_frames=copied,
        reencoded_frames=reencoded,
        mode="copy+reencode" if copy_span else "reencode",
        seconds=time.monotonic() - began,
    )


def remux(src: Path, dst: Path) -> None:
    """Stream-copy every packet of ``src`` into a new fragmented MP4 ``dst``."""
    with _open(src) as inp:
        out = av.open(str(dst), "w", format="mp4", options=dict(FRAGMENTED_MP4))
        try:
            mapping = {
                s.index: out.add_stream_from_template(s)
                for s in inp.streams
                if s.type in ("video", "audio")
            }
            for packet in inp.demux():
                if packet.dts is None or packet.stream.index not in mapping:
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        finally:
            out.close()

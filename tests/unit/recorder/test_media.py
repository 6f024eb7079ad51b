"""Post-take helpers on synthetic takes (encoded faster than real time)."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.errors import RecordingError
from app.recorder import media, sync
from app.recorder.muxer import AAC_PRIMING

from .conftest import MakeTake

OFFSET = AAC_PRIMING / 48000


def test_probe_and_box_order(make_take: MakeTake) -> None:
    path = make_take(3.0)
    info = media.probe(path)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.has_moof and info.fragments == 3  # one fragment per 1 s GOP
    assert abs(info.duration - OFFSET - 3.0) < 1 / 30
    kinds = [b.type for b in media.top_level_boxes(path)]
    assert kinds[:2] == ["ftyp", "moov"] and kinds[-1] == "mfra"
    assert kinds[2:-1] == ["moof", "mdat"] * 3


def test_sync_of_a_perfect_take_is_near_zero(make_take: MakeTake) -> None:
    report = sync.analyze(make_take(4.0))
    assert len(report.pairs) == 3
    assert report.max_abs_offset is not None and report.max_abs_offset < 0.003


def test_analyzer_sees_a_shifted_track(make_take: MakeTake, tmp_path: Path) -> None:
    """The analyzer can fail: shift the audio by 100 ms and it must say so."""
    src = make_take(3.0)
    dst = tmp_path / "shifted.mp4"
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "audio":
                packet.pts += 4800
                packet.dts += 4800
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    report = sync.analyze(dst)
    assert report.start_offset == pytest.approx(0.1, abs=0.003)


def test_complete_fragments_end_on_a_torn_file(make_take: MakeTake, tmp_path: Path) -> None:
    path = make_take(3.0)
    boxes = media.top_level_boxes(path)
    second_mdat = [b for b in boxes if b.type == "mdat"][1]
    torn = tmp_path / "torn.mp4"
    torn.write_bytes(path.read_bytes()[: second_mdat.offset + second_mdat.size // 2])
    end, pairs = media.complete_fragments_end(torn)
    assert pairs == 1
    first_mdat = next(b for b in boxes if b.type == "mdat")
    assert end == first_mdat.offset + first_mdat.size


def gif_frames(data: bytes, tmp_path: Path) -> list[np.ndarray]:
    path = tmp_path / "p.gif"
    path.write_bytes(data)
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_gif_preview(make_take: MakeTake, tmp_path: Path) -> None:
    path = make_take(5.0)
    data = media.gif_preview(path, first_frame_text="Hi Zoë, a video for you")
    assert data[:6] == b"GIF89a"
    assert len(data) <= 1_000_000
    frames = gif_frames(data, tmp_path)
    assert len(frames) >= 15  # animated, ~3 s
    assert frames[0].shape[1] == 480
    first = frames[0]
    h, w = first.shape[:2]
    # Play button: a white triangle in the middle of a dark disc.
    assert first[h // 2, w // 2].min() > 200
    ring_inside = first[h // 2, w // 2 - int(min(w, h) / 6 * 0.75)]
    assert ring_inside.max() < 150
    # The text band darkens the bottom of the first frame only.
    assert first[-5:, :20].mean() < frames[5][-5:, :20].mean()


def test_gif_obeys_the_size_cap(make_take: MakeTake) -> None:
    path = make_take(2.0)
    with pytest.raises(RecordingError, match="more than 1000"):
        media.gif_preview(path, max_bytes=1000, seconds=1.0)


def test_thumbnail_is_a_jpeg(make_take: MakeTake) -> None:
    data = media.thumbnail(make_take(3.0))
    assert data[:3] == b"\xff\xd8\xff"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 640


@pytest.mark.parametrize(("start", "end"), [(2.3, 7.6), (0.0, 3.5), (3.0, 6.0)])
def test_trim_copies_whole_gops_and_keeps_sync(
    make_take: MakeTake, tmp_path: Path, start: float, end: float
) -> None:
    src = make_take(9.0)
    dst = tmp_path / "cut.mp4"
    result = media.trim(src, dst, start, end)
    assert result.mode == "copy+reencode"
    assert result.copied_frames > 0
    expected_frames = round((end - start) * 30)
    assert abs(result.copied_frames + result.reencoded_frames - expected_frames) <= 1
    info = media.probe(dst)
    assert info.has_moof and (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.duration - OFFSET - (end - start)) < 1 / 30
    check = media.check_playable(dst)
    assert check.playable and abs(check.video_frames - expected_frames) <= 1
    report = sync.analyze(dst)
    assert len(report.pairs) >= 2
    assert report.max_abs_offset is not None and report.max_abs_offset < 0.005
    # The white frames stay on whole seconds of the source: at (n - start) in the cut.
    for pair in report.pairs:
        source_t = pair.video_t - OFFSET + start
        assert abs(source_t - round(source_t)) < 0.02


def test_trim_bad_input(make_take: MakeTake, tmp_path: Path) -> None:
    src = make_take(3.0)
    with pytest.raises(RecordingError, match="Cannot trim"):
        media.trim(src, tmp_path / "x.mp4", 2.0, 1.0)
    with pytest.raises(RecordingError, match="new file"):
        media.trim(src, src, 0.5, 1.5)
    with pytest.raises(RecordingError, match="nothing is left"):
        media.trim(src, tmp_path / "y.mp4", 5.0, 8.0)
    with pytest.raises(RecordingError, match="cannot be read"):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"not a video")
        media.trim(bad, tmp_path / "z.mp4", 0, 1)


def test_parameter_sets_match_across_formats() -> None:
    sps = bytes.fromhex("6764001facb402802dd080000003008000001e478c1950")
    pps = bytes.fromhex("68ef0fcb")
    annexb = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    avcc = bytes.fromhex("0164001fffe1") + len(sps).to_bytes(2, "big") + sps + b"\x01"
    avcc += len(pps).to_bytes(2, "big") + pps
    assert media.parameter_sets(annexb) == media.parameter_sets(avcc) == (sps, pps)
    assert media.annexb_to_avcc(annexb) == (
        len(sps).to_bytes(4, "big") + sps + len(pps).to_bytes(4, "big") + pps
    )


@pytest.mark.parametrize(("w", "h"), [(1280, 720), (854, 480), (640, 360)])
def test_yuv420_frame_round_trips(w: int, h: int) -> None:
    from app.recorder.muxer import yuv420_frame

    yuv = np.random.default_rng(1).integers(0, 255, (h * 3 // 2, w)).astype(np.uint8)
    assert (yuv420_frame(yuv, w, h).to_ndarray() == yuv).all()

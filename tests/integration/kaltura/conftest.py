"""Helpers for the Kaltura client's integration tests (real sandbox on port 0)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from app.kaltura.client import KalturaClient
from app.kaltura.policy import Backoff, ChunkPolicy
from app.kaltura.session import AppTokenCredentials, KalturaSession
from app.kaltura.uploader import Uploader, UploadEvent, UploadTimeouts
from tests.fixtures.sandbox_kaltura import KalturaServer

USER = "ada.lovelace@example.com"
KB = 1024


def make_session(srv: KalturaServer, *, user: str = USER, **kw: Any) -> KalturaSession:
    client = KalturaClient(srv.url, partner_id=srv.partner_id, timeout=kw.pop("timeout", (5, 10)))
    creds = AppTokenCredentials(srv.app_token_id, srv.app_token, srv.app_token_hash_type)
    return KalturaSession(client, creds, user_id=user, **kw)


def small_policy(chunk: int = 64 * KB, parallel: int = 1) -> ChunkPolicy:
    return ChunkPolicy(min_chunk=chunk, initial_chunk=chunk, max_chunk=chunk, max_parallel=parallel)


class Events:
    def __init__(self) -> None:
        self.items: list[UploadEvent] = []
        self.lock = threading.Lock()

    def __call__(self, ev: UploadEvent) -> None:
        with self.lock:
            self.items.append(ev)

    def kinds(self) -> list[str]:
        with self.lock:
            return [e.kind for e in self.items]


def make_uploader(
    session: KalturaSession,
    state_dir: Path,
    *,
    chunk: int = 64 * KB,
    parallel: int = 1,
    events: Events | None = None,
    timeouts: UploadTimeouts | None = None,
) -> Uploader:
    return Uploader(
        session,
        state_dir=state_dir,
        on_event=events,
        timeouts=timeouts or UploadTimeouts(connect=2, read=10, final_read=10),
        policy_factory=lambda: small_policy(chunk, parallel),
        backoff_factory=lambda: Backoff(base=0.01, cap=0.05, floor=0.005),
        growing_min_bytes=1,
        idle_flush_seconds=0.05,
        poll_seconds=0.01,
    )


def server_content(srv: KalturaServer, entry_id: str) -> bytes:
    entry = srv.service.store.entries.get(entry_id)
    assert entry is not None
    path = srv.service.entries.content_path(entry)
    assert path is not None, f"entry {entry_id} has no content yet: {entry}"
    return path.read_bytes()


def write_fmp4(
    path: Path,
    *,
    seconds: float = 3.0,
    fps: int = 15,
    size: tuple[int, int] = (320, 240),
    gop: int = 15,
) -> Path:
    """A fragmented MP4 (one fragment per GOP) as the recorder writes it."""
    width, height = size
    opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
    rng = np.random.default_rng(1)
    with av.open(str(path), "w", format="mp4", options=opts) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.gop_size = gop
        video.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        frames = int(seconds * fps)
        spf = 48000 // fps
        for i in range(frames):
            img = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
            pcm = np.zeros((1, spf), np.float32)
            af = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            af.sample_rate = 48000
            af.pts = i * spf
            af.time_base = Fraction(1, 48000)
            for packet in audio.encode(af):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


def fragment_ends(data: bytes) -> list[int]:
    """Offsets after each top-level box group a recorder writes at once
    (ftyp+moov first, then each moof+mdat, then the rest)."""
    ends: list[int] = []
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
        if kind in (b"moov", b"mdat"):
            ends.append(pos)
    if not ends or ends[-1] != len(data):
        ends.append(len(data))
    return ends


class GrowingFile:
    """Appends a finished fMP4 to ``dst`` fragment by fragment, ``interval`` apart."""

    def __init__(self, src: bytes, dst: Path, *, interval: float) -> None:
        self.src = src
        self.dst = dst
        self.interval = interval
        self.ends = fragment_ends(src)
        self.done = threading.Event()
        self.stop = threading.Event()
        dst.write_bytes(b"")
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> GrowingFile:
        self.thread.start()
        return self

    def _run(self) -> None:
        written = 0
        with open(self.dst, "ab") as f:
            for end in self.ends:
                if self.stop.wait(self.interval):
                    break
                f.write(self.src[written:end])
                f.flush()
                written = end
        self.done.set()

    def join(self, timeout: float = 60.0) -> None:
        self.thread.join(timeout)


@pytest.fixture
def fmp4_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_fmp4(tmp_path_factory.mktemp("src") / "src.mp4").read_bytes()


def wait_until(pred: Any, timeout: float = 10.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(poll)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "uploads"

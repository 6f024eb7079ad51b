"""Upload benchmarks (issue 5): the Kaltura client's uploader against the Kaltura sandbox.

Each measurement is next to a baseline taken in the same run:

- ``stop_to_ready``: a 3-minute synthetic take "recorded" while the sandbox limits uploads to
  8 Mbit/s (``upload_bytes_per_s=1e6``): seconds from stop until all bytes are confirmed and
  the entry has its content, streaming while recording vs uploading the same file after
  stop (median of 3 each, and the ratio). The recording is SIMULATED: a finished fragmented
  MP4 (made with PyAV as the recorder makes it: H.264 + AAC, one fragment per 1 s GOP,
  ~2.5 Mbit/s) is appended to the take file fragment by fragment in real time.
- ``faults``: 30% of API requests fail (500, 503, reset, stall past a 1.5 s client timeout,
  response lost after the server stored the chunk) on a 200 MB upload: byte-identical (SHA-256
  of the sandbox's stored file) and bytes sent <= file size + the bytes of failed chunks.
- ``restart``: the uploading process is SIGKILLed at a random point (5 trials) and started
  again: it must resume at the server's offset (uploadToken.get), into the same entry,
  never re-sending confirmed bytes, byte-identical.
- ``expiry``: all sessions expired mid-upload (``POST /_sandbox/expire-sessions``): the
  session is renewed and the upload completes byte-identical.
- ``throughput``: loopback, no limit: the uploader's rate vs the sandbox's raw storage rate
  (the same file sent as bare 16 MB ``uploadToken.upload`` requests with no client logic),
  best of 3 each; target >= 0.8.

The sandbox runs in its own process, as it does for the app (client and server do not share
a GIL).

    .venv/bin/python benchmarks/upload.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.kaltura import entries  # noqa: E402
from app.kaltura.client import KalturaClient  # noqa: E402
from app.kaltura.policy import ChunkPolicy  # noqa: E402
from app.kaltura.session import AppTokenCredentials, KalturaSession  # noqa: E402
from app.kaltura.uploader import EntryMetadata, Uploader, UploadTimeouts  # noqa: E402
from app.sandbox.testing import KalturaProcess as Sandbox  # noqa: E402
from app.sandbox.testing import sha256_file  # noqa: E402

MB = 1_000_000
USER = "bench@example.com"
CACHE = Path(tempfile.gettempdir()) / "vmsg-bench-cache"


# --------------------------------------------------------------------------- the sandbox


def session_for(sb: Sandbox, timeout: tuple[float, float] = (10, 60)) -> KalturaSession:
    tok = sb.manifest["app_token"]
    client = KalturaClient(sb.url, partner_id=int(sb.manifest["partner_id"]), timeout=timeout)
    return KalturaSession(
        client, AppTokenCredentials(tok["id"], tok["token"], tok["hash_type"]), user_id=USER
    )


def random_file(path: Path, size: int) -> Path:
    if not path.exists() or path.stat().st_size != size:
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 24)
                f.write(os.urandom(n))
                left -= n
    return path


# --------------------------------------------------------------------------- the take


def make_take(seconds: int, path: Path) -> Path:
    """A fragmented MP4 like the recorder's (640x360 30 fps, 1 s GOP, ~2.5 Mbit/s)."""
    if path.exists():
        return path
    import av
    import numpy as np

    fps, width, height = 30, 640, 360
    opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
    tmp = path.with_suffix(".part")
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 255, (8, height, width, 3), dtype=np.uint8)
    with av.open(str(tmp), "w", format="mp4", options=opts) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.gop_size = fps
        video.bit_rate = 2_500_000
        video.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        spf = 48000 // fps
        t = np.arange(spf) / 48000
        for i in range(seconds * fps):
            img = noise[i % len(noise)].copy()
            img[:, (i * 4) % width] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
            pcm = (0.1 * np.sin(2 * np.pi * 440 * (t + i / fps))).astype(np.float32)
            af = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="fltp", layout="mono")
            af.sample_rate = 48000
            af.pts = i * spf
            af.time_base = Fraction(1, 48000)
            for packet in audio.encode(af):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    tmp.replace(path)
    return path


def fragment_ends(data: bytes) -> list[int]:
    """Offsets after ftyp+moov and after each moof+mdat, as the recorder appends them."""
    ends, pos = [], 0
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
    return ends


def simulate_recording(src: bytes, dst: Path, seconds: float) -> Iterator[float]:
    """Append ``src`` to ``dst`` fragment by fragment in real time; yields at stop."""
    ends = fragment_ends(src)
    media = ends[1:]  # ends[0] is ftyp+moov, written at start
    per = seconds / max(1, len(media))
    t0 = time.perf_counter()
    with open(dst, "ab") as f:
        f.write(src[: ends[0]])
        f.flush()
        written = ends[0]
        for i, frag_end in enumerate(media):
            delay = t0 + (i + 1) * per - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            # The trailer (mfra) goes with the last fragment, at stop.
            end = len(src) if i == len(media) - 1 else frag_end
            f.write(src[written:end])
            f.flush()
            written = end
    yield time.perf_counter()


def wait_content(session: KalturaSession, entry_id: str) -> None:
    entries.wait_for(session, entry_id, lambda e: e.has_content, timeout=60, poll=0.02)


def stop_to_ready(sb: Sandbox, tmp: Path, take_seconds: int, trials: int) -> dict[str, Any]:
    take = make_take(take_seconds, CACHE / f"take-{take_seconds}s.mp4")
    src = take.read_bytes()
    streaming, after = [], []
    sb.faults(upload_bytes_per_s=1e6)
    for trial in range(trials):
        session = session_for(sb)
        up = Uploader(session, state_dir=tmp / f"s2r-{trial}")
        dst = tmp / f"live-{trial}.mp4"
        dst.write_bytes(b"")
        job = up.begin(dst, EntryMetadata(name=f"live {trial}"), growing=True)
        for t_stop in simulate_recording(src, dst, take_seconds):
            job.finish(final_size=len(src))
            result = job.wait(600)
            wait_content(session, result.entry_id)
            streaming.append(time.perf_counter() - t_stop)
        assert sb.content_sha256(result.entry_id) == hashlib.sha256(src).hexdigest()
        # Baseline: the same take uploaded after stop.
        t_stop = time.perf_counter()
        job2 = up.begin(take, EntryMetadata(name=f"after {trial}"), resume_existing=False)
        r2 = job2.wait(600)
        wait_content(session, r2.entry_id)
        after.append(time.perf_counter() - t_stop)
        print(
            f"stop_to_ready trial {trial}: streaming {streaming[-1]:.3f} s, after stop "
            f"{after[-1]:.3f} s",
            file=sys.stderr,
        )
    sb.faults()
    med_s, med_a = statistics.median(streaming), statistics.median(after)
    return {
        "simulated_recording": True,
        "take_seconds": take_seconds,
        "take_mb": round(len(src) / MB, 2),
        "take_mbit_s": round(len(src) * 8 / take_seconds / MB, 2),
        "limit_bytes_per_s": 1e6,
        "streaming_s": [round(x, 3) for x in streaming],
        "after_stop_s": [round(x, 3) for x in after],
        "streaming_median_s": round(med_s, 3),
        "after_stop_median_s": round(med_a, 3),
        "ratio_after_over_streaming": round(med_a / med_s, 1) if med_s else None,
        "meets_target_1s": med_s <= 1.0,
    }


def stop_to_ready_recorder(
    sb: Sandbox, tmp: Path, take_seconds: int, trials: int
) -> dict[str, Any]:
    """The same measurement with the app's real Recorder (synthetic camera and microphone,
    720p30) writing the take while the uploader follows it, fed by the recorder's FileGrew
    events as the app's TakeSession does (no polling of the file)."""
    from app.recorder.events import FileGrew, RecorderEvent
    from app.recorder.recorder import Recorder
    from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone

    streaming, after, finalize, sizes, dropped = [], [], [], [], []
    sb.faults(upload_bytes_per_s=1e6)
    for trial in range(trials):
        session = session_for(sb)
        up = Uploader(session, state_dir=tmp / f"rec-{trial}")
        out = tmp / f"rec-{trial}.mp4"
        jobs: list[Any] = []

        def feed(event: RecorderEvent, jobs: list[Any] = jobs) -> None:
            if isinstance(event, FileGrew) and jobs:
                jobs[0].feed(event.bytes)

        rec = Recorder(out, SyntheticCamera(), SyntheticMicrophone(), preset="720p30",
                       on_event=feed)  # fmt: skip
        rec.prepare()  # the file exists from here on
        job = up.begin(out, EntryMetadata(name=f"recorded {trial}"), growing=True, fed=True)
        jobs.append(job)
        rec.start()
        rec.wait_started(30)
        time.sleep(take_seconds)
        t_stop = time.perf_counter()  # the user presses stop
        take = rec.stop()
        finalize.append(time.perf_counter() - t_stop)
        job.finish(final_size=out.stat().st_size)
        result = job.wait(600)
        wait_content(session, result.entry_id)
        streaming.append(time.perf_counter() - t_stop)
        sizes.append(out.stat().st_size)
        dropped.append(take.dropped_frames)
        assert sb.content_sha256(result.entry_id) == sha256_file(out)
        t_stop = time.perf_counter()
        r2 = up.begin(out, EntryMetadata(name=f"after {trial}"), resume_existing=False).wait(600)
        wait_content(session, r2.entry_id)
        after.append(time.perf_counter() - t_stop)
        print(
            f"stop_to_ready_recorder trial {trial}: streaming {streaming[-1]:.3f} s "
            f"(recorder finalize {finalize[-1]:.3f} s), after stop {after[-1]:.3f} s",
            file=sys.stderr,
        )
    sb.faults()
    med_s, med_a = statistics.median(streaming), statistics.median(after)
    return {
        "recorder": "app.recorder.Recorder, SyntheticCamera + SyntheticMicrophone, 720p30",
        "fed_by": "FileGrew events",
        "take_seconds": take_seconds,
        "take_mb": [round(x / MB, 2) for x in sizes],
        "take_mbit_s": round(statistics.median(sizes) * 8 / take_seconds / MB, 2),
        "dropped_frames": dropped,
        "limit_bytes_per_s": 1e6,
        "recorder_finalize_s": [round(x, 3) for x in finalize],
        "streaming_s": [round(x, 3) for x in streaming],
        "after_stop_s": [round(x, 3) for x in after],
        "streaming_median_s": round(med_s, 3),
        "after_stop_median_s": round(med_a, 3),
        "ratio_after_over_streaming": round(med_a / med_s, 1) if med_s else None,
        "meets_target_1s": med_s <= 1.0,
    }


def faults(sb: Sandbox, tmp: Path, size: int, max_chunk: int | None = None) -> dict[str, Any]:
    path = random_file(CACHE / f"random-{size}.bin", size)
    sb.clear_log()
    sb.faults(failure_rate=0.3, stall_seconds=3.0, match="/api_v3/", seed=11)
    session = session_for(sb, timeout=(5, 1.5))
    policy = ChunkPolicy
    if max_chunk:
        n = max_chunk

        def policy() -> ChunkPolicy:
            return ChunkPolicy(min_chunk=n, initial_chunk=n, max_chunk=n)

    up = Uploader(
        session,
        state_dir=tmp / f"faults-{max_chunk}",
        timeouts=UploadTimeouts(connect=5, read=1.5, final_read=20),
        policy_factory=policy,
    )
    t0 = time.perf_counter()
    result = up.begin(path, EntryMetadata(name="faults")).wait(1800)
    elapsed = time.perf_counter() - t0
    sb.faults()
    log = sb.request_log()
    identical = sb.content_sha256(result.entry_id) == sha256_file(path)
    sent = session.client.stats.payload_bytes_sent
    by_fault: dict[str, int] = {}
    for rec in log:
        if rec["fault"]:
            by_fault[rec["fault"]] = by_fault.get(rec["fault"], 0) + 1
    return {
        "file_mb": round(size / MB, 1),
        "chunks": "adaptive 1-16 MiB" if not max_chunk else f"fixed {max_chunk} bytes",
        "failure_rate": 0.3,
        "faults_logged": by_fault,
        "requests": len(log),
        "seconds": round(elapsed, 2),
        "byte_identical": identical,
        "bytes_sent": sent,
        "failed_chunk_bytes": result.failed_chunk_bytes,
        "bound_holds": sent <= size + result.failed_chunk_bytes,
        "overhead_vs_size": round(sent / size - 1, 3),
    }


# --------------------------------------------------------------------------- restart


def child_main(url: str, state_dir: str, file: str, manifest_json: str) -> int:
    """Child process: upload ``file`` (resuming what ``state_dir`` holds); print the result."""
    m = json.loads(manifest_json)
    tok = m["app_token"]
    session = KalturaSession(
        KalturaClient(url, partner_id=int(m["partner_id"])),
        AppTokenCredentials(tok["id"], tok["token"], tok["hash_type"]),
        user_id=USER,
    )
    up = Uploader(session, state_dir=Path(state_dir))
    pending = up.resume_pending()
    job = pending[0] if pending else up.begin(Path(file), EntryMetadata(name="restart"))
    r = job.wait()
    print(
        json.dumps(
            {
                "entry_id": r.entry_id,
                "resumed": bool(pending),
                "resumed_from": r.resumed_from,
                "bytes_sent": r.bytes_sent,
            }
        ),
        flush=True,
    )
    return 0


def _spawn_child(sb: Sandbox, state_dir: Path, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            sb.url,
            str(state_dir),
            str(path),
            json.dumps(sb.manifest),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def restart(sb: Sandbox, tmp: Path, size: int, trials: int) -> dict[str, Any]:
    path = random_file(CACHE / f"random-{size}.bin", size)
    digest = sha256_file(path)
    rng = random.Random(5)
    rate = 8e6
    out = []
    session = session_for(sb)
    for trial in range(trials):
        state_dir = tmp / f"restart-{trial}"
        sb.faults(upload_bytes_per_s=rate)
        proc = _spawn_child(sb, state_dir, path)
        kill_after = rng.uniform(0.2, 0.8) * size / rate
        deadline = time.monotonic() + 60
        while not list(state_dir.glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        time.sleep(0.5)  # the request in flight at the kill settles on the server
        state = json.loads(next(state_dir.glob("*.json")).read_text())
        token = session.call("uploadToken", "get", {"uploadTokenId": state["token_id"]})
        server_offset = int(token.get("uploadedFileSize") or 0)
        sb.faults()
        proc2 = _spawn_child(sb, state_dir, path)
        stdout, _ = proc2.communicate(timeout=600)
        res = json.loads(stdout.strip().splitlines()[-1])
        ok = (
            res["resumed"]
            and res["entry_id"] == state["entry_id"]
            and res["resumed_from"] == server_offset
            and res["bytes_sent"] == size - server_offset
            and sb.content_sha256(res["entry_id"]) == digest
        )
        out.append(
            {
                "killed_at_s": round(kill_after, 2),
                "server_offset": server_offset,
                "resumed_from": res["resumed_from"],
                "bytes_sent_after_restart": res["bytes_sent"],
                "ok": bool(ok),
            }
        )
        print(f"restart trial {trial}: {out[-1]}", file=sys.stderr)
    return {"file_mb": round(size / MB, 1), "trials": out, "all_ok": all(t["ok"] for t in out)}


def expiry(sb: Sandbox, tmp: Path, size: int) -> dict[str, Any]:
    path = random_file(CACHE / f"random-{size}.bin", size)
    sb.faults(upload_bytes_per_s=8e6)
    session = session_for(sb)
    up = Uploader(session, state_dir=tmp / "expiry")
    job = up.begin(path, EntryMetadata(name="expiry"))
    while job.state.confirmed < size * 0.3 and not job.done:
        time.sleep(0.02)
    expired_at = job.state.confirmed
    sb.expire_sessions()
    result = job.wait(600)
    sb.faults()
    return {
        "file_mb": round(size / MB, 1),
        "expired_at_bytes": expired_at,
        "renewals": session.renewals,
        "byte_identical": sb.content_sha256(result.entry_id) == sha256_file(path),
        "ok": session.renewals >= 1 and expired_at < size,
    }


# --------------------------------------------------------------------------- throughput


def raw_rate(sb: Sandbox, path: Path, chunk: int = 16 * 1024 * 1024) -> float:
    """The sandbox's raw storage rate: bare upload requests, no client logic (bytes/s)."""
    session = session_for(sb)
    ks = session.ks()
    http = requests.Session()
    http.trust_env = False
    api = f"{sb.url}/api_v3/service/uploadToken/action"
    token = http.post(
        f"{api}/add", json={"ks": ks, "format": 1, "uploadToken": {"fileName": "r.bin"}}, timeout=30
    ).json()
    size = path.stat().st_size
    boundary = "raw" + secrets.token_hex(8)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            data = f.read(chunk)
            fields = {
                "ks": ks,
                "format": 1,
                "uploadTokenId": token["id"],
                "resume": offset > 0,
                "finalChunk": offset + len(data) >= size,
                "resumeAt": offset,
            }
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n'
                f"{json.dumps(fields)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
                'name="fileData"; filename="r.bin"\r\nContent-Type: application/octet-stream'
                "\r\n\r\n"
            ).encode()
            body = b"".join((head, data, f"\r\n--{boundary}--\r\n".encode()))
            res = http.post(f"{api}/upload", data=body, headers=headers, timeout=120).json()
            if res.get("objectType") == "KalturaAPIException":
                raise RuntimeError(res)
            offset += len(data)
    elapsed = time.perf_counter() - t0
    http.post(f"{api}/delete", json={"ks": ks, "format": 1, "uploadTokenId": token["id"]})
    return size / elapsed


def client_rate(sb: Sandbox, tmp: Path, path: Path, n: int) -> float:
    session = session_for(sb)
    session.ks()
    up = Uploader(session, state_dir=tmp / f"tp-{n}")
    t0 = time.perf_counter()
    result = up.begin(path, EntryMetadata(name="throughput"), resume_existing=False).wait(600)
    elapsed = time.perf_counter() - t0
    with contextlib.suppress(Exception):
        entries.delete_entry(session, result.entry_id)
    return path.stat().st_size / elapsed


def throughput(sb: Sandbox, tmp: Path, size: int, rounds: int = 3) -> dict[str, Any]:
    path = random_file(CACHE / f"random-{size}.bin", size)
    raw, ours = [], []
    for i in range(rounds):
        raw.append(raw_rate(sb, path))
        ours.append(client_rate(sb, tmp, path, i))
    best_raw, best_ours = max(raw), max(ours)
    return {
        "file_mb": round(size / MB, 1),
        "raw_storage_mb_s": [round(x / MB, 1) for x in raw],
        "uploader_mb_s": [round(x / MB, 1) for x in ours],
        "best_raw_mb_s": round(best_raw / MB, 1),
        "best_uploader_mb_s": round(best_ours / MB, 1),
        "ratio": round(best_ours / best_raw, 3),
        "meets_target_0_8": best_ours / best_raw >= 0.8,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(*argv[1:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short take, small files")
    parser.add_argument(
        "--only",
        help="comma-separated: stop_to_ready,stop_to_ready_recorder,faults,restart,expiry,"
        "throughput",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    every = "stop_to_ready,stop_to_ready_recorder,faults,restart,expiry,throughput"
    wanted = set((args.only or every).split(","))
    CACHE.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"benchmark": "upload", "quick": quick}
    with tempfile.TemporaryDirectory(prefix="vmsg-bench-upload-") as tmpdir:
        tmp = Path(tmpdir)
        sb = Sandbox(tmp / "sandbox")
        try:
            big = 40 * MB if quick else 200 * MB
            if "throughput" in wanted:
                result["throughput"] = throughput(sb, tmp, big)
            if "faults" in wanted:
                result["faults"] = faults(sb, tmp, big)
                # Many more requests (and so faults): the smallest chunk size.
                result["faults_1mib_chunks"] = faults(sb, tmp, big, max_chunk=1 << 20)
            if "restart" in wanted:
                result["restart"] = restart(sb, tmp, 40 * MB, 2 if quick else 5)
            if "expiry" in wanted:
                result["expiry"] = expiry(sb, tmp, 30 * MB)
            if "stop_to_ready" in wanted:
                result["stop_to_ready"] = stop_to_ready(
                    sb, tmp, 20 if quick else 180, 1 if quick else 3
                )
            if "stop_to_ready_recorder" in wanted:
                result["stop_to_ready_recorder"] = stop_to_ready_recorder(
                    sb, tmp, 20 if quick else 180, 1 if quick else 3
                )
        finally:
            sb.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

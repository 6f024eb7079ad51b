"""Running the sandbox for tests and benchmarks: one place for the setup both need.

Not used by the app. Tests (through their fixtures) and ``benchmarks/`` import these
instead of each repeating them:

- :class:`KalturaServer` / :func:`start_kaltura_server`: the Kaltura sandbox in this
  process on a free loopback port, with plain-HTTP helpers to call it as any client would;
- :class:`KalturaProcess`: the Kaltura sandbox in a child process (so a benchmark's client
  and the server do not share one GIL), driven through its ``/_sandbox/`` admin API;
- :class:`DeviceCodeToken`: a Graph token provider that signs in to the identity sandbox
  with the device-code grant (approved at once), for Graph clients without MSAL;
- :func:`write_mp4`, :func:`write_fmp4`, :func:`fragment_ends`, :class:`GrowingFile`: real
  H.264 + AAC files made with PyAV, and a file that grows fragment by fragment the way a
  recording does (for uploads that follow a growing file the app did not record).

    python -m app.sandbox.testing serve-kaltura DIR   # what KalturaProcess runs
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import requests

from app.sandbox.httpd import ADMIN_HEADER, FaultInjector, RunningServer
from app.sandbox.kaltura import KalturaSandbox, start_kaltura
from app.sandbox.microsoft import MicrosoftSandbox

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback only: never through a proxy
    return s


# --------------------------------------------------------------------------- Kaltura


@dataclass
class KalturaServer:
    """The Kaltura sandbox running in this process."""

    service: KalturaSandbox
    server: RunningServer
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def partner_id(self) -> int:
        return self.service.partner_id

    @property
    def admin_secret(self) -> str:
        return str(self.service.manifest()["admin_secret"])

    @property
    def app_token_id(self) -> str:
        return str(self.service.manifest()["app_token"]["id"])

    @property
    def app_token(self) -> str:
        return str(self.service.manifest()["app_token"]["token"])

    @property
    def app_token_hash_type(self) -> str:
        return str(self.service.manifest()["app_token"]["hash_type"])

    @property
    def faults(self) -> FaultInjector:
        return self.server.faults

    def stop(self) -> None:
        self.server.stop()
        self.service.close()

    # Wire helpers: plain HTTP, the way any client talks to Kaltura.

    def post(self, service: str, action: str, **kw: Any) -> requests.Response:
        return requests.post(
            f"{self.url}/api_v3/service/{service}/action/{action}", timeout=30, **kw
        )

    def call(
        self,
        service: str,
        action: str,
        params: dict[str, Any] | None = None,
        *,
        ks: str | None = None,
        file: bytes | None = None,
    ) -> Any:
        """One API call, JSON in and out (``format=1``); multipart when ``file`` is given."""
        body: dict[str, Any] = {"format": 1, **(params or {})}
        if ks is not None:
            body["ks"] = ks
        if file is None:
            resp = self.post(service, action, json=body)
        else:
            resp = self.post(
                service,
                action,
                files={
                    "json": (None, json.dumps(body), "application/json"),
                    "fileData": ("chunk.bin", file, "application/octet-stream"),
                },
            )
        if resp.status_code != 200:
            raise AssertionError(f"{service}.{action}: HTTP {resp.status_code}: {resp.text}")
        return resp.json()

    def admin_ks(self) -> str:
        ks = self.call(
            "session",
            "start",
            {"secret": self.admin_secret, "type": 2, "partnerId": self.partner_id},
        )
        assert isinstance(ks, str), ks
        return ks

    def user_ks(self, user: str, privileges: str = "") -> str:
        ks = self.call(
            "session",
            "start",
            {
                "secret": self.admin_secret,
                "type": 0,
                "userId": user,
                "partnerId": self.partner_id,
                "privileges": privileges,
            },
        )
        assert isinstance(ks, str), ks
        return ks


def start_kaltura_server(data_dir: Path, **kw: Any) -> KalturaServer:
    """The Kaltura sandbox in this process, with a short conversion and final-chunk wait."""
    kw.setdefault("conversion_seconds", 0.05)
    kw.setdefault("final_chunk_wait_seconds", 0.5)
    service, server = start_kaltura(data_dir, **kw)
    return KalturaServer(service, server, data_dir)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


class KalturaProcess:
    """The Kaltura sandbox in a child process, driven through its admin API."""

    def __init__(self, data_dir: Path, *, conversion_seconds: float = 1.0) -> None:
        self.data_dir = data_dir
        self.proc = subprocess.Popen(  # noqa: S603 - this module, by the running Python
            [
                sys.executable, "-m", "app.sandbox.testing", "serve-kaltura", str(data_dir),
                "--conversion-seconds", str(conversion_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",  # the child writes UTF-8 JSON whatever the code page
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.manifest: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.url: str = self.manifest["url"]
        self.partner_id = int(self.manifest["partner_id"])
        self.http = _session()
        self.http.headers[ADMIN_HEADER] = self.manifest["admin_token"]

    def faults(self, **cfg: Any) -> None:
        """Replace the fault configuration (no arguments: no faults)."""
        self.http.put(f"{self.url}/_sandbox/faults", json=cfg, timeout=10).raise_for_status()

    def clear_log(self) -> None:
        self.http.post(f"{self.url}/_sandbox/requests/clear", timeout=10).raise_for_status()

    def request_log(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.url}/_sandbox/requests", timeout=30)
        r.raise_for_status()
        log: list[dict[str, Any]] = r.json()
        return log

    def expire_sessions(self) -> None:
        self.http.post(f"{self.url}/_sandbox/expire-sessions", json={}, timeout=10)

    def admin_ks(self) -> str:
        resp = self.http.post(
            f"{self.url}/api_v3/service/session/action/start",
            json={
                "secret": self.manifest["admin_secret"],
                "type": 2,
                "partnerId": self.partner_id,
                "format": 1,
            },
            timeout=30,
        )
        resp.raise_for_status()
        ks = resp.json()
        assert isinstance(ks, str), ks
        return ks

    def content_sha256(self, entry_id: str) -> str:
        files = list((self.data_dir / "kaltura" / "content" / entry_id).glob("source-*"))
        assert len(files) == 1, files
        return sha256_file(files[0])

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> KalturaProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_kaltura(data_dir: Path, conversion_seconds: float) -> int:
    """Child process of :class:`KalturaProcess`: serve until stdin closes."""
    service, server = start_kaltura(data_dir, conversion_seconds=conversion_seconds)
    manifest = {"url": server.url, "admin_token": server.faults.admin_token, **service.manifest()}
    print(json.dumps(manifest), flush=True)
    sys.stdin.read()
    server.stop()
    service.close()
    return 0


# --------------------------------------------------------------------------- Microsoft


class DeviceCodeToken:
    """A Graph token provider signing in to the identity sandbox with the device-code grant
    (the sandbox approves it at once)."""

    def __init__(self, ms: MicrosoftSandbox, scopes: str) -> None:
        self.ms = ms
        self.scopes = scopes
        self._token = ""

    def access_token(self, force_refresh: bool = False) -> str:
        if self._token and not force_refresh:
            return self._token
        s = self.ms.session()
        dc = s.post(
            f"{self.ms.authority}/oauth2/v2.0/devicecode",
            data={"client_id": self.ms.client_id, "scope": self.scopes},
            timeout=10,
        ).json()
        tok = s.post(
            f"{self.ms.authority}/oauth2/v2.0/token",
            data={
                "client_id": self.ms.client_id,
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": dc["device_code"],
            },
            timeout=10,
        ).json()
        self._token = str(tok["access_token"])
        return self._token

    def handle_claims_challenge(self, claims: str) -> None:
        self._token = ""


# --------------------------------------------------------------------------- media files


def write_mp4(
    path: Path, *, seconds: float = 1.0, fps: int = 10, size: tuple[int, int] = (160, 120)
) -> Path:
    """A real H.264 + AAC MP4 (a moving gradient and a tone)."""
    import av  # noqa: PLC0415 - only the helpers that write video need PyAV
    import numpy as np  # noqa: PLC0415

    width, height = size
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        frames = max(1, int(seconds * fps))
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, :, 0] = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)
            img[:, :, 1] = (i * 25) % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        samples = int(48000 * seconds)
        t = np.arange(samples) / 48000
        pcm = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        for start in range(0, samples, 1024):
            chunk = pcm[:, start : start + 1024]
            aframe = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format="fltp", layout="mono"
            )
            aframe.sample_rate = 48000
            aframe.pts = start
            aframe.time_base = Fraction(1, 48000)
            for packet in audio.encode(aframe):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


def write_fmp4(
    path: Path,
    *,
    seconds: float = 3.0,
    fps: int = 15,
    size: tuple[int, int] = (320, 240),
    gop: int = 15,
    seed: int = 1,
) -> Path:
    """A fragmented MP4 (one fragment per GOP) as the recorder writes it; noise pictures,
    so it is big for its length."""
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    width, height = size
    opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
    rng = np.random.default_rng(seed)
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
    """Offsets after each top-level box group a recorder writes at once (ftyp+moov first,
    then each moof+mdat, then the rest)."""
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
    """Appends a finished fMP4 to ``dst`` fragment by fragment, ``interval`` apart.

    With ``hold_last``, the last fragment waits for :meth:`release`: a test can then check
    what happened "while recording" however slowly the machine runs it.
    """

    def __init__(self, src: bytes, dst: Path, *, interval: float, hold_last: bool = False) -> None:
        self.src = src
        self.dst = dst
        self.interval = interval
        self.ends = fragment_ends(src)
        self.done = threading.Event()
        self.stop = threading.Event()
        self._last_allowed = threading.Event()
        if not hold_last:
            self._last_allowed.set()
        dst.write_bytes(b"")
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> GrowingFile:
        self.thread.start()
        return self

    def _run(self) -> None:
        written = 0
        with open(self.dst, "ab") as f:
            for i, end in enumerate(self.ends):
                if self.stop.wait(self.interval):
                    break
                if i == len(self.ends) - 1:
                    while not self._last_allowed.wait(0.05):
                        if self.stop.is_set():
                            self.done.set()
                            return
                f.write(self.src[written:end])
                f.flush()
                written = end
        self.done.set()

    def release(self) -> None:
        """Let the held last fragment be written."""
        self._last_allowed.set()

    def join(self, timeout: float = 60.0) -> None:
        self.thread.join(timeout)


def _main(argv: list[str]) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m app.sandbox.testing")
    sub = parser.add_subparsers(dest="what", required=True)
    serve = sub.add_parser("serve-kaltura", help="serve the Kaltura sandbox until stdin closes")
    serve.add_argument("data_dir", type=Path)
    serve.add_argument("--conversion-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    return serve_kaltura(args.data_dir, args.conversion_seconds)


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

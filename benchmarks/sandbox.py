"""Sandbox benchmarks (issue 3): the Kaltura sandbox's upload storage rate over loopback
with 8 MB chunks sent through ``uploadToken.upload`` (target >= 200 MB/s), next to a
baseline measured in the same run: writing the same chunks straight to a file in the same
data dir (the machine's raw storage rate).

Structured as functions plus a ``main`` printing ONE JSON object on its last line, so
other sandbox measurements (e.g. the Graph ``/users`` latency) can be added as more keys.

    .venv/bin/python benchmarks/sandbox.py [--quick] [--total-mb N] [--chunk-mb N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.sandbox.testing import KalturaProcess

UPLOAD_TARGET_MB_S = 200.0


def storage_baseline_mb_s(data_dir: Path, chunk: bytes, count: int) -> float:
    """Raw rate: the same chunks written to a file in the data dir, flushed to the OS."""
    path = data_dir / "baseline.bin"
    started = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(count):
            f.write(chunk)
        f.flush()
    elapsed = time.perf_counter() - started
    path.unlink()
    return len(chunk) * count / elapsed / 1e6


def _multipart(fields: dict[str, Any], data: bytes, boundary: str) -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n'
        f"{json.dumps(fields)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
        f'name="fileData"; filename="bench.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    ).encode()
    return b"".join((head, data, f"\r\n--{boundary}--\r\n".encode()))


def kaltura_upload_rate(total_mb: int = 256, chunk_mb: int = 8) -> dict[str, Any]:
    """Upload ``total_mb`` in ``chunk_mb`` chunks to one token; MB/s end to end.

    The sandbox runs in its own process (as it does for the app), so client and server
    do not share one GIL; the client sends ready-made multipart bodies.
    """
    chunk = os.urandom(chunk_mb << 20)
    count = max(2, total_mb // chunk_mb)
    with tempfile.TemporaryDirectory(prefix="vmsg-bench-") as tmp:
        data_dir = Path(tmp)
        # Conversion never starts, so only storing the chunks is measured.
        with KalturaProcess(data_dir, conversion_seconds=3600) as sb:
            http = requests.Session()
            http.trust_env = False
            ks = sb.admin_ks()
            api = f"{sb.url}/api_v3/service/uploadtoken/action"
            token = http.post(
                f"{api}/add",
                json={"ks": ks, "format": 1, "uploadToken": {"fileName": "bench.mp4"}},
                timeout=30,
            ).json()
            boundary = "vmsgbench" + os.urandom(8).hex()
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            started = time.perf_counter()
            for i in range(count):
                fields = {
                    "ks": ks,
                    "format": 1,
                    "uploadTokenId": token["id"],
                    "resume": i > 0,
                    "finalChunk": i == count - 1,
                    "resumeAt": i * len(chunk),
                }
                resp = http.post(
                    f"{api}/upload",
                    data=_multipart(fields, chunk, boundary),
                    headers=headers,
                    timeout=60,
                )
                result = resp.json()
                if result.get("objectType") == "KalturaAPIException":
                    raise RuntimeError(result)
            elapsed = time.perf_counter() - started
            got = http.post(
                f"{api}/get",
                json={"ks": ks, "format": 1, "uploadTokenId": token["id"]},
                timeout=30,
            ).json()
            stored = int(got["uploadedFileSize"])
            if stored != count * len(chunk):
                raise RuntimeError(f"stored {stored} bytes, sent {count * len(chunk)}")
            rate = stored / elapsed / 1e6
            baseline = storage_baseline_mb_s(data_dir, chunk, count)
    return {
        "kaltura_upload_mb_s": round(rate, 1),
        "kaltura_upload_target_mb_s": UPLOAD_TARGET_MB_S,
        "kaltura_upload_meets_target": rate >= UPLOAD_TARGET_MB_S,
        "kaltura_upload_total_mb": round(count * len(chunk) / 1e6, 1),
        "kaltura_upload_chunk_mb": chunk_mb,
        "storage_baseline_mb_s": round(baseline, 1),
        "kaltura_upload_vs_baseline": round(rate / baseline, 3) if baseline else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (64 MB)")
    parser.add_argument("--total-mb", type=int, default=512)
    parser.add_argument("--chunk-mb", type=int, default=8)
    args = parser.parse_args(argv)
    total = 64 if args.quick else args.total_mb
    result: dict[str, Any] = {"benchmark": "sandbox"}
    result.update(kaltura_upload_rate(total, args.chunk_mb))
    # The Graph half: /users startswith latency over a 100,000-user directory.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sandbox_directory

    users = sandbox_directory.measure(size=10_000 if args.quick else 100_000)
    result.update(
        {
            f"users_{k}" if not k.startswith("users") else k: v
            for k, v in users.items()
            if k != "benchmark"
        }
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

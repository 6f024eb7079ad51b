"""Kill the uploading process at a random point; the next start resumes from the server's
offset into the same entry and the result is byte-identical."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.kaltura.uploader import UploadStore
from tests.fixtures.sandbox_kaltura import KalturaServer
from tests.integration.kaltura.conftest import KB, server_content, wait_until, write_fmp4

ROOT = Path(__file__).resolve().parents[3]


def _child(srv: KalturaServer, state_dir: Path, file: Path) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        "-m",
        "tests.integration.kaltura.upload_child",
        srv.url,
        str(srv.partner_id),
        srv.app_token_id,
        srv.app_token,
        srv.app_token_hash_type,
        str(state_dir),
        str(file),
        str(64 * KB),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def _settled_offset(srv: KalturaServer, token_id: str) -> int:
    """The token's uploaded size once the server has finished whatever request the killed
    process left in flight: unchanged for half a second."""
    last, since = -1, time.monotonic()
    deadline = since + 20
    while time.monotonic() < deadline:
        token = srv.service.store.upload_tokens.get(token_id)
        assert token is not None
        offset = int(token.get("uploadedFileSize") or 0)
        if offset != last:
            last, since = offset, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            return offset
        time.sleep(0.02)
    raise AssertionError(f"the upload token's size kept changing ({last})")


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_upload_resumes_from_the_server_offset(
    kaltura_server: KalturaServer, tmp_path: Path, seed: int
) -> None:
    src = write_fmp4(tmp_path / "take.mp4", seconds=2)
    size = src.stat().st_size
    state_dir = tmp_path / "uploads"
    # About 4 s for the whole file: a kill anywhere in the next 0.5 s lands mid-upload,
    # even on a heavily loaded machine.
    kaltura_server.faults.configure(upload_bytes_per_s=size // 4)
    proc = _child(kaltura_server, state_dir, src)
    try:
        store = UploadStore(state_dir)
        wait_until(lambda: any(s.confirmed > 0 for s in store.load_all()), timeout=20)
        time.sleep(random.Random(seed).uniform(0.0, 0.5))
        proc.kill()  # SIGKILL; TerminateProcess on Windows
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    (state,) = UploadStore(state_dir).load_all()
    server_offset = _settled_offset(kaltura_server, state.token_id)
    assert 0 < server_offset < size  # killed mid-upload
    kaltura_server.faults.reset()
    proc2 = _child(kaltura_server, state_dir, src)
    out, _ = proc2.communicate(timeout=60)
    assert proc2.returncode == 0
    done = json.loads(out.strip().splitlines()[-1])
    assert done["resumed"] and done["entry_id"] == state.entry_id
    assert done["resumed_from"] == server_offset
    assert done["bytes_sent"] == size - server_offset  # confirmed bytes never re-sent
    assert server_content(kaltura_server, state.entry_id) == src.read_bytes()

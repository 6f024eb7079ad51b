"""``vmsg upload`` end to end against the sandbox (through app.endpoints' Sandbox profile)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import paths
from tests.fixtures.sandbox_kaltura import KalturaServer, write_mp4
from tests.integration.kaltura.conftest import write_fmp4

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli_env(kaltura_server: KalturaServer, tmp_path: Path) -> dict[str, str]:
    """A sandbox.json naming the running Kaltura sandbox. The identity and Graph entries only
    need to accept connections for the Sandbox profile to use this sandbox; upload never
    calls them, so they point at the same server."""
    sbdir = tmp_path / "sbdir"
    sbdir.mkdir()
    url = kaltura_server.url
    manifest = {
        "version": 1,
        "kaltura": kaltura_server.service.manifest(),
        "identity": {"url": url, "tenant": "t", "authority": f"{url}/t", "client_id": "c"},
        "graph": {"url": f"{url}/v1.0"},
        "senders": [{"email": "ada@example.com", "name": "Ada"}],
    }
    (sbdir / "sandbox.json").write_text(json.dumps(manifest), encoding="utf-8")
    return dict(os.environ, VMSG_SANDBOX_DIR=str(sbdir), PYTHONPATH=str(ROOT))


def _vmsg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "This is a bug" not in done.stdout + done.stderr, done.stderr
    return done


def test_upload_prints_one_json_line(
    kaltura_server: KalturaServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    video = write_mp4(tmp_path / "hello.mp4", seconds=1)
    r = _vmsg(cli_env, "upload", str(video), "--title", "Hello <b>there</b>")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    entry_id = out["entry_id"]
    assert out["landing_url"] == f"{kaltura_server.url}/landing/{entry_id}"
    assert f"/thumbnail/entry_id/{entry_id}" in out["thumbnail_url"]
    entry = kaltura_server.service.store.entries.get(entry_id)
    assert entry is not None and entry["name"] == "Hello <b>there</b>"
    assert entry["userId"] == "ada@example.com"


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "directory", "audio-less-junk"])
def test_bad_files_are_refused_before_any_upload(
    kaltura_server: KalturaServer, cli_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "bad.mp4"
    if kind == "text":
        path.write_text("hello, not a video\n", encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "audio-less-junk":
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    r = _vmsg(cli_env, "upload", str(path))
    assert r.returncode == 1
    assert r.stderr.startswith("vmsg: ") and "Traceback" not in r.stderr
    assert r.stdout == ""
    assert kaltura_server.faults.request_log("/api_v3/") == []


def test_the_same_command_resumes_an_interrupted_upload(
    kaltura_server: KalturaServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    video = write_fmp4(tmp_path / "long.mp4", seconds=8)  # ~5 MB: three 2 MB chunks
    size = video.stat().st_size
    kaltura_server.faults.configure(upload_bytes_per_s=size / 4)  # ~4 s to upload
    home = paths.data_dir()  # isolated by tests/conftest.py (XDG, or VMSG_HOME off Linux)
    assert home.is_relative_to(Path(cli_env.get("VMSG_HOME") or cli_env["XDG_DATA_HOME"]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "upload", str(video), "-q"],
        env=cli_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = list(home.rglob("uploads/*/*.json"))
            if states and json.loads(states[0].read_text(encoding="utf-8"))["confirmed"] > 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the first upload never confirmed a chunk")
        proc.kill()  # as a crash or a closed laptop lid would
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    first = json.loads(states[0].read_text(encoding="utf-8"))
    kaltura_server.faults.reset()
    r = _vmsg(cli_env, "upload", str(video), "-q")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["entry_id"] == first["entry_id"]  # the same entry, so links already sent work
    assert 0 < out["resumed_from"] < size
    entry = kaltura_server.service.store.entries.get(out["entry_id"])
    assert entry is not None
    content = kaltura_server.service.entries.content_path(entry)
    assert content is not None and content.read_bytes() == video.read_bytes()

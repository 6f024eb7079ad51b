"""The upload's file checks: what was sent must stay as it was, and nothing else trips them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.kaltura.errors import UploadError
from app.kaltura.file_guard import PROBE_BYTES, FileGuard
from app.kaltura.upload_state import FileIdentity


def guard_on(path: Path) -> FileGuard:
    guard = FileGuard(path, FileIdentity(), resuming=False)
    guard.open()
    return guard


@pytest.mark.parametrize("chunk", [1, 1000, PROBE_BYTES - 1, PROBE_BYTES, 3 * PROBE_BYTES])
def test_a_chunk_of_any_size_is_probed_exactly(tmp_path: Path, chunk: int) -> None:
    # A growing recording's last bytes can go up as a chunk smaller than the probe (a
    # stale tail, or bytes fed by the recorder): the probe covers what that chunk covered.
    path = tmp_path / "take.mp4"
    data = bytes(range(256)) * 64  # 16 KiB
    path.write_bytes(data)
    guard = guard_on(path)
    try:
        offset = len(data) - chunk
        guard.note_sent(len(data), guard.read_at(offset, chunk))
        assert guard.size_now(confirmed=offset, final_size=None) == len(data)
        with path.open("ab") as f:
            f.write(b"more")  # the recording goes on
        assert guard.size_now(confirmed=offset, final_size=None) == len(data) + 4
        with path.open("r+b") as f:
            f.seek(len(data) - 1)
            f.write(b"\xff" if data[-1] != 0xFF else b"\x00")  # a byte that was sent changes
        with pytest.raises(UploadError, match="already sent are different"):
            guard.size_now(confirmed=offset, final_size=None)
    finally:
        guard.close()


def test_the_probe_after_a_resync_covers_the_bytes_below_the_servers_offset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "take.mp4"
    path.write_bytes(b"a" * 10_000)
    guard = guard_on(path)
    try:
        guard.probe_at(2000)
        assert guard.size_now(confirmed=2000, final_size=None) == 10_000
        with path.open("r+b") as f:
            f.seek(1999)
            f.write(b"b")
        with pytest.raises(UploadError, match="already sent are different"):
            guard.size_now(confirmed=2000, final_size=None)
    finally:
        guard.close()

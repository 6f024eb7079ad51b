"""Upload bookkeeping that needs no server (app.kaltura.uploader): ranges and state files.
The upload itself runs against the sandbox in tests/integration/kaltura/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.kaltura.uploader import UploadState, UploadStore, _Ranges


def test_ranges_merge_out_of_order() -> None:
    r = _Ranges()
    r.add(10, 20)
    assert r.contiguous_from(0) == 0
    r.add(30, 40)
    r.add(0, 10)
    assert r.contiguous_from(0) == 20
    r.add(20, 30)
    assert r.contiguous_from(0) == 40
    r.add(5, 15)  # overlap is harmless
    r.add(7, 7)  # empty is ignored
    assert r.contiguous_from(0) == 40
    r.clear()
    assert r.contiguous_from(0) == 0


def _state(tmp_path: Path, job: str = "j1") -> UploadState:
    return UploadState(job_id=job, path=str(tmp_path / "v.mp4"), metadata={"name": "x"})


def test_state_round_trip_and_atomic_save(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    st = _state(tmp_path)
    st.token_id, st.entry_id, st.confirmed = "0_t", "0_e", 1234
    st.identity.head_len, st.identity.head_sha256 = 10, "ab"
    store.save(st)
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["j1.json"]  # no temp left
    (loaded,) = store.load_all()
    assert loaded == st
    store.remove("j1")
    assert store.load_all() == []


def test_unreadable_state_is_moved_aside_not_lost(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    store.save(_state(tmp_path, "good"))
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "future.json").write_text(json.dumps({"version": 99}), encoding="utf-8")
    (tmp_path / "empty.json").write_text(json.dumps({"version": 1, "job_id": ""}), "utf-8")
    states = store.load_all()
    assert [s.job_id for s in states] == ["good"]
    kept = sorted(p.name.split(".")[0] for p in tmp_path.iterdir() if ".damaged-" in p.name)
    assert kept == ["broken", "empty", "future"]


def test_unknown_keys_are_ignored_when_loading(tmp_path: Path) -> None:
    data = _state(tmp_path).to_json()
    data["from_a_newer_minor"] = True
    data["identity"]["extra"] = 1
    assert UploadState.from_json(data).job_id == "j1"
    with pytest.raises(ValueError):
        UploadState.from_json({**data, "version": 2})


def test_a_job_another_running_process_runs_is_left_to_it(tmp_path: Path) -> None:
    """Two processes (the desktop app and a command) never run the same upload: a job is
    resumed only once the process running it is gone."""
    import subprocess
    import sys

    from app import system
    from app.kaltura.uploader import Uploader

    (tmp_path / "v.mp4").write_bytes(b"\0" * 4096)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other = system.ProcessId(child.pid, system._start_time(child.pid))
        st = _state(tmp_path)
        st.runner = str(other)
        UploadStore(tmp_path / "uploads").save(st)
        uploader = Uploader(None, state_dir=tmp_path / "uploads")  # type: ignore[arg-type]
        assert uploader.resume_pending(start=False) == []
    finally:
        child.kill()
        child.wait()
    jobs = uploader.resume_pending(start=False)
    assert [j.job_id for j in jobs] == ["j1"]
    (saved,) = UploadStore(tmp_path / "uploads").load_all()
    assert saved.runner == uploader.runner == str(system.this_process())

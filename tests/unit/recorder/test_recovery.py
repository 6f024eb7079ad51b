import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import RecordingError
from app.recorder import media, recovery, sidecar

from .conftest import MakeTake


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def interrupted(path: Path, pid: int, cut: float = 0.6) -> None:
    """Tear the file inside its last-but-one fragment and leave a 'recording' sidecar."""
    data = path.read_bytes()
    mdats = [b for b in media.top_level_boxes(path) if b.type == "mdat"]
    tear = mdats[-2].offset + int(mdats[-2].size * cut)
    path.write_bytes(data[:tear])
    sidecar.write_state(path, sidecar.TakeState(video=path.name, state="recording", pid=pid))


def test_interrupted_take_is_listed_and_finalized(make_take: MakeTake) -> None:
    path = make_take(4.0)
    interrupted(path, dead_pid())
    assert media.check_playable(path).video_frames > 0  # plays as it is, up to the tear
    takes = recovery.find_recoverable(path.parent)
    assert [t.video for t in takes] == [path]
    assert takes[0].complete_fragments == 2
    state = recovery.finalize(takes[0])
    assert state.state == "recovered"
    assert state.duration == pytest.approx(2.0, abs=0.05)
    check = media.check_playable(path)
    assert check.playable and check.video_frames == 60
    assert [b.type for b in media.top_level_boxes(path)][-1] == "mfra"
    assert sidecar.read_state(path).state == "recovered"
    assert recovery.find_recoverable(path.parent) == []
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".take.json"]


def test_a_take_being_uploaded_is_cut_in_place_and_an_open_reader_goes_on(
    make_take: MakeTake,
) -> None:
    """keep_bytes (an upload of it is pending): the same file is cut at its last complete
    fragment, never replaced, so an uploader holding it open (Windows refuses to replace
    such a file) keeps reading the very bytes it sent before."""
    path = make_take(4.0)
    interrupted(path, dead_pid())
    end, _pairs = media.complete_fragments_end(path)
    before = path.read_bytes()[:end]
    inode = path.stat().st_ino
    with open(path, "rb") as uploader:
        head = uploader.read(1000)
        state = recovery.finalize(recovery.find_recoverable(path.parent)[0], keep_bytes=True)
        rest = uploader.read()
    assert state.state == "recovered" and state.duration == pytest.approx(2.0, abs=0.05)
    assert path.stat().st_ino == inode
    assert path.read_bytes() == before == head + rest
    assert media.check_playable(path).playable
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".take.json"]


def test_a_take_of_a_running_recorder_is_not_touched(make_take: MakeTake) -> None:
    path = make_take(3.0)
    interrupted(path, os.getpid())
    assert recovery.find_recoverable(path.parent) == []


def test_a_reused_pid_does_not_hide_an_interrupted_take(make_take: MakeTake) -> None:
    path = make_take(3.0)
    interrupted(path, os.getpid())
    state = sidecar.read_state(path)
    state.pid_started = "1"  # this pid now belongs to another (newer) process
    sidecar.write_state(path, state)
    assert [t.video for t in recovery.find_recoverable(path.parent)] == [path]


def test_final_takes_are_not_listed(make_take: MakeTake) -> None:
    path = make_take(2.0)
    sidecar.write_state(path, sidecar.TakeState(video=path.name, state="final", pid=dead_pid()))
    assert recovery.find_recoverable(path.parent) == []


def test_nothing_to_recover_is_reported_and_marked_failed(make_take: MakeTake) -> None:
    path = make_take(2.0)
    first_moof = next(b for b in media.top_level_boxes(path) if b.type == "moof")
    original = path.read_bytes()[: first_moof.offset + 10]
    path.write_bytes(original)
    sidecar.write_state(path, sidecar.TakeState(video=path.name, state="recording", pid=dead_pid()))
    with pytest.raises(RecordingError, match="Nothing of"):
        recovery.finalize(path)
    assert sidecar.read_state(path).state == "failed"
    assert path.read_bytes() == original  # nothing was lost or changed


def test_unreadable_sidecar_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "x.mp4.take.json").write_text("{broken")
    assert recovery.find_recoverable(tmp_path) == []
    with pytest.raises(RecordingError, match="cannot be read"):
        sidecar.read_state(tmp_path / "x.mp4")


@pytest.mark.parametrize("keep_bytes", [True, False])
def test_a_whole_file_whose_state_was_not_saved_is_kept_byte_for_byte(
    make_take: MakeTake, keep_bytes: bool
) -> None:
    """The writer closed the file (its mfra is there) but the process died before the
    state file said "final": nothing is torn, so not a byte changes, not even the mfra an
    upload may already have sent."""
    path = make_take(3.0)
    assert [b.type for b in media.top_level_boxes(path)][-1] == "mfra"
    before = path.read_bytes()
    inode = path.stat().st_ino
    sidecar.write_state(path, sidecar.TakeState(video=path.name, state="recording", pid=dead_pid()))
    (take,) = recovery.find_recoverable(path.parent)
    state = recovery.finalize(take, keep_bytes=keep_bytes)
    assert state.state == "recovered"
    assert state.duration == pytest.approx(3.0, abs=0.05)
    assert path.read_bytes() == before and path.stat().st_ino == inode
    assert recovery.find_recoverable(path.parent) == []


def test_a_whole_file_with_stray_bytes_after_it_is_repaired(make_take: MakeTake) -> None:
    path = make_take(3.0)
    with path.open("ab") as f:
        f.write(b"\x00" * 5)  # e.g. a power cut left a few bytes of something else
    sidecar.write_state(path, sidecar.TakeState(video=path.name, state="recording", pid=dead_pid()))
    state = recovery.finalize(recovery.find_recoverable(path.parent)[0])
    assert state.state == "recovered"
    assert media.damage(path) == "" and media.check_playable(path).playable

"""Start-up after a crash: the take is recovered, then its upload resumes into the same
entry, then the outbox is settled, in that order (``app.workflow.startup.reconcile``).

The crash is real: ``vmsg record --upload`` is killed with SIGKILL in the middle of a take.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app import paths
from app.mail.message import Composition, parse_address
from app.recorder import media, sidecar
from app.workflow.services import Services
from app.workflow.startup import reconcile
from tests.helpers import wait_until
from tests.unit.mail.conftest import composition, gif, sender  # noqa: F401 - pytest fixtures


def _uploading() -> bool:
    """Whether the child's upload has had a chunk confirmed by the server."""
    for state in (paths.data_dir() / "uploads").rglob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_text(encoding="utf-8"))["confirmed"] > 0:
                return True
    return False


def _killed_take(output: Path) -> str:
    """Record with upload in a child process and SIGKILL it a few seconds into the take;
    returns the entry id the child printed."""
    child = subprocess.Popen(
        [sys.executable, "-m", "app", "record", "-o", str(output), "--camera", "synthetic",
         "--mic", "synthetic", "--seconds", "60", "--size", "320x240", "--upload"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert child.stderr is not None
    entry_id = ""
    try:
        for line in child.stderr:
            if "the link is" in line:
                entry_id = line.rsplit("/landing/", 1)[1].split("?")[0].strip()
                break
        assert entry_id, "the child never printed its link"
        # A few whole fragments (about one a second) are on disk and some are confirmed
        # uploaded, then: crash.
        wait_until(lambda: output.stat().st_size > 150_000, timeout=30)
        wait_until(_uploading, timeout=60)
        child.kill()  # SIGKILL; TerminateProcess on Windows
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    return entry_id


def test_after_a_kill_the_take_is_recovered_then_uploaded_then_the_outbox_settled(
    sandbox: Any,
    plaintext_cache: None,
    tmp_path: Path,
    composition: Composition,  # noqa: F811
) -> None:
    take = tmp_path / "killed.mp4"
    entry_id = _killed_take(take)
    assert sidecar.read_state(take).state in sidecar.ACTIVE_STATES  # left "recording"
    with Services.open() as services:
        # A message a dead process was sending when it died.
        outbox = services.outbox()
        job = outbox.add_job(composition, [parse_address("ann@fabrikam.example")], entry_id="x")
        [(_, claimed)] = outbox.claim_due(transport="graph", limit=20, owner="999999999@1.00")
        assert outbox.message(claimed.id).state == "sending"

        report = reconcile(services, folders=[tmp_path])

        assert report.steps == ["takes", "uploads", "outbox"]
        assert [r.path for r in report.recovered] == [take]
        assert report.recovered[0].duration > 1.0
        assert sidecar.read_state(take).state == "recovered"
        assert media.check_playable(take).playable
        assert [u.entry_id for u in report.uploads] == [entry_id]  # resumed, same entry
        result = report.uploads[0].job.wait(60)
        assert result.entry_id == entry_id and result.resumed_from > 0
        assert report.settled_unknown == [claimed.id]
        assert outbox.message(claimed.id).state == "unknown"
        assert report.outbox == {"unknown": 1}
        assert outbox.job(job).id == job
    entry = sandbox.kaltura.store.entries.get(entry_id)
    content = sandbox.kaltura.entries.content_path(entry)
    assert content is not None and content.read_bytes() == take.read_bytes()
    # Nothing is left to resume.
    states = list((tmp_path.parent).rglob("uploads/*/*.json"))
    assert all(json.loads(p.read_text(encoding="utf-8"))["status"] != "active" for p in states)


def test_a_take_uploading_under_another_profile_keeps_its_bytes(
    sandbox: Any, plaintext_cache: None, tmp_path: Path
) -> None:
    """Which takes are being uploaded is read from every profile's upload states, without
    a sign-in: such a take is cut in place (the same file, the same bytes before the cut),
    never rewritten under an upload that will resume with another account or later."""
    from app.kaltura.upload_state import UploadState, UploadStore
    from app.workflow.services import uploads_dir
    from tests.unit.recorder.conftest import write_take
    from tests.unit.recorder.test_recovery import dead_pid, interrupted

    take = write_take(tmp_path / "other.mp4", 4.0)
    interrupted(take, dead_pid())
    end, _pairs = media.complete_fragments_end(take)
    kept, inode = take.read_bytes()[:end], take.stat().st_ino
    UploadStore(uploads_dir("Contoso")).save(
        UploadState(job_id="j1", path=str(take), metadata={}, owner="Contoso|1|someone")
    )
    with Services.open() as services:
        assert services.profile_name != "Contoso"
        report = reconcile(services, folders=[tmp_path])
    assert [r.path for r in report.recovered] == [take]
    assert take.stat().st_ino == inode and take.read_bytes() == kept
    assert media.check_playable(take).playable


def test_when_an_upload_state_cannot_be_read_every_take_keeps_its_bytes(
    sandbox: Any, plaintext_cache: None, tmp_path: Path
) -> None:
    from app.workflow.services import uploads_dir
    from tests.unit.recorder.conftest import write_take
    from tests.unit.recorder.test_recovery import dead_pid, interrupted

    take = write_take(tmp_path / "unknown.mp4", 4.0)
    interrupted(take, dead_pid())
    end, _pairs = media.complete_fragments_end(take)
    kept, inode = take.read_bytes()[:end], take.stat().st_ino
    unreadable = uploads_dir("Contoso") / "j2.json"
    unreadable.mkdir(parents=True)  # reading it fails, even as root
    with Services.open() as services:
        report = reconcile(services, folders=[tmp_path])
    assert [r.path for r in report.recovered] == [take]
    assert take.stat().st_ino == inode and take.read_bytes() == kept
    assert unreadable.is_dir()  # another profile's file is left where it is

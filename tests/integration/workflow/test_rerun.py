"""Running the same send again after a crash or a stop signal never sends twice.

A person whose ``vmsg send`` was killed runs the same command again. That resumes the same
job: what went out is not sent again, what may have gone out (no answer came) is reported
and not resent, the rest is sent; in exactly-once mode every message goes out exactly once.
SIGTERM and SIGHUP stop a send as cleanly as Ctrl+C: nothing is left waiting for a video,
and the same command resumes the upload.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import paths
from app.sandbox.testing import write_fmp4, write_mp4
from app.workflow.services import Services
from tests.helpers import delivered, posix_signals, wait_until
from tests.integration.workflow.conftest import kaltura_calls

PEOPLE = [f"Person {i:02d} <p{i:02d}@fabrikam.example>" for i in range(45)]


def _settings(**extra: Any) -> None:
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps({"schema_version": 2, "allow_plaintext_token_cache": True, **extra})
    )


def _vmsg(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("exactly_once", [False, True], ids=["sendmail", "exactly-once"])
def test_rerunning_a_killed_send_never_sends_twice(
    sandbox: Any, tmp_path: Path, exactly_once: bool
) -> None:
    _settings(exactly_once_sending=exactly_once)
    video = write_mp4(tmp_path / "v.mp4", seconds=1.0)
    argv = ["send", str(video), *(x for p in PEOPLE for x in ("--to", p))]
    # Each Graph request takes a while, so the first run is killed in the middle.
    sandbox.microsoft.graph_server.faults.configure(latency_ms=700, match=r"/\$batch$")
    first = _vmsg(*argv)
    try:
        wait_until(lambda: sum(delivered(sandbox).values()) >= 10, timeout=60)
        first.kill()  # SIGKILL; TerminateProcess on Windows
        first.communicate(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    before = delivered(sandbox)
    assert 0 < sum(before.values()) < 45
    sandbox.microsoft.graph_server.faults.reset()
    again = _vmsg(*argv)
    out, err = again.communicate(timeout=120)
    assert "this send was started before" in err, err
    states = {line["address"]: line["state"] for line in map(json.loads, out.splitlines())}
    assert len(states) == 45
    mailbox = delivered(sandbox)
    duplicated = [a for a, n in mailbox.items() if n > 1]
    lost = [a for a, s in states.items() if s == "sent" and mailbox[a] == 0]
    assert duplicated == [] and lost == []
    if exactly_once:
        assert set(states.values()) == {"sent"} and again.returncode == 0
        assert all(mailbox[a] == 1 for a in states)
    else:
        # The batch in flight at the kill may have gone out: "unknown", never resent.
        assert set(states.values()) <= {"sent", "unknown"}
        assert all(mailbox[a] == 1 for a, s in states.items() if s == "sent")
    # One job, resumed: the same recipients were never queued twice.
    with Services.open() as services:
        jobs = services.outbox().jobs()
        assert len(jobs) == 1


@posix_signals
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_during_the_upload_withdraws_and_the_same_send_resumes(
    sandbox: Any, tmp_path: Path, name: str
) -> None:
    # Hosted previews: the noise video is far too big as an animated GIF.
    _settings(profiles={"Sandbox": {"kind": "sandbox", "kaltura": {"hosted_preview_images": True}}})
    video = write_fmp4(tmp_path / "big.mp4", seconds=8)
    sandbox.kaltura_server.faults.configure(upload_bytes_per_s=video.stat().st_size / 6)
    argv = ["send", str(video), "--to", "ann@fabrikam.example"]
    first = _vmsg(*argv)
    uploads = paths.data_dir() / "uploads" / "Sandbox"

    def uploading() -> bool:
        states = [json.loads(p.read_text(encoding="utf-8")) for p in uploads.glob("*.json")]
        return any(s["confirmed"] > 0 for s in states)

    try:
        wait_until(uploading, timeout=60)
        first.send_signal(getattr(signal, name))
        _out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 130, err
    assert "Traceback" not in err and "This is a bug" not in err
    [state] = [json.loads(p.read_text(encoding="utf-8")) for p in uploads.glob("*.json")]
    assert state["status"] == "active"  # suspended, to resume
    with Services.open() as services:
        pending = [m for m in services.outbox().messages() if m.state in ("queued", "sending")]
        assert pending == []  # nothing waits for a video that will not come
    sandbox.kaltura_server.faults.reset()
    again = _vmsg(*argv)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert json.loads(out)["state"] == "sent"
    assert kaltura_calls(sandbox, "uploadToken", "add") == 1  # the same upload, resumed


def test_the_outbox_settles_a_dead_senders_messages_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No 600 s wait: a message a killed process was sending is "unknown" at the next
    command, and can be marked sent (or resent) right away."""
    from app import cli
    from app.mail.message import Composition, Sender, hosted_preview, parse_address
    from app.mail.outbox import Outbox

    comp = Composition(
        sender=Sender(email="me@contoso.example"),
        video_title="v",
        template="personal-note",
        preview=hosted_preview("https://v.example/t.jpg"),
    )
    with Outbox() as box:
        box.add_job(comp, [parse_address("ann@fabrikam.example")], entry_id="1_x")
        [(_, claimed)] = box.claim_due(transport="graph", limit=5, owner="999999999@1.00")
    assert cli.main(["outbox"]) == 0
    out, err = capsys.readouterr()
    assert "a stopped app was sending" in err
    assert json.loads(out)["state"] == "unknown"
    assert cli.main(["outbox", "--mark-sent", claimed.id]) == 0
    capsys.readouterr()
    with Outbox() as box:
        assert box.message(claimed.id).state == "sent"

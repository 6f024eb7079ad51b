"""After the take: trim replaces the entry's content (same entry, same links), discard
removes the file and the entry, and a cancelled send leaves its upload to resume."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from app import paths
from app.kaltura.errors import UploadSuspended
from app.kaltura.uploader import UploadEvent
from app.recorder import media, sidecar
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone
from app.sandbox.testing import write_fmp4
from app.workflow.send import SendRequest, SendSession
from app.workflow.services import Services
from app.workflow.take import TakeOptions, TakeSession
from tests.helpers import wait_until
from tests.integration.workflow.conftest import kaltura_calls


def _record(services: Services, output: Path, seconds: float = 3.0) -> TakeSession:
    take = TakeSession(
        services,
        TakeOptions(output=output, upload=True, size=(320, 240), fps=15, max_seconds=seconds),
        camera=SyntheticCamera(),
        microphone=SyntheticMicrophone(),
    )
    take.start()
    return take


def _content(sandbox: Any, entry_id: str) -> bytes:
    entry = sandbox.kaltura.store.entries.get(entry_id)
    assert entry is not None
    path = sandbox.kaltura.entries.content_path(entry)
    assert path is not None
    return bytes(path.read_bytes())


def test_trim_replaces_the_content_of_the_same_entry(
    sandbox: Any, plaintext_cache: None, tmp_path: Path
) -> None:
    with Services.open() as services:
        take = _record(services, tmp_path / "t.mp4")
        done = take.wait(30)
        assert done.uploaded, done.upload_error
        assert _content(sandbox, done.entry_id) == done.path.read_bytes()
        trimmed = take.trim(0.5, 2.0)
    assert trimmed.uploaded, trimmed.upload_error
    assert trimmed.entry_id == done.entry_id and trimmed.landing_url == done.landing_url
    assert trimmed.path != done.path and trimmed.duration == pytest.approx(1.5, abs=0.07)
    assert media.check_playable(trimmed.path).playable
    # The entry now plays the trimmed take; no second entry was made.
    assert _content(sandbox, done.entry_id) == trimmed.path.read_bytes()
    assert kaltura_calls(sandbox, "media", "add") == 1
    assert kaltura_calls(sandbox, "media", "updateContent") == 1


def test_discard_during_the_take_deletes_the_file_and_the_entry(
    sandbox: Any, plaintext_cache: None, tmp_path: Path
) -> None:
    output = tmp_path / "d.mp4"
    with Services.open() as services:
        take = _record(services, output, seconds=30)
        wait_until(lambda: take.link is not None, timeout=30)
        link = take.link
        assert link is not None
        assert sandbox.kaltura.store.entries.get(link.entry_id) is not None
        take.discard()
    assert not output.exists() and not sidecar.sidecar_path(output).exists()
    entry = sandbox.kaltura.store.entries.get(link.entry_id)
    assert entry is None or entry.get("status") == 3  # gone (3: DELETED)


def test_a_cancelled_send_withdraws_its_messages_and_keeps_the_upload(
    sandbox: Any, tmp_path: Path
) -> None:
    # Hosted previews: the test video is noise, far too big as an animated GIF.
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps(
            {
                "schema_version": 2,
                "allow_plaintext_token_cache": True,
                "profiles": {"Sandbox": {"kind": "sandbox",
                                         "kaltura": {"hosted_preview_images": True}}},
            }
        )
    )  # fmt: skip
    video = write_fmp4(tmp_path / "big.mp4", seconds=8)
    size = video.stat().st_size
    sandbox.kaltura_server.faults.configure(upload_bytes_per_s=size / 4)
    cancel = threading.Event()

    def on_event(event: object) -> None:
        if isinstance(event, UploadEvent) and event.kind == "progress" and event.confirmed:
            cancel.set()  # the user presses Cancel while the video uploads

    request = SendRequest.build(video, to=["ann@fabrikam.example"])
    with Services.open() as services:
        session = SendSession(services, request, on_event=on_event)
        session.prepare()
        with pytest.raises(UploadSuspended):
            session.run(cancel)
        # Nothing is left waiting for a video that will not come (hosted previews upload
        # before queuing, so there is nothing queued at all).
        assert not [m for m in services.outbox().messages() if m.state in ("queued", "sending")]
    sandbox.kaltura_server.faults.reset()
    # Sending again resumes the same upload (one token) and sends.
    with Services.open() as services:
        session = SendSession(services, SendRequest.build(video, to=["ann@fabrikam.example"]))
        session.prepare()
        result = session.run()
    assert result.all_sent
    assert kaltura_calls(sandbox, "uploadToken", "add") == 1
    assert _content(sandbox, result.entry_id) == video.read_bytes()

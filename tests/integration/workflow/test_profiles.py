"""Two profiles, two accounts: each resumes only its own uploads and uses its own category.

``vmsg send`` keeps upload state per profile and per account (``app.workflow.uploads``),
so an upload interrupted in one profile is resumed by that profile only, into the same
entry, while another profile sending the same file makes its own entry, as its own
Kaltura user, in its own category.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from app import cli, paths
from app.kaltura.errors import UploadSuspended
from app.kaltura.uploader import EntryMetadata, UploadEvent
from app.microsoft.auth import DeviceCodePrompt
from app.workflow.services import Services, SignInOptions
from tests.fixtures.sandbox_kaltura import KalturaServer
from tests.integration.kaltura.conftest import write_fmp4
from tests.integration.workflow.conftest import kaltura_calls


def _settings(categories: dict[str, str]) -> None:
    # Hosted previews: the test video is noise, far too big as an animated GIF.
    profiles = {
        name: {
            "name": name,
            "kind": "sandbox",
            "kaltura": {"category": category, "hosted_preview_images": True},
        }
        for name, category in categories.items()
    }
    paths.settings_path().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_path().write_text(
        json.dumps({"schema_version": 2, "allow_plaintext_token_cache": True, "profiles": profiles})
    )


def _sign_in_as(sandbox: Any, profile: str, upn: str) -> None:
    """Sign ``profile`` in as ``upn`` (the sandbox approves the device code for that user)."""
    identity = sandbox.microsoft.identity

    def approve(prompt: DeviceCodePrompt) -> None:
        identity.approve_device_code(prompt.user_code, upn)

    identity.auto_approve = False
    try:
        with Services.open(profile, sign_in=SignInOptions(on_device_code=approve)) as services:
            assert services.sign_in(device_code=True).username == upn
    finally:
        identity.auto_approve = True


def _entry(sandbox: Any, entry_id: str) -> dict[str, Any]:
    entry = sandbox.kaltura.store.entries.get(entry_id)
    assert entry is not None
    return dict(entry)


def test_each_profile_resumes_only_its_own_upload_and_sets_its_category(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kaltura = KalturaServer(sandbox.kaltura, sandbox.kaltura_server, sandbox.data_dir)
    admin = kaltura.admin_ks()
    cats = {
        name: int(kaltura.call("category", "add", {"category": {"name": name}}, ks=admin)["id"])
        for name in ("Sales", "Recruiting")
    }
    _settings({"Sandbox": "Sales", "Second": "Recruiting"})
    first, second = (s["email"] for s in sandbox.manifest["senders"][:2])
    _sign_in_as(sandbox, "Sandbox", first)
    _sign_in_as(sandbox, "Second", second)
    video = write_fmp4(tmp_path / "pitch.mp4", seconds=8)  # ~5 MB
    size = video.stat().st_size

    # 1. The Sandbox profile starts uploading the video; the app is closed part-way.
    sandbox.kaltura_server.faults.configure(upload_bytes_per_s=size / 4)
    stop = threading.Event()

    def on_progress(event: UploadEvent) -> None:
        if event.kind == "progress" and event.confirmed > 0:
            stop.set()

    with Services.open("Sandbox") as services, pytest.raises(UploadSuspended):
        services.uploads().upload_file(
            video, EntryMetadata(name="Pitch"), cancel=stop, listener=on_progress
        )
    sandbox.kaltura_server.faults.reset()
    states = list((paths.data_dir() / "uploads" / "Sandbox").glob("*.json"))
    assert len(states) == 1
    interrupted = json.loads(states[0].read_text(encoding="utf-8"))
    assert 0 < interrupted["confirmed"] < size and interrupted["status"] == "active"
    assert kaltura_calls(sandbox, "uploadToken", "add") == 1

    # 2. The Second profile sends the same file: its own token and entry, its own user,
    #    its own category; the Sandbox profile's upload is left alone.
    code = cli.main(["--profile", "Second", "send", str(video), "--to", "ann@fabrikam.example"])
    out, err = capsys.readouterr()
    assert code == 0, err
    second_entry = json.loads(out)["landing_url"].split("/landing/")[1].split("?")[0]
    assert kaltura_calls(sandbox, "uploadToken", "add") == 2
    assert second_entry != interrupted["entry_id"]
    assert _entry(sandbox, second_entry)["userId"] == second
    assert json.loads(states[0].read_text(encoding="utf-8"))["token_id"] == interrupted["token_id"]

    # 3. The Sandbox profile sends it: its interrupted upload resumes into its entry.
    code = cli.main(["send", str(video), "--to", "bo@fabrikam.example"])
    out, err = capsys.readouterr()
    assert code == 0, err
    first_entry = json.loads(out)["landing_url"].split("/landing/")[1].split("?")[0]
    assert first_entry == interrupted["entry_id"]  # the same entry: resumed, not restarted
    assert kaltura_calls(sandbox, "uploadToken", "add") == 2  # no new token
    assert not states[0].exists()  # finished
    assert _entry(sandbox, first_entry)["userId"] == first
    content = sandbox.kaltura.entries.content_path(sandbox.kaltura.store.entries.get(first_entry))
    assert content is not None and content.read_bytes() == video.read_bytes()

    # Each profile's entry is in that profile's category.
    assert kaltura_calls(sandbox, "categoryEntry", "add") == 2
    in_category = {
        str(ce["entryId"]): int(ce["categoryId"])
        for ce in sandbox.kaltura.store.category_entries.values()
    }
    assert in_category == {first_entry: cats["Sales"], second_entry: cats["Recruiting"]}

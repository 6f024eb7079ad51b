"""The whole sandbox: sandbox.json, finding a running one, and persistence across restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from app.sandbox import locate
from app.workflow.services import Services

VMSG = [sys.executable, "-m", "app"]


def _wait_for_manifest(data_dir: Path, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifest = locate.live_manifest(data_dir)
        if manifest:
            return manifest
        time.sleep(0.1)
    raise AssertionError(f"no live sandbox.json in {data_dir}")


def test_manifest_names_live_endpoints(sandbox: object) -> None:
    data_dir = Path(os.environ["VMSG_SANDBOX_DIR"])
    manifest = locate.live_manifest(data_dir)
    assert manifest is not None
    assert manifest["pid"] == os.getpid()
    for section in ("kaltura", "identity", "graph"):
        url = manifest[section]["url"]  # type: ignore[index]
        assert url.startswith(("http://127.0.0.1:", "https://127.0.0.1:"))
    assert Path(str(manifest["ca_file"])).is_file()
    kaltura = manifest["kaltura"]
    assert kaltura["partner_id"] and kaltura["admin_secret"]  # type: ignore[index]
    assert kaltura["app_token"]["id"] and kaltura["app_token"]["token"]  # type: ignore[index]
    assert manifest["identity"]["client_id"] and manifest["identity"]["tenant"]  # type: ignore[index]
    assert manifest["senders"]
    health = requests.get(f"{kaltura['url']}/_sandbox/health", timeout=5)  # type: ignore[index]
    assert health.json()["ok"] is True


def test_sandbox_profile_uses_the_running_sandbox(sandbox: object) -> None:
    with Services.open() as services:
        ep = services.endpoints
        assert services.sandbox.started_here is None  # found running, so not started again
    manifest = locate.read_manifest(Path(os.environ["VMSG_SANDBOX_DIR"]))
    assert manifest is not None
    assert ep.is_sandbox
    assert ep.kaltura.service_url == manifest["kaltura"]["url"]
    assert ep.kaltura.partner_id == manifest["kaltura"]["partner_id"]
    assert ep.kaltura.app_token == manifest["kaltura"]["app_token"]["token"]
    assert ep.microsoft.authority == manifest["identity"]["authority"]
    assert ep.microsoft.graph_url == manifest["graph"]["url"]
    assert ep.microsoft.ca_file is not None and ep.microsoft.ca_file.is_file()
    assert ep.senders == manifest["senders"]


def test_stale_manifest_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "sandbox.json").write_text(
        json.dumps(
            {
                "kaltura": {"url": "http://127.0.0.1:9"},
                "identity": {"url": "https://127.0.0.1:9"},
                "graph": {"url": "https://127.0.0.1:9/v1.0"},
            }
        ),
        encoding="utf-8",
    )
    assert locate.read_manifest(tmp_path) is not None
    assert locate.live_manifest(tmp_path, timeout=0.2) is None


def test_manifest_never_points_off_the_machine(tmp_path: Path) -> None:
    (tmp_path / "sandbox.json").write_text(
        json.dumps(
            {
                "kaltura": {"url": "http://example.com:80"},
                "identity": {"url": "https://example.com:443"},
                "graph": {"url": "https://example.com:443/v1.0"},
            }
        ),
        encoding="utf-8",
    )
    assert locate.live_manifest(tmp_path, timeout=0.2) is None


def _device_code_token(manifest: dict[str, Any]) -> str:
    """A Graph token by the device-code grant over plain HTTP (auto-approved in the sandbox)."""
    ident = manifest["identity"]
    session = requests.Session()
    session.verify = str(manifest["ca_file"])
    session.trust_env = False
    scope = "Mail.Send User.Read offline_access openid profile"
    code = session.post(
        f"{ident['authority']}/oauth2/v2.0/devicecode",
        data={"client_id": ident["client_id"], "scope": scope},
        timeout=10,
    ).json()
    token = session.post(
        f"{ident['authority']}/oauth2/v2.0/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": ident["client_id"],
            "device_code": code["device_code"],
        },
        timeout=10,
    ).json()
    return str(token["access_token"])


def _send_one(manifest: dict[str, Any], subject: str) -> None:
    token = _device_code_token(manifest)
    sent = requests.post(
        f"{manifest['graph']['url']}/me/sendMail",
        json={
            "message": {
                "subject": subject,
                "body": {"contentType": "Text", "content": "kept across restarts"},
                "toRecipients": [{"emailAddress": {"address": "someone@sandbox.example"}}],
            }
        },
        headers={"Authorization": f"Bearer {token}"},
        verify=str(manifest["ca_file"]),
        timeout=10,
    )
    assert sent.status_code == 202, sent.text


def _sent_subjects(data_dir: Path) -> set[str]:
    out = set()
    for path in data_dir.glob("mailboxes/*/sent/*.json"):
        message = json.loads(path.read_text(encoding="utf-8"))
        out.add(json.dumps(message, ensure_ascii=False))
    return out


def _start_cli(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*VMSG, "sandbox", "--data-dir", str(data_dir), "--users", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Windows: its own console process group, so Ctrl+Break reaches it alone.
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )


def _stop_cli(proc: subprocess.Popen[str]) -> str:
    # Ctrl+C; on Windows Ctrl+Break, the only stop another process can send there.
    proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGINT))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out


@pytest.mark.slow
def test_vmsg_sandbox_keeps_entries_uploads_and_messages_across_restarts(tmp_path: Path) -> None:
    """`vmsg sandbox --data-dir D`, use it, stop, start again: everything is still there."""
    data_dir = tmp_path / "sb"
    proc = _start_cli(data_dir)
    try:
        manifest = _wait_for_manifest(data_dir)
        k = manifest["kaltura"]
        base = f"{k['url']}/api_v3/service"  # type: ignore[index]
        ks = requests.post(
            f"{base}/session/action/start",
            json={
                "format": 1,
                "secret": k["admin_secret"],  # type: ignore[index]
                "partnerId": k["partner_id"],  # type: ignore[index]
                "type": 2,
                "userId": "keeper@sandbox.example",
            },
            timeout=10,
        ).json()
        assert isinstance(ks, str), ks
        token = requests.post(
            f"{base}/uploadToken/action/add",
            json={"format": 1, "ks": ks, "uploadToken": {"objectType": "KalturaUploadToken"}},
            timeout=10,
        ).json()
        payload = os.urandom(4096)
        up = requests.post(
            f"{base}/uploadToken/action/upload",
            data={
                "format": "1",
                "ks": ks,
                "uploadTokenId": token["id"],
                "resume": "false",
                "finalChunk": "false",
                "resumeAt": "0",
            },
            files={"fileData": ("part.bin", payload)},
            timeout=10,
        ).json()
        assert up["uploadedFileSize"] == 4096, up
        entry = requests.post(
            f"{base}/media/action/add",
            json={
                "format": 1,
                "ks": ks,
                "entry": {"objectType": "KalturaMediaEntry", "name": "Kept", "mediaType": 1},
            },
            timeout=10,
        ).json()
        assert entry["status"] == 7, entry
        _send_one(manifest, "Persisted subject")
        assert any("Persisted subject" in m for m in _sent_subjects(data_dir))
        sent_before = sorted(p.name for p in data_dir.rglob("*") if p.is_file())
    finally:
        out = _stop_cli(proc)
    assert "Sandbox stopped." in out
    assert not (data_dir / "sandbox.json").exists()

    proc = _start_cli(data_dir)
    try:
        manifest = _wait_for_manifest(data_dir)
        k = manifest["kaltura"]
        base = f"{k['url']}/api_v3/service"  # type: ignore[index]
        ks = requests.post(
            f"{base}/session/action/start",
            json={
                "format": 1,
                "secret": k["admin_secret"],
                "partnerId": k["partner_id"],  # type: ignore[index]
                "type": 2,
                "userId": "keeper@sandbox.example",
            },
            timeout=10,
        ).json()
        again = requests.post(
            f"{base}/media/action/get",
            json={"format": 1, "ks": ks, "entryId": entry["id"]},
            timeout=10,
        ).json()
        assert again["id"] == entry["id"] and again["name"] == "Kept"
        tok = requests.post(
            f"{base}/uploadToken/action/get",
            json={"format": 1, "ks": ks, "uploadTokenId": token["id"]},
            timeout=10,
        ).json()
        assert tok["uploadedFileSize"] == 4096 and tok["status"] == 1
        assert any("Persisted subject" in m for m in _sent_subjects(data_dir))
        _send_one(manifest, "Second run")  # numbering continues; nothing is overwritten
        subjects = _sent_subjects(data_dir)
        assert any("Persisted subject" in m for m in subjects)
        assert any("Second run" in m for m in subjects)
    finally:
        _stop_cli(proc)
    still = sorted(p.name for p in data_dir.rglob("*") if p.is_file())
    assert set(sent_before) <= set(still) | {"sandbox.json"}


def test_vmsg_sandbox_rejects_bad_arguments(tmp_path: Path) -> None:
    done = subprocess.run(
        [*VMSG, "sandbox", "--data-dir", str(tmp_path), "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "not a usable port" in done.stderr

"""Delivery routes: thumbnail API (a real JPEG from the video), playManifest with Range,
the landing page (escaped greeting, views and plays per recipient token), the player
script and its iframe form."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests

from tests.fixtures.sandbox_kaltura import KalturaServer


def _ready_entry(
    server: KalturaServer, data: bytes, name: str = "Clip"
) -> tuple[str, dict[str, Any]]:
    ks = server.user_ks("alice@example.com")
    entry = server.call("media", "add", {"entry": {"name": name, "mediaType": 1}}, ks=ks)
    token = server.call("uploadToken", "add", {}, ks=ks)
    server.call("uploadToken", "upload", {"uploadTokenId": token["id"]}, ks=ks, file=data)
    server.call(
        "media",
        "addContent",
        {
            "entryId": entry["id"],
            "resource": {"objectType": "KalturaUploadedFileTokenResource", "token": token["id"]},
        },
        ks=ks,
    )
    deadline = time.monotonic() + 20
    while (got := server.call("media", "get", {"entryId": entry["id"]}, ks=ks))["status"] != 2:
        assert time.monotonic() < deadline, got
        time.sleep(0.02)
    return ks, got


def _jpeg(content: bytes) -> np.ndarray[Any, Any]:
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_thumbnail_is_a_real_frame_at_the_requested_size(
    kaltura_server: KalturaServer, sample_mp4: Path
) -> None:
    _, entry = _ready_entry(kaltura_server, sample_mp4.read_bytes())
    full = requests.get(entry["thumbnailUrl"], timeout=10)
    assert (full.status_code, full.headers["Content-Type"]) == (200, "image/jpeg")
    assert _jpeg(full.content).shape == (120, 160, 3)
    # The sample is a left-to-right gradient: the frame really came from the video.
    row = _jpeg(full.content)[60]
    assert row[-5].max() > row[5].max() + 100
    sized = requests.get(
        entry["thumbnailUrl"] + "/width/80/height/80/type/3/vid_sec/0.5", timeout=10
    )
    assert _jpeg(sized.content).shape == (80, 80, 3)
    wide = requests.get(entry["thumbnailUrl"] + "/width/320", timeout=10)
    assert _jpeg(wide.content).shape == (240, 320, 3)
    padded = requests.get(entry["thumbnailUrl"] + "/width/200/height/50/type/2", timeout=10)
    assert _jpeg(padded.content).shape == (50, 200, 3)


@pytest.mark.parametrize("tail", ["/width/abc", "/width/99999", "/vid_sec/nan"])
def test_bad_thumbnail_parameters(
    kaltura_server: KalturaServer, sample_mp4: Path, tail: str
) -> None:
    _, entry = _ready_entry(kaltura_server, sample_mp4.read_bytes())
    assert requests.get(entry["thumbnailUrl"] + tail, timeout=10).status_code == 400


def test_thumbnail_of_unknown_and_unready_entries(kaltura_server: KalturaServer) -> None:
    base = f"{kaltura_server.url}/p/100/sp/10000/thumbnail/entry_id"
    assert requests.get(f"{base}/0_nothing", timeout=10).status_code == 404
    assert requests.get(f"{base}/..%2F..%2Fetc", timeout=10).status_code == 404
    ks = kaltura_server.user_ks("u")
    entry = kaltura_server.call("media", "add", {"entry": {"name": "empty"}}, ks=ks)
    placeholder = requests.get(f"{base}/{entry['id']}/width/64", timeout=10)
    assert placeholder.status_code == 200
    assert _jpeg(placeholder.content).shape[1] == 64


def test_play_manifest_serves_the_file_with_ranges(
    kaltura_server: KalturaServer, sample_mp4: Path
) -> None:
    data = sample_mp4.read_bytes()
    _, entry = _ready_entry(kaltura_server, data, name='we"ird/name')
    whole = requests.get(entry["dataUrl"], timeout=10)
    assert (whole.status_code, whole.content, whole.headers["Content-Type"]) == (
        200,
        data,
        "video/mp4",
    )
    part = requests.get(entry["dataUrl"] + "/a.mp4", headers={"Range": "bytes=10-19"}, timeout=10)
    assert (part.status_code, part.content) == (206, data[10:20])
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    download = requests.get(entry["downloadUrl"], timeout=10)
    assert download.content == data
    assert "attachment" in download.headers["Content-Disposition"]
    assert "/" not in download.headers["Content-Disposition"].split("filename=")[1]
    beyond = requests.get(
        entry["dataUrl"], headers={"Range": f"bytes={len(data) + 5}-"}, timeout=10
    )
    assert beyond.status_code == 416


def test_play_manifest_of_unready_entry_is_404(kaltura_server: KalturaServer) -> None:
    entry = kaltura_server.call(
        "media", "add", {"entry": {"name": "x"}}, ks=kaltura_server.user_ks("u")
    )
    assert requests.get(entry["dataUrl"], timeout=10).status_code == 404


def test_landing_page_greets_escaped_plays_and_counts(
    kaltura_server: KalturaServer, sample_mp4: Path
) -> None:
    ks, entry = _ready_entry(kaltura_server, sample_mp4.read_bytes())
    url = f"{kaltura_server.url}/landing/{entry['id']}"
    page = requests.get(
        url, params={"r": "tok-1", "name": "<script>alert(1)</script> Zoë"}, timeout=10
    )
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Zoë" in page.text
    assert "<script>alert(1)" not in page.text
    assert "<video" in page.text
    assert "/playManifest/entryId/" in page.text
    requests.get(url, params={"r": "tok-2"}, timeout=10)
    assert requests.post(f"{url}/play", params={"r": "tok-1"}, timeout=10).status_code == 204
    assert requests.get(f"{url}/play", timeout=10).status_code == 405
    got = kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=ks)
    assert (got["views"], got["plays"]) == (2, 1)
    events = requests.post(
        f"{kaltura_server.url}/_sandbox/views",
        json={"entryId": entry["id"]},
        headers=kaltura_server.server.faults.admin_headers(),
        timeout=10,
    ).json()
    assert [(e["kind"], e["recipient"]) for e in events["events"]] == [
        ("view", "tok-1"),
        ("view", "tok-2"),
        ("play", "tok-1"),
    ]
    listed = kaltura_server.call(
        "sandbox_views", "list", {"entryId": entry["id"]}, ks=kaltura_server.admin_ks()
    )
    assert listed["totalCount"] == 3
    assert (
        kaltura_server.call("sandbox_views", "list", {"entryId": entry["id"]}, ks=ks)["code"]
        == "SERVICE_FORBIDDEN"
    )


def test_landing_page_of_unknown_entry(kaltura_server: KalturaServer) -> None:
    assert requests.get(f"{kaltura_server.url}/landing/0_nope", timeout=10).status_code == 404
    assert requests.post(f"{kaltura_server.url}/landing/0_nope/play", timeout=10).status_code == 404


def test_player_script_and_iframe(kaltura_server: KalturaServer) -> None:
    ui = kaltura_server.service.manifest()["uiconf_id"]
    js = requests.get(f"{kaltura_server.url}/p/100/embedPlaykitJs/uiconf_id/{ui}", timeout=10)
    assert js.headers["Content-Type"].startswith("application/javascript")
    assert "window.KalturaPlayer" in js.text
    assert "loadMedia" in js.text
    frame = requests.get(
        f"{kaltura_server.url}/p/100/embedPlaykitJs/uiconf_id/{ui}",
        params={"iframeembed": "true", "entry_id": "0_abc</script>"},
        timeout=10,
    )
    assert "KalturaPlayer.setup" in frame.text
    assert "0_abc</script>" not in frame.text
    legacy = requests.get(
        f"{kaltura_server.url}/p/100/sp/10000/embedIframeJs/uiconf_id/{ui}/partner_id/100",
        params={"iframeembed": "true", "entry_id": "0_abc"},
        timeout=10,
    )
    assert legacy.status_code == 200
    assert (
        requests.get(
            f"{kaltura_server.url}/p/100/embedPlaykitJs/uiconf_id/1", timeout=10
        ).status_code
        == 404
    )
    assert (
        requests.get(
            f"{kaltura_server.url}/p/999/embedPlaykitJs/uiconf_id/{ui}", timeout=10
        ).status_code
        == 404
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_a_page_written_for_kalturas_player_plays_in_chromium(
    kaltura_server: KalturaServer, sample_mp4: Path, tmp_path: Path
) -> None:
    ks, entry = _ready_entry(kaltura_server, sample_mp4.read_bytes())
    ui = kaltura_server.service.manifest()["uiconf_id"]
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><div id='kp' style='width:320px;height:240px'></div>"
        f"<script src='{kaltura_server.url}/p/100/embedPlaykitJs/uiconf_id/{ui}'></script>"
        "<script>var p=KalturaPlayer.setup({targetId:'kp',provider:{partnerId:100,uiConfId:"
        f"{ui}}}}});p.loadMedia({{entryId:'{entry['id']}'}}).then(function(){{"
        "var v=document.querySelector('video');v.muted=true;"
        "v.addEventListener('playing',function(){document.body.setAttribute('data-state','playing');});"
        "v.play();});</script></body></html>"
    )
    out = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 'data-state="playing"' in out.stdout, out.stderr[-2000:]
    deadline = time.monotonic() + 5
    while kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=ks)["plays"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_head_request_counts_no_view(kaltura_server: KalturaServer) -> None:
    ks = kaltura_server.user_ks("u")
    entry = kaltura_server.call("media", "add", {"entry": {"name": "x"}}, ks=ks)
    page = requests.head(f"{kaltura_server.url}/landing/{entry['id']}", timeout=10)
    assert page.status_code == 200
    assert kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=ks)["views"] == 0
    unready = requests.get(f"{kaltura_server.url}/landing/{entry['id']}", timeout=10)
    assert "still being processed" in unready.text
    assert kaltura_server.call("media", "get", {"entryId": entry["id"]}, ks=ks)["views"] == 1

"""``vmsg record --upload``: the link exists during the take and the bytes match at stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from app.kaltura import entries
from app.workflow.services import Services


def test_record_with_upload_streams_the_take_and_prints_its_link(
    sandbox: object, tmp_path: Path
) -> None:
    take = tmp_path / "take.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "app", "record", "-o", str(take), "--camera", "synthetic",
         "--mic", "synthetic", "--seconds", "4", "--upload", "--title", "Streamed"],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The link was printed while recording, before the take stopped.
    err = done.stderr
    assert err.index("uploading while recording") < err.index("stopped after")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    upload = summary["upload"]
    assert upload["bytes"] == take.stat().st_size
    assert "r=" not in upload["landing_url"]  # a link for no one in particular
    assert requests.get(upload["landing_url"], timeout=10).status_code == 200
    with Services.open() as services:
        session = services.kaltura(str(services.endpoints.senders[0]["email"]))
        info = entries.wait_for(session, upload["entry_id"], lambda e: e.has_content, timeout=30)
        assert info.name == "Streamed"
        info = entries.wait_for(session, upload["entry_id"], lambda e: e.ready, timeout=60)
    served = requests.get(info.raw.get("downloadUrl") or info.data_url, timeout=30)
    assert served.status_code == 200
    assert served.content == take.read_bytes()  # byte-identical

"""The static landing page (resources/landing/index.html) in headless Chromium against the
sandbox's player: a hostile greeting renders as text, and the video loads (its duration
is written into the page)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.middleware.shared_data import SharedDataMiddleware

from app import paths
from app.kaltura import entries, links
from app.kaltura.uploader import EntryMetadata
from app.sandbox.httpd import serve
from tests.fixtures.sandbox_kaltura import KalturaServer, write_mp4
from tests.integration.kaltura.conftest import make_session, make_uploader

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">Bob & "Eve"'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium")


def _dump_dom(url: str, profile: Path) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        url,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.fixture
def static_host() -> Iterator[str]:
    """resources/landing/ on a plain static web server (what an administrator would use)."""
    app = SharedDataMiddleware(NotFound(), {"/vm": str(paths.resources_dir() / "landing")})
    server = serve(app, name="static-host")
    try:
        yield f"{server.url}/vm/index.html"
    finally:
        server.stop()


def test_static_landing_page_plays_and_escapes(
    kaltura_server: KalturaServer, tmp_path: Path, static_host: str
) -> None:
    session = make_session(kaltura_server)
    video = write_mp4(tmp_path / "v.mp4", seconds=2)
    up = make_uploader(session, tmp_path / "uploads", chunk=256 * 1024)
    entry_id = up.begin(video, EntryMetadata(name="Landing")).wait(30).entry_id
    entries.wait_for(session, entry_id, lambda e: e.ready, timeout=20)

    class Ep:
        service_url = kaltura_server.url
        partner_id = kaltura_server.partner_id
        uiconf_id = int(kaltura_server.service.manifest()["uiconf_id"])
        landing_url_template = "static:" + static_host

    url = links.landing_url(Ep(), entry_id, recipient_name=HOSTILE, recipient_token="tok-1")
    dom = _dump_dom(url, tmp_path / "chromium")
    heading = re.search(r'<h1 id="greeting">(.*?)</h1>', dom, re.S)
    assert heading is not None
    assert html.unescape(heading.group(1)) == "A video message for " + HOSTILE
    assert "<img" not in dom  # the name was text, never markup
    assert "<title>Video message</title>" in dom  # the onerror never ran
    assert "<video" in dom  # the player put its video element in
    duration = re.search(r'data-duration="([0-9.]+)"', dom)
    assert duration is not None, dom[-1500:]
    assert float(duration.group(1)) == pytest.approx(2.0, abs=0.3)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {
                "entry_id": "0_x",
                "partner_id": "100",
                "uiconf_id": "1",
                "service_url": "https://evil.example",
            },
            "does not trust",
        ),
        ({"entry_id": "<b>", "partner_id": "100", "uiconf_id": "1"}, "no valid video id"),
        ({"entry_id": "0_x", "partner_id": "1; x", "uiconf_id": "1"}, "no valid partner id"),
    ],
)
def test_static_landing_page_refuses_bad_links(
    tmp_path: Path, static_host: str, query: dict[str, str], message: str
) -> None:
    dom = _dump_dom(static_host + "?" + urlencode(query), tmp_path / "chromium")
    err = re.search(r'<p id="error">(.*?)</p>', dom, re.S)
    assert err is not None and message in err.group(1)
    assert not re.search(r"<script[^>]*src=", dom)  # no player script was loaded

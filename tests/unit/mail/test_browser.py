"""Browser copies of emails: the same HTML, with cid: images inlined as data: URIs."""

from __future__ import annotations

import base64

from app.mail.browser import browser_html
from app.mail.message import Composition, build_message, make_recipient


def test_cid_images_become_data_uris(composition: Composition) -> None:
    msg = build_message(composition, make_recipient("a@example.com"), "https://v.example/x")
    page = browser_html(msg)
    data = base64.b64encode(composition.preview.data).decode()
    assert "cid:video-preview" not in page
    assert f"data:image/gif;base64,{data}" in page
    assert page.replace(f"data:image/gif;base64,{data}", "cid:video-preview") == msg.html

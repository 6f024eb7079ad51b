"""Shared pieces for the mail tests: a tiny valid GIF, a sender, a composition."""

from __future__ import annotations

import struct

import pytest

from app.mail.message import Composition, Sender, check_cta, inline_preview


def make_gif(width: int = 480, height: int = 270, pad: int = 0) -> bytes:
    """A valid one-colour GIF of the given size (the LZW stream paints pixel 0; decoders
    fill the rest with the background), optionally padded with a comment extension."""
    head = (
        b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x1a\x56\xdb\xff\xff\xff"
    )
    comment = b""
    remaining = pad
    if pad:
        comment = b"\x21\xfe"
        while remaining > 0:
            n = min(255, remaining)
            comment += bytes([n]) + b"x" * n
            remaining -= n
        comment += b"\x00"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return head + comment + image + b"\x3b"


@pytest.fixture
def gif() -> bytes:
    return make_gif()


@pytest.fixture
def sender() -> Sender:
    return Sender(
        email="sam.sender@contoso.example",
        name="Sam Sender",
        title="Account Executive",
        signature_html="<p><b>Sam Sender</b><br>Contoso &middot; <a href='https://contoso.example'>contoso.example</a></p>",
    )


@pytest.fixture
def composition(sender: Sender, gif: bytes) -> Composition:
    return Composition(
        sender=sender,
        video_title="Your quarterly review",
        template="sales-follow-up",
        note="Thanks for the call today.\nHere is the summary.",
        cta=check_cta("Book a meeting", "https://cal.contoso.example/sam?src=email&x=1"),
        preview=inline_preview(gif),
        duration_seconds=42,
    )

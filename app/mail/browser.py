"""Showing a rendered email in a browser: inline (cid:) images become data: URIs.

Used by the desktop preview, ``vmsg demo`` and the documentation screenshots, so what a
person looks at is byte for byte the HTML that is sent, with only the image references
swapped for ones a browser can load without the MIME parts around them.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from pathlib import Path

from app.mail.message import OutgoingMessage


def browser_html(message: OutgoingMessage) -> str:
    html = message.html
    for img in message.images:
        data = base64.b64encode(img.data).decode("ascii")
        html = html.replace(f"cid:{img.content_id}", f"data:{img.content_type};base64,{data}")
    return html


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def screenshot(
    html_file: Path,
    png: Path,
    *,
    width: int = 1200,
    height: int = 1100,
    dark: bool = False,
    chromium: str = "/usr/bin/chromium",
    timeout: float = 60.0,
) -> None:
    """A PNG of ``html_file`` as headless Chromium shows it (light or dark colour scheme)."""
    extra = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"] if dark else []
    with tempfile.TemporaryDirectory(prefix="vmsg-chromium-") as profile:
        subprocess.run(  # noqa: S603 - fixed program, our own arguments
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                *extra,
                html_file.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )


def render_template_screenshots(out_dir: Path, preview_gif: bytes) -> list[Path]:
    """docs/email-<template>.png (+ -dark, + -mobile) for every built-in template."""
    from app.mail.message import (  # noqa: PLC0415 - only this tool needs them
        Composition,
        Sender,
        build_message,
        check_cta,
        inline_preview,
        make_recipient,
    )
    from app.mail.templates import TemplateCatalog  # noqa: PLC0415

    sender = Sender(
        email="adele.vance@contoso.example",
        name="Adele Vance",
        title="Account Manager",
        signature_html=(
            "<p><b>Adele Vance</b><br>Account Manager, Contoso<br>"
            '<a href="https://contoso.example">contoso.example</a> &middot; +1 425 555 0100</p>'
        ),
    )
    recipient = make_recipient("ann.lee@fabrikam.example", display_name="Ann Lee")
    catalog = TemplateCatalog(user=out_dir / "no-user-templates")
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="vmsg-shots-") as tmp:
        for name in catalog.names():
            comp = Composition(
                sender=sender,
                video_title="Next steps for Fabrikam",
                template=name,
                note="Great talking to you today. I recorded a quick walkthrough of the "
                "proposal, with the two options we discussed.\n\nLet me know what you think!",
                cta=check_cta("Book a follow-up call", "https://cal.contoso.example/adele")
                if name == "sales-follow-up"
                else None,
                preview=inline_preview(preview_gif),
                duration_seconds=74,
            )
            msg = build_message(
                comp,
                recipient,
                "https://videos.contoso.example/landing/1_abc?r=tok&name=Ann",
                catalog=catalog,
            )
            page = Path(tmp) / f"{name}.html"
            page.write_text(browser_html(msg), encoding="utf-8")
            for suffix, kw in (
                ("", {}),
                ("-dark", {"dark": True}),
                ("-mobile", {"width": 390, "height": 900}),
            ):
                png = out_dir / f"email-{name}{suffix}.png"
                screenshot(page, png, **kw)
                written.append(png)
    return written


if __name__ == "__main__":  # python -m app.mail.browser docs/ preview.gif
    import sys

    for p in render_template_screenshots(Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()):
        print(p)

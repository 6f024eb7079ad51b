"""Every built-in template is safe for Outlook's Word engine and friendly to other clients.

Word ignores flex, grid, float and position, so layout must be tables; it cannot show a
styled link as a button or a linked image reliably, so VML must be there for both; and
image-blocking clients need alt text and a plain link.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from app.mail.message import PREVIEW_ALT, Composition, build_message, hosted_preview, make_recipient
from app.mail.templates import TemplateCatalog
from tests.unit.mail.htmlcheck import mso_blocks, parse

LINK = "https://videos.example/v/1_abc?token=T0k"
FORBIDDEN_LAYOUT = re.compile(
    r"(display\s*:\s*(inline-)?(flex|grid))|(\bfloat\s*:)|(\bposition\s*:)|(\bgrid-template)", re.I
)
BUILTINS = ["personal-note", "sales-follow-up", "text-first"]


def render(composition: Composition, name: str, **changes: object) -> str:
    comp = replace(composition, template=name, **changes)  # type: ignore[arg-type]
    m = build_message(comp, make_recipient("ann@example.com", display_name="Ann Lee"), LINK,
                      catalog=TemplateCatalog())  # fmt: skip
    return m.html


@pytest.mark.parametrize("name", BUILTINS)
def test_no_layout_css_that_word_drops(composition: Composition, name: str) -> None:
    html = render(composition, name)
    parsed = parse(html)
    for el in parsed.elements:
        style = el.attrs.get("style", "")
        assert not FORBIDDEN_LAYOUT.search(style), (el.tag, style)
    for block in parsed.styles:
        assert not FORBIDDEN_LAYOUT.search(block)
    # Layout is tables: the card and its frame are presentation tables, divs are only the
    # hidden preheader and the text box inside VML.
    tables = parsed.tags("table")
    assert len(tables) >= 3 and all(t.attrs.get("role") == "presentation" for t in tables)
    divs = parsed.tags("div", in_mso=False)
    assert len(divs) == 1 and "display:none" in divs[0].attrs["style"].replace(" ", "")


@pytest.mark.parametrize("name", BUILTINS)
def test_vml_preview_alt_text_and_plain_link(composition: Composition, name: str) -> None:
    html = render(composition, name)
    parsed = parse(html)
    assert 'xmlns:v="urn:schemas-microsoft-com:vml"' in html
    rects = parsed.tags("v:rect", in_mso=True)
    fills = parsed.tags("v:fill", in_mso=True)
    assert rects and rects[0].attrs["href"] == LINK
    assert fills and fills[0].attrs["src"] == "cid:video-preview"
    imgs = [
        i for i in parsed.tags("img", in_mso=False) if i.attrs.get("src") == "cid:video-preview"
    ]
    assert imgs and all(i.attrs.get("alt") == PREVIEW_ALT for i in imgs)
    assert all(i.attrs.get("width") and i.attrs.get("height") for i in imgs)
    # A plain-text link the reader can see, outside any image.
    assert f">{LINK}<" in html or ">Watch the video<" in html or "Here is a short video" in html
    links = [a for a in parsed.tags("a", in_mso=False) if a.attrs.get("href") == LINK]
    assert len(links) >= 2
    # Conditional comments are balanced.
    assert html.count("<!--[if mso]>") == len(mso_blocks(html))


def test_bulletproof_button_has_vml(composition: Composition) -> None:
    html = render(composition, "sales-follow-up")
    parsed = parse(html)
    rr = parsed.tags("v:roundrect", in_mso=True)
    assert rr and rr[0].attrs["href"] == composition.cta.url  # type: ignore[union-attr]
    html_buttons = [
        a for a in parsed.tags("a", in_mso=False) if a.attrs.get("href") == composition.cta.url
    ]  # type: ignore[union-attr]
    assert html_buttons and "display: inline-block" in html_buttons[0].attrs["style"]


@pytest.mark.parametrize("name", BUILTINS)
def test_dark_mode_and_head_meta(composition: Composition, name: str) -> None:
    html = render(composition, name)
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    assert "prefers-color-scheme: dark" in html and "[data-ogsc]" in html
    # CSS was inlined: classes carry their colours in style attributes too.
    assert (
        re.search(r'class="[^"]*greeting[^"]*"[^>]*style="[^"]*color', html)
        or "font-size: 16px" in html
    )


def test_hosted_preview_also_gets_vml(composition: Composition) -> None:
    url = "https://kaltura.example/p/1/sp/100/thumbnail/entry_id/1_x/width/480"
    html = render(composition, "personal-note", preview=hosted_preview(url))
    fills = parse(html).tags("v:fill", in_mso=True)
    assert fills and fills[0].attrs["src"] == url

"""Per-recipient messages: addresses, previews, size limits, and hostile input (Hypothesis)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import MailError
from app.mail import message as msgmod
from app.mail.message import (
    Composition,
    build_message,
    check_cta,
    hosted_preview,
    inline_preview,
    make_recipient,
    parse_address,
    validate,
)
from app.mail.templates import TemplateCatalog
from tests.unit.mail.conftest import make_gif
from tests.unit.mail.htmlcheck import parse

LINK = "https://videos.example/v/1_abc?token=T0k&name=Ann"
CATALOG = TemplateCatalog()


def test_one_recipient_greeted_by_first_name(composition: Composition) -> None:
    r = make_recipient("Ann.Lee@Example.com", display_name="Ann Lee")
    m = build_message(composition, r, LINK, token="T0k", local_id="m1", catalog=CATALOG)
    assert m.to.email == "Ann.Lee@example.com"  # domain normalised, local part kept
    assert "Hi Ann," in m.html and "Hi Ann," in m.text
    g = m.graph_message()
    assert g["toRecipients"] == [
        {"emailAddress": {"address": "Ann.Lee@example.com", "name": "Ann Lee"}}
    ]
    assert "ccRecipients" not in g and "bccRecipients" not in g
    att = g["attachments"][0]
    assert att["isInline"] is True and att["contentId"] == msgmod.PREVIEW_CONTENT_ID
    assert f'src="cid:{msgmod.PREVIEW_CONTENT_ID}"' in m.html
    assert g["internetMessageHeaders"] == [{"name": "X-Vmsg-Message-Id", "value": "m1"}]


def test_cc_and_bcc_go_on_every_message(composition: Composition) -> None:
    comp = replace(
        composition,
        cc=(make_recipient("boss@contoso.example", display_name="Bo Boss"),),
        bcc=(make_recipient("crm@contoso.example"),),
    )
    for addr in ("a@example.com", "b@example.com"):
        g = build_message(comp, make_recipient(addr), LINK, catalog=CATALOG).graph_message()
        assert [r["emailAddress"]["address"] for r in g["toRecipients"]] == [addr]
        assert g["ccRecipients"][0]["emailAddress"]["address"] == "boss@contoso.example"
        assert g["bccRecipients"][0]["emailAddress"]["address"] == "crm@contoso.example"


def test_first_name_guessing() -> None:
    assert make_recipient("a@x.example", display_name="Lee, Ann").first_name == "Ann"
    assert make_recipient("a@x.example", display_name="Ann Marie Lee").last_name == "Marie Lee"
    assert make_recipient("a@x.example", display_name="a@x.example").first_name == ""
    assert (
        make_recipient("a@x.example", display_name="Ann", first_name="Annie").first_name == "Annie"
    )


def test_greeting_falls_back_when_no_name(composition: Composition) -> None:
    m = build_message(composition, make_recipient("x@example.com"), LINK, catalog=CATALOG)
    assert "Hi there," in m.html


@pytest.mark.parametrize(
    "raw",
    [
        "not an address",
        "a@b@c",
        "ann@example.com\r\nBcc: x@y.example",
        "a@example.com, b@example.com",
        "",
        "<>",
    ],
)
def test_bad_addresses_are_refused(raw: str) -> None:
    with pytest.raises(MailError):
        parse_address(raw)


def test_address_forms() -> None:
    r = parse_address("Ann Lee <ann@example.com>")
    assert (r.email, r.display_name, r.first_name) == ("ann@example.com", "Ann Lee", "Ann")
    assert parse_address("bo@example.com").display_name == ""


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD4=", "ftp://x.example"],
)
def test_cta_with_unsafe_scheme_is_rejected(url: str) -> None:
    with pytest.raises(MailError, match="only"):
        check_cta("Book", url)


def test_cta_label_is_checked() -> None:
    with pytest.raises(MailError):
        check_cta("", "https://x.example")
    with pytest.raises(MailError, match="too long"):
        check_cta("x" * 61, "https://x.example")
    assert check_cta("Book\r\nnow", "https://x.example").label == "Book now"


def test_oversize_preview_is_reported_before_sending() -> None:
    big = make_gif(pad=msgmod.MAX_PREVIEW_BYTES)
    with pytest.raises(MailError, match="too large"):
        inline_preview(big)


def test_preview_must_be_an_image() -> None:
    with pytest.raises(MailError, match="not a GIF"):
        inline_preview(b"<svg onload=alert(1)>")
    with pytest.raises(MailError, match="unusual size"):
        inline_preview(make_gif(1, 1))


def test_image_sizes_are_read() -> None:
    assert msgmod.image_size(make_gif(320, 180)) == ("image/gif", 320, 180)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + (640).to_bytes(4, "big")
        + (360).to_bytes(4, "big")
    )
    assert msgmod.image_size(png) == ("image/png", 640, 360)
    jpeg = (
        b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08"
        + (200).to_bytes(2, "big")
        + (300).to_bytes(2, "big")
    )
    assert msgmod.image_size(jpeg + b"\x00" * 10) == ("image/jpeg", 300, 200)


def test_hosted_preview_has_no_attachment(composition: Composition) -> None:
    comp = replace(
        composition, preview=hosted_preview("https://kaltura.example/p/1/thumbnail/entry_id/1_x")
    )
    m = build_message(comp, make_recipient("a@example.com"), LINK, catalog=CATALOG)
    assert not m.images and "attachments" not in m.graph_message()
    assert 'src="https://kaltura.example/p/1/thumbnail/entry_id/1_x"' in m.html
    with pytest.raises(MailError):
        hosted_preview("javascript:alert(1)")


def test_html_stays_under_gmail_clipping(composition: Composition) -> None:
    for name in CATALOG.names():
        comp = replace(composition, template=name, note="word " * 900)
        m = build_message(
            comp, make_recipient("a@example.com", display_name="x" * 300), LINK, catalog=CATALOG
        )
        assert len(m.html.encode()) < msgmod.MAX_HTML_BYTES


def test_too_large_html_is_refused(composition: Composition, tmp_path: Path) -> None:
    (tmp_path / "huge").mkdir()
    (tmp_path / "huge" / "body.html").write_text("<p>{{ note }}</p>" + "<p>padding</p>" * 8000)
    comp = replace(composition, template="huge")
    with pytest.raises(MailError, match="too large"):
        build_message(
            comp, make_recipient("a@example.com"), LINK, catalog=TemplateCatalog(user=tmp_path)
        )


def test_validate_renders_everyone_first(composition: Composition) -> None:
    with pytest.raises(MailError, match="nobody"):
        validate(composition, [])
    validate(composition, [make_recipient("a@example.com")], catalog=CATALOG)


def test_landing_link_must_be_web(composition: Composition) -> None:
    with pytest.raises(MailError):
        build_message(
            composition, make_recipient("a@example.com"), "javascript:alert(1)", catalog=CATALOG
        )


def test_composition_round_trips_through_json(composition: Composition) -> None:
    data = msgmod.composition_to_json(composition)
    back = msgmod.composition_from_json(data, composition.preview.data)
    assert back == composition


# --------------------------------------------------------------------------- properties

HOSTILE_PIECES = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus '",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "<a href='javascript:alert(1)'>x</a>",
    "\r\nBcc: victim@example.com\r\n",
    "\n\nContent-Type: text/html",
    "\u202egnp.exe",
    "\u2066\u2069\u200f\u200e",
    "{{ 7*7 }}{% raw %}",
    "<!--[if mso]><script>x</script><![endif]-->",
    "-->",
    "]]>",
    "\x00\x1b\x7f",
    "x" * 300,
    "Zoë O’Brien",
]

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=30)), min_size=0, max_size=5
).map("".join)

SAFE_URL = re.compile(r"^(https?:|mailto:|cid:)", re.I)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=hostile_text, note=hostile_text, subject=hostile_text, title=hostile_text,
       template=st.sampled_from(["personal-note", "sales-follow-up", "text-first"]))  # fmt: skip
def test_hostile_names_notes_and_subjects_never_inject(  # noqa: PLR0917 - hypothesis args
    composition: Composition, name: str, note: str, subject: str, title: str, template: str
) -> None:
    comp = replace(
        composition,
        template=template,
        note=note[:4000],
        video_title=title,
        subject="{{ recipient.display_name }} " + subject.replace("{", "(").replace("}", ")"),
    )
    recipient = make_recipient("ann@example.com", display_name=name, first_name=name[:50])
    m = build_message(comp, recipient, LINK, catalog=CATALOG)
    assert "\r" not in m.subject and "\n" not in m.subject
    assert not any(ch in m.subject for ch in "\u202e\u2066\u2069\x00")
    low = m.html.lower()
    assert "<script" not in low
    parsed = parse(m.html)
    assert not parsed.tags("script")
    for el in parsed.elements:
        for attr in el.attrs:
            assert not attr.startswith("on"), (el.tag, attr)
    for url in parsed.urls():
        assert SAFE_URL.match(url), url
    # Recipient data is data, never template code.
    if "{{ 7*7 }}" in name:
        assert "49" not in m.subject.replace(name, "")
    # The display name can never add a recipient.
    assert [r["emailAddress"]["address"] for r in m.graph_message()["toRecipients"]] == [
        "ann@example.com"
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(label=hostile_text, url=st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=40)))
def test_hostile_cta_never_becomes_an_unsafe_link(
    composition: Composition, label: str, url: str
) -> None:
    try:
        cta = check_cta(label, url)
    except MailError:
        return
    comp = replace(composition, cta=cta)
    m = build_message(comp, make_recipient("a@example.com"), LINK, catalog=CATALOG)
    assert "<script" not in m.html.lower()
    for u in parse(m.html).urls():
        assert SAFE_URL.match(u), u


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(hostile_text, st.text(max_size=80).map(lambda t: f"{t} <a@example.com>")))
def test_address_parsing_never_lets_control_characters_through(raw: str) -> None:
    try:
        r = parse_address(raw)
    except MailError:
        return
    for value in (r.email, r.display_name, r.first_name, r.last_name):
        assert not any(ord(ch) < 32 or ch in "\u202e\u2066\u2069\x7f" for ch in value), value
    assert "@" in r.email and "," not in r.email and " " not in r.email


@settings(max_examples=200, deadline=None)
@given(text=hostile_text)
def test_clean_subject_is_one_safe_line(text: str) -> None:
    subject = msgmod.clean_subject(text)
    assert subject and "\r" not in subject and "\n" not in subject
    assert len(subject) <= 250

"""Cleaning names, subjects and notes; checking links."""

from __future__ import annotations

import pytest

from app.errors import MailError
from app.mail import text


def test_clean_line_removes_line_breaks_controls_and_bidi() -> None:
    raw = "Ann\r\nBcc: evil@x.example\x00\x1b[31m \u202eevil\u202c \u2066x\u2069\u200b"
    out = text.clean_line(raw)
    assert "\r" not in out and "\n" not in out and "\x00" not in out and "\x1b" not in out
    assert not any(ch in out for ch in "\u202e\u202c\u2066\u2069\u200b")
    assert out.startswith("Ann Bcc: evil@x.example")


def test_clean_line_keeps_international_text() -> None:
    assert text.clean_line("  Zoë  O’Brien\u200d  ") == "Zoë O’Brien\u200d"
    assert text.clean_line("محمد  علي") == "محمد علي"


def test_clean_line_shortens_long_names_with_ellipsis() -> None:
    out = text.clean_line("x" * 300)
    assert len(out) == text.MAX_NAME_CHARS
    assert out.endswith("\u2026")


def test_clean_multiline_keeps_paragraphs() -> None:
    assert text.clean_multiline("a\r\nb\rc\n\n\n\nd\u2028e") == "a\nb\nc\n\nd\ne"


def test_clean_multiline_refuses_huge_notes() -> None:
    with pytest.raises(MailError, match="too long"):
        text.clean_multiline("x" * (text.MAX_NOTE_CHARS + 1))


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\nscript:alert(1)",
        "java\tscript:alert(1)",
        " data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "//evil.example/x",
        "/relative",
        "https://",
        "https://exa mple.com",
        "https://example.com/\u202e",
        "",
    ],
)
def test_check_link_refuses_unsafe_urls(url: str) -> None:
    with pytest.raises(MailError):
        text.check_link(url)


def test_check_link_accepts_web_addresses() -> None:
    assert (
        text.check_link(" https://cal.example.com/x?a=1&b=2 ")
        == "https://cal.example.com/x?a=1&b=2"
    )
    assert text.check_link("http://127.0.0.1:8080/p") == "http://127.0.0.1:8080/p"

"""Cleaning the text people type (names, subjects, notes) and checking the URLs they give.

Everything here runs before a template sees the value, so no header can be injected
(CR/LF and every other control character go), no name can reorder the text around it
(bidi overrides and isolates go), and no link can run code (only http(s) and mailto).
HTML escaping is the template engine's job (autoescape); this module makes the text
itself well-behaved.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from app.errors import MailError

#: Bidi embedding/override/isolate controls and the invisible marks that go with them.
#: They can make "moc.elpmaxe@" read as an address or hide part of a subject (CVE-2021-42574).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Zero-width characters that hide text; ZWJ/ZWNJ (\u200c \u200d) stay: scripts need them.
_INVISIBLE = frozenset("\u200b\u2060\ufeff")

#: A name longer than this is shortened (with an ellipsis) wherever it is shown.
MAX_NAME_CHARS = 100
#: A subject longer than this is shortened: clients cut them anyway, headers fold them.
MAX_SUBJECT_CHARS = 250
#: A note longer than this is refused: it is a video message, not a letter.
MAX_NOTE_CHARS = 5_000

_SPACES = re.compile(r"\s+")


def _drop(ch: str, keep_newlines: bool) -> bool:
    if ch in _BIDI or ch in _INVISIBLE:
        return True
    if keep_newlines and ch in "\n\t":
        return False
    cat = unicodedata.category(ch)
    # Cc: C0/C1 controls (CR, LF, NUL, ESC...); Cs: lone surrogates; Zl/Zp: line/paragraph
    # separators, which some mail clients treat as line breaks in headers.
    return cat in ("Cc", "Cs") or ch in "\u2028\u2029"


def clean_line(value: str, *, max_chars: int = MAX_NAME_CHARS) -> str:
    """One line of text: controls and bidi marks removed, whitespace collapsed, shortened."""
    out = "".join(" " if ch in "\r\n\t\u2028\u2029" else ch for ch in value)
    out = "".join(ch for ch in out if not _drop(ch, keep_newlines=False))
    out = _SPACES.sub(" ", out).strip()
    return shorten(out, max_chars)


def clean_multiline(value: str, *, max_chars: int = MAX_NOTE_CHARS) -> str:
    """Several lines (a note): like :func:`clean_line` but newlines survive (CRLF -> LF)."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = text.replace("\u2029", "\n\n")
    text = "".join(ch for ch in text if not _drop(ch, keep_newlines=True))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > max_chars:
        raise MailError(
            f"The note is too long ({len(text):,} characters; at most {max_chars:,}).",
            hint="Shorten the note: the video carries the message.",
        )
    return text


def shorten(value: str, max_chars: int) -> str:
    """``value`` cut to ``max_chars`` characters, ending with an ellipsis when cut."""
    if len(value) <= max_chars:
        return value
    return value[: max_chars - 1].rstrip() + "\u2026"


SAFE_LINK_SCHEMES = frozenset({"http", "https"})


def check_link(
    url: str, *, what: str = "The link", schemes: frozenset[str] = SAFE_LINK_SCHEMES
) -> str:
    """Return ``url`` when it is an absolute http(s) URL with a host, else raise MailError.

    ``javascript:``, ``data:``, ``vbscript:``, ``file:`` and relative URLs are refused: a link
    in an email must open a web page, nothing else. Browsers ignore tabs and newlines inside
    URLs ("java\\nscript:"), so they are refused rather than stripped.
    """
    raw = url.strip()
    if not raw:
        raise MailError(f"{what} is empty.", hint="Enter a web address starting with https://.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in raw) or " " in raw:
        raise MailError(
            f"{what} contains spaces or control characters: {raw[:80]!r}.",
            hint="Enter a plain web address starting with https://.",
        )
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        shown = f"{scheme}:" if scheme else "no scheme"
        allowed = " or ".join(f"{s}:" for s in sorted(schemes))
        raise MailError(
            f"{what} uses {shown}; only {allowed} links can go in an email.",
            hint="Enter a web address starting with https://.",
        )
    if scheme in ("http", "https") and not parts.hostname:
        raise MailError(f"{what} has no host name: {raw[:80]!r}.", hint="Enter a full web address.")
    return raw

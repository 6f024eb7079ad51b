"""One personal email per recipient: who it is for, what it says, and what it carries.

:class:`Composition` is what the user asked for (template, note, call to action, CC/BCC,
preview); :func:`build_message` turns it plus one :class:`Recipient` and that recipient's
landing URL into an :class:`OutgoingMessage`: cleaned subject, HTML with its CSS inlined
(css_inline), the plain-text alternative, and the inline preview image. Transports turn
an OutgoingMessage into a Graph JSON message or a MIME message.

Validation happens here, before anything is queued: addresses are checked
(email-validator, no DNS), names and subjects lose control and bidi characters, the CTA
link must be http(s), the preview must be an image of at most 1 MB, and the HTML must
stay under Gmail's clipping limit.
"""

from __future__ import annotations

import base64
import email.utils
import secrets
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import css_inline
import email_validator
from markupsafe import Markup

from app.errors import MailError
from app.mail import text as textmod
from app.mail.signature import sanitize_signature, signature_text
from app.mail.templates import RenderedParts, TemplateCatalog

#: The recorder keeps GIF previews under this; Graph inline attachments and most
#: mailboxes are happy with it, and desktop Outlook only shows the first frame anyway.
MAX_PREVIEW_BYTES = 1_000_000
#: Gmail clips messages whose HTML is over ~102 KB; stay clearly under.
MAX_HTML_BYTES = 100_000
MAX_CTA_LABEL_CHARS = 60
PREVIEW_CONTENT_ID = "video-preview"
PREVIEW_ALT = "Play video message"

# At-rules (dark mode, mobile) live in a <style data-css-inline="keep"> block the inliner
# leaves alone; everything else is inlined, because Gmail and Outlook drop <style> in places.
_INLINER = css_inline.CSSInliner(keep_at_rules=False, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Recipient:
    email: str
    display_name: str = ""
    first_name: str = ""
    last_name: str = ""

    def as_context(self) -> dict[str, str]:
        return {
            "email": self.email,
            "display_name": self.display_name,
            "first_name": self.first_name,
            "last_name": self.last_name,
        }

    def formatted(self) -> str:
        return (
            email.utils.formataddr((self.display_name, self.email))
            if self.display_name
            else self.email
        )


@dataclass(frozen=True)
class Sender:
    email: str
    name: str = ""
    title: str = ""
    #: The user's signature HTML, as typed. Sanitized when the message is built.
    signature_html: str = ""


@dataclass(frozen=True)
class Preview:
    """The picture in the email: inline bytes (sent as cid:) or a hosted image URL."""

    data: bytes = b""
    content_type: str = "image/gif"
    url: str = ""
    width: int = 480
    height: int = 270

    @property
    def inline(self) -> bool:
        return bool(self.data)

    @property
    def src(self) -> str:
        return f"cid:{PREVIEW_CONTENT_ID}" if self.inline else self.url

    @property
    def filename(self) -> str:
        ext = {"image/gif": "gif", "image/png": "png", "image/jpeg": "jpg"}.get(
            self.content_type, "img"
        )
        return f"video-preview.{ext}"


@dataclass(frozen=True)
class Cta:
    label: str
    url: str


@dataclass(frozen=True)
class Composition:
    """Everything about a send that is the same for every recipient."""

    sender: Sender
    video_title: str
    template: str = "personal-note"
    note: str = ""
    #: A subject template typed by the user; None uses the template's own subject.
    subject: str | None = None
    cta: Cta | None = None
    cc: tuple[Recipient, ...] = ()
    bcc: tuple[Recipient, ...] = ()
    preview: Preview = field(default_factory=Preview)
    duration_seconds: float | None = None


@dataclass(frozen=True)
class InlineImage:
    content_id: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered email for exactly one recipient (plus the CC/BCC the user chose)."""

    sender: Sender
    to: Recipient
    subject: str
    html: str
    text: str
    cc: tuple[Recipient, ...] = ()
    bcc: tuple[Recipient, ...] = ()
    images: tuple[InlineImage, ...] = ()
    #: The random per-recipient token carried by the landing link (view attribution).
    token: str = ""
    landing_url: str = ""
    #: Our own id for the message (outbox row id); also sent as a custom header.
    local_id: str = ""

    def graph_message(self) -> dict[str, Any]:
        """The message as Microsoft Graph's JSON ``message`` resource (sendMail, drafts)."""

        def addr(r: Recipient) -> dict[str, Any]:
            entry: dict[str, str] = {"address": r.email}
            if r.display_name:
                entry["name"] = r.display_name
            return {"emailAddress": entry}

        msg: dict[str, Any] = {
            "subject": self.subject,
            "body": {"contentType": "HTML", "content": self.html},
            "toRecipients": [addr(self.to)],
        }
        if self.cc:
            msg["ccRecipients"] = [addr(r) for r in self.cc]
        if self.bcc:
            msg["bccRecipients"] = [addr(r) for r in self.bcc]
        if self.images:
            msg["attachments"] = [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": img.filename,
                    "contentType": img.content_type,
                    "contentBytes": base64.b64encode(img.data).decode("ascii"),
                    "isInline": True,
                    "contentId": img.content_id,
                }
                for img in self.images
            ]
        headers = []
        if self.local_id:
            headers.append({"name": "X-Vmsg-Message-Id", "value": self.local_id})
        if headers:
            msg["internetMessageHeaders"] = headers
        return msg


# --------------------------------------------------------------------------- input checks


def parse_address(value: str, *, what: str = "recipient") -> Recipient:
    """A recipient from ``ann@example.com`` or ``Ann Lee <ann@example.com>``.

    Raises MailError for anything that is not exactly one valid address. Names are cleaned
    (no control or bidi characters) and first/last names guessed from the display name.
    """
    raw = value.strip()
    if any(ch in raw for ch in "\r\n\x00"):
        raise MailError(
            f"The {what} {raw[:80]!r} contains a line break.",
            hint="Enter one address per field, like ann@example.com or Ann Lee <ann@example.com>.",
        )
    # "Name <addr>" or a bare address; email-validator then refuses anything that is not
    # exactly one address (commas, spaces, a second @). parseaddr is too lenient here.
    name, addr = "", raw
    if raw.endswith(">") and "<" in raw:
        cut = raw.rindex("<")
        name, addr = raw[:cut].strip().strip('"').strip(), raw[cut + 1 : -1].strip()
    if not addr or any(ch in addr for ch in ",;<> "):
        raise MailError(
            f"{raw[:80]!r} is not an email address.",
            hint="Enter one address, like ann@example.com or Ann Lee <ann@example.com>.",
        )
    return make_recipient(addr, display_name=name, what=what)


def make_recipient(
    address: str,
    *,
    display_name: str = "",
    first_name: str = "",
    last_name: str = "",
    what: str = "recipient",
) -> Recipient:
    """A validated, cleaned recipient. First name is derived from the display name if absent."""
    try:
        checked = email_validator.validate_email(
            address.strip(), check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        raise MailError(
            f"The {what} address {address.strip()[:80]!r} is not valid: {exc}",
            hint="Check the address for typos.",
        ) from None
    display = textmod.clean_line(display_name)
    first = textmod.clean_line(first_name)
    last = textmod.clean_line(last_name)
    if not first and display:
        first, guessed_last = _split_name(display)
        last = last or guessed_last
    return Recipient(
        email=checked.normalized,
        display_name=display,
        first_name=textmod.shorten(first, 40),
        last_name=last,
    )


def _split_name(display: str) -> tuple[str, str]:
    """("Ann", "Lee") from "Ann Lee" or "Lee, Ann"; ("", "") when it looks like an address."""
    if "@" in display:
        return "", ""
    if "," in display:
        last, _, first = display.partition(",")
        return first.strip().split(" ")[0] if first.strip() else "", last.strip()
    parts = display.split(" ")
    return parts[0], " ".join(parts[1:])


def check_cta(label: str, url: str) -> Cta:
    clean_label = textmod.clean_line(label, max_chars=200)
    if not clean_label:
        raise MailError("The button needs a label.", hint="For example: Book a meeting.")
    if len(clean_label) > MAX_CTA_LABEL_CHARS:
        raise MailError(
            f"The button label is too long ({len(clean_label)} characters; at most "
            f"{MAX_CTA_LABEL_CHARS}).",
            hint="Use a short label such as 'Book a meeting'.",
        )
    return Cta(label=clean_label, url=textmod.check_link(url, what="The button link"))


def image_size(data: bytes) -> tuple[str, int, int]:
    """(content type, width, height) of a GIF, PNG or JPEG; MailError for anything else."""
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return "image/gif", w, h
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return "image/png", w, h
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (
                0xC0,
                0xC1,
                0xC2,
                0xC3,
                0xC5,
                0xC6,
                0xC7,
                0xC9,
                0xCA,
                0xCB,
                0xCD,
                0xCE,
                0xCF,
            ):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return "image/jpeg", w, h
            (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + seg_len
    raise MailError(
        "The preview image is not a GIF, PNG or JPEG picture.",
        hint="Record again or choose another preview; the recorder makes a GIF preview.",
    )


def inline_preview(data: bytes) -> Preview:
    """A preview sent inside the email, checked for type and size before anything is sent."""
    if len(data) > MAX_PREVIEW_BYTES:
        raise MailError(
            f"The preview image is too large ({len(data) / 1e6:.1f} MB; at most "
            f"{MAX_PREVIEW_BYTES / 1e6:.0f} MB).",
            hint="Use a shorter preview, or send the hosted thumbnail instead "
            "(Settings > Kaltura > use hosted preview images).",
        )
    content_type, width, height = image_size(data)
    if not (16 <= width <= 4000 and 16 <= height <= 4000):
        raise MailError(
            f"The preview image has an unusual size ({width}x{height} pixels).",
            hint="Use a preview between 16 and 4000 pixels wide and high.",
        )
    return Preview(data=data, content_type=content_type, width=width, height=height)


def hosted_preview(url: str, *, width: int = 480, height: int = 270) -> Preview:
    """A preview image the recipient's client loads from the web (e.g. Kaltura's thumbnail)."""
    return Preview(
        url=textmod.check_link(url, what="The preview image URL"), width=width, height=height
    )


def new_token() -> str:
    """A random, unguessable recipient token for the landing link (attribution of views)."""
    return secrets.token_urlsafe(16)


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds <= 0:
        return ""
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


# --------------------------------------------------------------------------- building


def template_context(
    composition: Composition, recipient: Recipient, landing_url: str
) -> dict[str, Any]:
    """The variables a template sees. Documented in docs (and the TemplateError hint)."""
    comp = composition
    signature: Markup = (
        sanitize_signature(comp.sender.signature_html) if comp.sender.signature_html else Markup("")
    )
    return {
        "recipient": recipient.as_context(),
        "sender": {
            "name": textmod.clean_line(comp.sender.name),
            "title": textmod.clean_line(comp.sender.title),
            "email": comp.sender.email,
            "signature": signature,
            "signature_text": signature_text(comp.sender.signature_html)
            if comp.sender.signature_html
            else "",
        },
        "video": {
            "title": textmod.clean_line(comp.video_title, max_chars=textmod.MAX_SUBJECT_CHARS),
            "landing_url": landing_url,
            "duration": format_duration(comp.duration_seconds),
            "duration_seconds": comp.duration_seconds or 0,
            "preview": {
                "src": comp.preview.src,
                "width": comp.preview.width,
                "height": comp.preview.height,
                "alt": PREVIEW_ALT,
                "inline": comp.preview.inline,
            },
        },
        "note": textmod.clean_multiline(comp.note),
        "cta": {"label": comp.cta.label, "url": comp.cta.url} if comp.cta else None,
    }


def clean_subject(subject: str) -> str:
    cleaned = textmod.clean_line(subject, max_chars=textmod.MAX_SUBJECT_CHARS)
    return cleaned or "A video message"


def build_message(
    composition: Composition,
    recipient: Recipient,
    landing_url: str,
    *,
    token: str = "",
    local_id: str = "",
    catalog: TemplateCatalog | None = None,
) -> OutgoingMessage:
    """Render ``composition`` for one recipient. Raises MailError (TemplateError) on any problem."""
    textmod.check_link(landing_url, what="The video link")
    catalog = catalog or TemplateCatalog()
    context = template_context(composition, recipient, landing_url)
    parts: RenderedParts = catalog.render(
        composition.template,
        context,
        subject_source=composition.subject,
        clean_subject=clean_subject,
    )
    html = _INLINER.inline(parts.html)
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise MailError(
            f"The email is too large ({size / 1000:.0f} KB of HTML; Gmail cuts messages over "
            f"about 100 KB).",
            hint="Shorten the note or the signature, or pick a simpler template.",
        )
    images: tuple[InlineImage, ...] = ()
    if composition.preview.inline:
        p = composition.preview
        images = (InlineImage(PREVIEW_CONTENT_ID, p.filename, p.content_type, p.data),)
    return OutgoingMessage(
        sender=composition.sender,
        to=recipient,
        subject=parts.subject,
        html=html,
        text=parts.text,
        cc=composition.cc,
        bcc=composition.bcc,
        images=images,
        token=token,
        landing_url=landing_url,
        local_id=local_id,
    )


def validate(
    composition: Composition,
    recipients: Iterable[Recipient],
    *,
    catalog: TemplateCatalog | None = None,
    placeholder_url: str = "https://example.invalid/v/preview",
) -> None:
    """Render every recipient once with a placeholder link: any error surfaces now.

    Called when the user presses Send, before anything is queued, so a template that
    fails for the 17th recipient (a name with odd characters) fails before the first.
    """
    catalog = catalog or TemplateCatalog()
    seen = False
    for recipient in recipients:
        seen = True
        build_message(composition, recipient, placeholder_url, token="t", catalog=catalog)
    if not seen:
        raise MailError("There is nobody to send to.", hint="Add at least one recipient.")


def composition_to_json(comp: Composition) -> dict[str, Any]:
    """A JSON-safe form for the outbox (the preview bytes are stored separately)."""

    def rec(r: Recipient) -> dict[str, str]:
        return r.as_context()

    return {
        "sender": {
            "email": comp.sender.email,
            "name": comp.sender.name,
            "title": comp.sender.title,
            "signature_html": comp.sender.signature_html,
        },
        "video_title": comp.video_title,
        "template": comp.template,
        "note": comp.note,
        "subject": comp.subject,
        "cta": {"label": comp.cta.label, "url": comp.cta.url} if comp.cta else None,
        "cc": [rec(r) for r in comp.cc],
        "bcc": [rec(r) for r in comp.bcc],
        "preview": {
            "content_type": comp.preview.content_type,
            "url": comp.preview.url,
            "width": comp.preview.width,
            "height": comp.preview.height,
            "inline": comp.preview.inline,
        },
        "duration_seconds": comp.duration_seconds,
    }


def composition_from_json(data: Mapping[str, Any], preview_data: bytes = b"") -> Composition:
    def rec(d: Mapping[str, str]) -> Recipient:
        return Recipient(
            email=d["email"],
            display_name=d.get("display_name", ""),
            first_name=d.get("first_name", ""),
            last_name=d.get("last_name", ""),
        )

    p = data["preview"]
    preview = Preview(
        data=preview_data if p.get("inline") else b"",
        content_type=p.get("content_type", "image/gif"),
        url=p.get("url", ""),
        width=int(p.get("width", 480)),
        height=int(p.get("height", 270)),
    )
    cta = data.get("cta")
    return Composition(
        sender=Sender(**data["sender"]),
        video_title=data["video_title"],
        template=data["template"],
        note=data.get("note", ""),
        subject=data.get("subject"),
        cta=Cta(**cta) if cta else None,
        cc=tuple(rec(r) for r in data.get("cc", [])),
        bcc=tuple(rec(r) for r in data.get("bcc", [])),
        preview=preview,
        duration_seconds=data.get("duration_seconds"),
    )


__all__ = [
    "MAX_HTML_BYTES",
    "MAX_PREVIEW_BYTES",
    "PREVIEW_ALT",
    "PREVIEW_CONTENT_ID",
    "Composition",
    "Cta",
    "InlineImage",
    "OutgoingMessage",
    "Preview",
    "Recipient",
    "Sender",
    "build_message",
    "check_cta",
    "clean_subject",
    "composition_from_json",
    "composition_to_json",
    "format_duration",
    "hosted_preview",
    "image_size",
    "inline_preview",
    "make_recipient",
    "new_token",
    "parse_address",
    "template_context",
    "validate",
]

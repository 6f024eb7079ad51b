"""The Graph sandbox's mail side: message validation, mailboxes on disk, readable copies.

Every message the sandbox accepts (``/me/sendMail`` or a sent draft) is kept as
``DIR/mailboxes/<sender>/sent/<n>.json`` (what the client sent, plus when it arrived and
its ids) and ``<n>.html``: the message rendered for a person, with ``cid:`` images turned
into ``data:`` URIs so it opens in any browser. Drafts live in ``drafts/`` until sent.
Files are written to a temporary name and renamed, so a crash never leaves half a file,
and nothing stored is ever rewritten by a later request.

Validation follows the Graph ``microsoft.graph.message`` type (docs/protocols.md, "Graph:
sending mail (sendMail)" and "Graph: errors and authorization"):
unknown properties and wrong JSON types are ``RequestBodyRead`` (as Graph's OData reader
says), recipients without a resolvable address ``ErrorInvalidRecipients``, a body
``contentType`` other than HTML/Text ``RequestBodyRead``, attachment ``contentBytes`` that is
not base64 ``ErrorMimeContentInvalidBase64String``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import html
import json
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from app import system

MAX_RECIPIENTS = 500

MESSAGE_PROPERTIES = {
    "@odata.type",
    "id",
    "subject",
    "body",
    "bodyPreview",
    "uniqueBody",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "from",
    "sender",
    "attachments",
    "importance",
    "isReadReceiptRequested",
    "isDeliveryReceiptRequested",
    "internetMessageHeaders",
    "internetMessageId",
    "categories",
    "flag",
    "inferenceClassification",
    "isRead",
    "isDraft",
    "conversationId",
    "parentFolderId",
    "createdDateTime",
    "lastModifiedDateTime",
    "sentDateTime",
    "receivedDateTime",
    "hasAttachments",
    "changeKey",
    "webLink",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
}
FILE_ATTACHMENT_PROPERTIES = {
    "@odata.type",
    "id",
    "name",
    "contentType",
    "contentBytes",
    "contentId",
    "contentLocation",
    "isInline",
    "size",
    "lastModifiedDateTime",
}
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"


class GraphError(Exception):
    """A Graph error answer: HTTP status, error code and message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _read_error(message: str) -> GraphError:
    return GraphError(400, "RequestBodyRead", message)


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "StartObject"
    if isinstance(value, list):
        return "StartArray"
    return "PrimitiveValue"


def _expect(value: Any, kinds: tuple[type, ...], prop: str, expected: str) -> None:
    if value is None or isinstance(value, kinds):
        return
    raise _read_error(
        f"An unexpected '{_node_kind(value)}' node was found for property named '{prop}' when "
        f"reading from the JSON reader. A '{expected}' node was expected."
    )


def _unknown(obj: dict[str, Any], allowed: set[str], type_name: str) -> None:
    for key in obj:
        if key not in allowed and not key.startswith("@odata."):
            raise _read_error(
                f"The property '{key}' does not exist on type '{type_name}'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type."
            )


def valid_address(address: str) -> bool:
    """Enough of RFC 5321 to tell a resolvable SMTP address from garbage."""
    if not 3 <= len(address) <= 320 or any(c.isspace() for c in address):
        return False
    local, sep, domain = address.rpartition("@")
    return bool(sep and local and domain and "@" not in domain and "." in domain.strip("."))


def parse_bool(value: Any, prop: str) -> bool:
    """Graph's Edm.Boolean: true/false, and (the doc example does it) "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true"
    raise _read_error(
        f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean' for "
        f"property '{prop}'."
    )


def _recipients(message: dict[str, Any], prop: str) -> list[dict[str, Any]]:
    value = message.get(prop)
    _expect(value, (list,), prop, "StartArray")
    out = []
    for item in value or []:
        _expect(item, (dict,), prop, "StartObject")
        _unknown(item, {"emailAddress"}, "microsoft.graph.recipient")
        email = item.get("emailAddress")
        _expect(email, (dict,), "emailAddress", "StartObject")
        email = email or {}
        _unknown(email, {"address", "name"}, "microsoft.graph.emailAddress")
        address = email.get("address")
        _expect(address, (str,), "address", "PrimitiveValue")
        _expect(email.get("name"), (str,), "name", "PrimitiveValue")
        if not address or not valid_address(address):
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                f"At least one recipient isn't valid., Recipient '{address or ''}' is not "
                "resolved. All recipients must be resolved before a message can be submitted.",
            )
        out.append(item)
    return out


def validate_message(message: Any, *, require_recipients: bool) -> dict[str, Any]:
    """Check a ``microsoft.graph.message`` as Graph does; returns it unchanged."""
    if message is None:
        raise GraphError(
            400, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty."
        )
    _expect(message, (dict,), "message", "StartObject")
    _unknown(message, MESSAGE_PROPERTIES, "microsoft.graph.message")
    _expect(message.get("subject"), (str,), "subject", "PrimitiveValue")
    body = message.get("body")
    _expect(body, (dict,), "body", "StartObject")
    if body is not None:
        _unknown(body, {"contentType", "content"}, "microsoft.graph.itemBody")
        kind = body.get("contentType", "text")
        _expect(kind, (str,), "contentType", "PrimitiveValue")
        if kind is not None and kind.casefold() not in ("html", "text"):
            raise _read_error(f"Requested value '{kind}' was not found.")
        _expect(body.get("content"), (str,), "content", "PrimitiveValue")
    total = 0
    for prop in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
        n = len(_recipients(message, prop))
        if prop != "replyTo":
            total += n
    if require_recipients and total == 0:
        raise GraphError(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains "
            "no recipients.",
        )
    if total > MAX_RECIPIENTS:
        raise GraphError(
            400,
            "ErrorTooManyRecipients",
            f"The message exceeds the maximum supported number of recipients ({MAX_RECIPIENTS}).",
        )
    for prop in ("isReadReceiptRequested", "isDeliveryReceiptRequested"):
        if message.get(prop) is not None:
            parse_bool(message[prop], prop)
    attachments = message.get("attachments")
    _expect(attachments, (list,), "attachments", "StartArray")
    for att in attachments or []:
        _validate_attachment(att)
    return dict(message)


def _validate_attachment(att: Any) -> None:
    _expect(att, (dict,), "attachments", "StartObject")
    kind = att.get("@odata.type")
    if kind is None:
        raise _read_error(
            "Cannot create an abstract class. The '@odata.type' of the attachment is required."
        )
    if kind != FILE_ATTACHMENT:
        raise GraphError(
            400,
            "ErrorInvalidAttachmentType",
            f"The attachment type '{kind}' is not supported here; use '{FILE_ATTACHMENT}'.",
        )
    _unknown(att, FILE_ATTACHMENT_PROPERTIES, "microsoft.graph.fileAttachment")
    for prop in ("name", "contentType", "contentId", "contentLocation", "contentBytes"):
        _expect(att.get(prop), (str,), prop, "PrimitiveValue")
    if not att.get("name"):
        raise GraphError(400, "ErrorRequiredPropertyMissing", "Required property is missing: name.")
    if att.get("contentBytes") is None:
        raise GraphError(
            400, "ErrorRequiredPropertyMissing", "Required property is missing: contentBytes."
        )
    if att.get("isInline") is not None:
        parse_bool(att["isInline"], "isInline")
    if decode_base64(att["contentBytes"]) is None:
        raise GraphError(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        )


def decode_base64(text: str) -> bytes | None:
    """Standard base64 (whitespace allowed, as .NET's decoder allows), else None."""
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_rest_id() -> str:
    return "AAMkAGI2" + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=")


def new_immutable_id() -> str:
    return "AAkALgAA" + base64.urlsafe_b64encode(secrets.token_bytes(72)).decode().rstrip("=")


def folder_id(sender: str, folder: str) -> str:
    digest = hashlib.sha256(f"{sender.casefold()}/{folder}".encode()).digest()
    return "AQMkADAw" + base64.urlsafe_b64encode(digest * 2).decode().rstrip("=")


@dataclass
class _Entry:
    sender: str
    kind: str  # "draft" | "sent"
    path: Path


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Lone surrogates in client JSON must not crash the write: escape them.
    tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
    system.replace_file(tmp, path)


def _dumps(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, indent=1)
    except (TypeError, ValueError):
        return json.dumps(obj, ensure_ascii=True, indent=1)


class MailboxStore:
    """Mailboxes under ``DIR/mailboxes``: sent messages and drafts, indexed by id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._index: dict[str, _Entry] = {}
        root.mkdir(parents=True, exist_ok=True)
        for box in sorted(p for p in root.iterdir() if p.is_dir()):
            for kind, sub in (("sent", "sent"), ("draft", "drafts")):
                for path in sorted((box / sub).glob("*.json")):
                    try:
                        rec = json.loads(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError, RecursionError):
                        continue  # a damaged file is skipped, never rewritten
                    if not isinstance(rec, dict):
                        continue
                    entry = _Entry(box.name, kind, path)
                    if kind == "draft" or rec.get("saveToSentItems", True):
                        for key in ("id", "immutableId"):
                            if isinstance(rec.get(key), str):
                                self._index[rec[key]] = entry

    def _box(self, sender: str) -> Path:
        return self.root / sender.casefold()

    def sent_messages(self, sender: str) -> list[dict[str, Any]]:
        """Every accepted message of ``sender``, oldest first."""
        folder = self._box(sender) / "sent"
        records = []
        for path in sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
            try:
                records.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, RecursionError):
                continue
        return records

    def store_sent(
        self,
        sender: str,
        message: dict[str, Any],
        *,
        source: str,
        save_to_sent_items: bool,
        immutable_id: str | None = None,
        draft_id: str | None = None,
    ) -> dict[str, Any]:
        """Keep an accepted message (JSON + readable HTML); returns the stored record."""
        with self._lock:
            folder = self._box(sender) / "sent"
            folder.mkdir(parents=True, exist_ok=True)
            numbers = [int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()]
            n = max(numbers, default=0) + 1
            rest_id, stable_id = new_rest_id(), immutable_id or new_immutable_id()
            record: dict[str, Any] = {
                "id": rest_id,
                "immutableId": stable_id,
                "draftId": draft_id,
                "received": iso_now(),
                "sender": sender.casefold(),
                "source": source,
                "saveToSentItems": save_to_sent_items,
                "parentFolderId": folder_id(sender, "sentitems"),
                "message": message,
            }
            path = folder / f"{n}.json"
            _atomic_write(path, _dumps(record))
            _atomic_write(folder / f"{n}.html", render_html(record))
            if save_to_sent_items:
                entry = _Entry(sender.casefold(), "sent", path)
                self._index[rest_id] = entry
                self._index[stable_id] = entry
            return record

    def save_draft(
        self, sender: str, message: dict[str, Any], *, immutable: bool
    ) -> dict[str, Any]:
        with self._lock:
            rest_id, stable_id = new_rest_id(), new_immutable_id()
            record: dict[str, Any] = {
                "id": rest_id,
                "immutableId": stable_id,
                "created": iso_now(),
                "sender": sender.casefold(),
                "parentFolderId": folder_id(sender, "drafts"),
                "message": message,
            }
            key = hashlib.sha256(stable_id.encode()).hexdigest()[:32]
            path = self._box(sender) / "drafts" / f"{key}.json"
            _atomic_write(path, _dumps(record))
            entry = _Entry(sender.casefold(), "draft", path)
            self._index[rest_id] = entry
            self._index[stable_id] = entry
            record["responseId"] = stable_id if immutable else rest_id
            return record

    def find(self, sender: str, message_id: str) -> tuple[str, dict[str, Any]] | None:
        """("draft"|"sent", record) for an id in ``sender``'s mailbox, else None."""
        with self._lock:
            entry = self._index.get(message_id)
            if entry is None or entry.sender != sender.casefold():
                return None
            try:
                rec = json.loads(entry.path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                return None
            return entry.kind, rec

    def send_draft(self, sender: str, message_id: str) -> dict[str, Any]:
        """Move a draft to Sent Items (its REST id changes, its immutable id does not)."""
        with self._lock:
            found = self.find(sender, message_id)
            if found is None or found[0] != "draft":
                raise KeyError(message_id)
            _, draft = found
            entry = self._index[message_id]
            record = self.store_sent(
                sender,
                draft["message"],
                source="draft",
                save_to_sent_items=True,
                immutable_id=draft["immutableId"],
                draft_id=draft["id"],
            )
            self._index.pop(draft["id"], None)
            entry.path.unlink(missing_ok=True)
            return record

    def count(self, sender: str, kind: str) -> int:
        with self._lock:
            return len(
                {
                    id(e)
                    for e in self._index.values()
                    if e.sender == sender.casefold() and e.kind == kind
                }
            )


def message_json(kind: str, rec: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The ``microsoft.graph.message`` Graph returns for a stored draft or sent item."""
    msg = rec.get("message", {})
    body = msg.get("body") or {"contentType": "text", "content": ""}
    content = str(body.get("content") or "")
    text = (
        re.sub(r"<[^>]*>", " ", content)
        if str(body.get("contentType", "")).casefold() == "html"
        else content
    )
    sent = kind == "sent"
    created = rec.get("created") or rec.get("received")
    sender = rec.get("sender", "")
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    return {
        "@odata.etag": 'W/"CQAAABYAAAC'
        + hashlib.sha256(message_id.encode()).hexdigest()[:20]
        + '"',
        "id": message_id,
        "createdDateTime": created,
        "lastModifiedDateTime": rec.get("received") or created,
        "changeKey": "CQAAABYAAAC" + hashlib.sha256(message_id.encode()).hexdigest()[:16],
        "categories": msg.get("categories") or [],
        "receivedDateTime": rec.get("received") or created,
        "sentDateTime": rec.get("received") if sent else None,
        "hasAttachments": any(not a.get("isInline") for a in msg.get("attachments") or []),
        "internetMessageId": f"<{digest[:24]}@contoso.example>",
        "subject": msg.get("subject") or "",
        "bodyPreview": " ".join(html.unescape(text).split())[:255],
        "importance": msg.get("importance") or "normal",
        "parentFolderId": rec.get("parentFolderId"),
        "conversationId": "AAQkAGI2"
        + hashlib.sha256(rec.get("immutableId", "").encode()).hexdigest()[:32],
        "isDeliveryReceiptRequested": bool(msg.get("isDeliveryReceiptRequested") or False),
        "isReadReceiptRequested": bool(msg.get("isReadReceiptRequested") or False),
        "isRead": True,
        "isDraft": not sent,
        "webLink": f"https://outlook.sandbox.local/owa/?ItemID={message_id}",
        "inferenceClassification": "focused",
        "body": body,
        "sender": {"emailAddress": {"address": sender}},
        "from": {"emailAddress": {"address": sender}},
        "toRecipients": msg.get("toRecipients") or [],
        "ccRecipients": msg.get("ccRecipients") or [],
        "bccRecipients": msg.get("bccRecipients") or [],
        "replyTo": msg.get("replyTo") or [],
        "flag": {"flagStatus": "notFlagged"},
    }


_CID = re.compile(r"""(?i)(?P<q>["'(])\s*cid:(?P<cid>[^"')\s>]+)""")


def render_html(record: dict[str, Any]) -> str:
    """A stand-alone HTML page of a stored message that a person can open."""
    msg = record.get("message") or {}
    attachments = [a for a in msg.get("attachments") or [] if isinstance(a, dict)]
    by_cid: dict[str, str] = {}
    for att in attachments:
        data = "".join(str(att.get("contentBytes") or "").split())
        uri = f"data:{att.get('contentType') or 'application/octet-stream'};base64,{data}"
        for key in (att.get("contentId"), att.get("name")):
            if isinstance(key, str) and key:
                by_cid.setdefault(key.strip("<>"), uri)
                by_cid.setdefault(key.strip("<>").casefold(), uri)

    def replace(m: re.Match[str]) -> str:
        cid = unquote(m.group("cid")).strip("<>")
        uri = by_cid.get(cid) or by_cid.get(cid.casefold())
        return f"{m.group('q')}{uri}" if uri else m.group(0)

    def people(prop: str) -> str:
        names = []
        for r in msg.get(prop) or []:
            e = (r or {}).get("emailAddress") or {}
            label = (
                f"{e.get('name')} <{e.get('address')}>" if e.get("name") else str(e.get("address"))
            )
            names.append(html.escape(label))
        return ", ".join(names)

    rows = [
        ("From", html.escape(str(record.get("sender", "")))),
        ("Date", html.escape(str(record.get("received", "")))),
    ]
    for label, prop in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Bcc", "bccRecipients")):
        if msg.get(prop):
            rows.append((label, people(prop)))
    rows.append(("Subject", html.escape(str(msg.get("subject") or ""))))
    files = [a for a in attachments if not a.get("isInline")]
    if files:
        links = ", ".join(
            f'<a download="{html.escape(str(a.get("name")))}" href="data:'
            f"{html.escape(str(a.get('contentType') or 'application/octet-stream'))};base64,"
            f'{html.escape("".join(str(a.get("contentBytes") or "").split()))}">'
            f"{html.escape(str(a.get('name')))}</a>"
            for a in files
        )
        rows.append(("Attachments", links))
    header = (
        '<div style="font:13px sans-serif;background:#f3f3f3;border-bottom:1px solid #ccc;'
        'padding:8px;margin-bottom:8px"><table>'
        + "".join(f"<tr><th align=left>{k}:</th><td>{v}</td></tr>" for k, v in rows)
        + "</table></div>"
    )
    body = msg.get("body") or {}
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "text").casefold() != "html":
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
            f"{html.escape(str(msg.get('subject') or ''))}</title></head><body>{header}"
            f'<pre style="white-space:pre-wrap">{html.escape(content)}</pre></body></html>'
        )
    content = _CID.sub(replace, content)
    m = re.search(r"(?is)<body\b[^>]*>", content)
    if m:
        return content[: m.end()] + header + content[m.end() :]
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{html.escape(str(msg.get('subject') or ''))}</title></head>"
        f"<body>{header}{content}</body></html>"
    )

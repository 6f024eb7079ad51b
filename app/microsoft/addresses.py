"""Recipient addresses typed or pasted by the user: syntax checks and list parsing.

People are often not in the directory (customers, partners), so a typed address is
accepted once its syntax is valid: RFC 5322 addresses and international ones (UTF-8 local
parts, IDN domains) through ``email-validator``, **without DNS look-ups** (the check must
work offline and must not leak who the user writes to).

A pasted list such as ``Ann Lee <ann@x.com>; bob@y.org, "Kim, Jo" <jo@z.net>`` is split on
commas, semicolons and line breaks outside quotes and angle brackets. Each item that is not
an address is reported with its reason; the good ones are kept, so nothing the user typed
is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from app.errors import MailError

#: Longer items cannot be addresses (RFC 5321: 254 octets) even with a display name.
MAX_ITEM_CHARS = 1_000


class InvalidAddress(MailError):
    """A typed recipient address is not a valid email address."""


@dataclass(frozen=True)
class Address:
    """One recipient: a display name (may be empty) and a normalized address."""

    address: str
    name: str = ""

    @property
    def key(self) -> str:
        """The identity used to dedupe recipients: the address, case-insensitively."""
        return self.address.casefold()

    def formatted(self) -> str:
        if not self.name:
            return self.address
        name = self.name
        if any(c in name for c in ',;<>@"()[]:\\'):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.address}>"


@dataclass(frozen=True)
class BadItem:
    """A piece of a pasted list that is not an address, and why."""

    text: str
    reason: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"{shown!r}: {self.reason}"


@dataclass
class ParsedList:
    good: list[Address] = field(default_factory=list)
    bad: list[BadItem] = field(default_factory=list)
    #: Items dropped because the same address (ignoring case) came earlier.
    duplicates: list[Address] = field(default_factory=list)


def validate_address(text: str) -> str:
    """The normalized address for ``text``, or InvalidAddress saying what is wrong."""
    candidate = text.strip()
    if not candidate:
        raise InvalidAddress("The address is empty.", hint="Type an address like name@example.com.")
    if len(candidate) > MAX_ITEM_CHARS:
        raise InvalidAddress(
            f"That is not an email address: it is {len(candidate)} characters long.",
            hint="An email address has at most 254 characters.",
        )
    try:
        result = validate_email(
            candidate,
            check_deliverability=False,  # never DNS
            allow_smtputf8=True,
            allow_quoted_local=True,
            allow_domain_literal=False,
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(
            f"{_shorten(candidate)} is not a valid email address: {exc}",
            hint="Check for typos, or pick the person from the suggestions.",
        ) from None
    return str(result.normalized)


def _shorten(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def split_items(text: str) -> list[str]:
    """Split a pasted list on , ; and line breaks outside double quotes.

    Separators inside ``<...>`` are not protected: no valid address contains them, and an
    unclosed ``<`` must not swallow the rest of the list. An unclosed quote likewise only
    affects its own item: the rest is split as if it were not there.
    """
    items: list[str] = []
    buf: list[str] = []
    in_quote = False
    escaped = False
    quote_at = -1  # index in ``text`` of the quote that opened the current quoted part
    item_start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if escaped:
            escaped = False
        elif in_quote:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
            quote_at = i
        elif ch in ",;\n\r":
            items.append("".join(buf))
            buf = []
            item_start = i + 1
            i += 1
            continue
        buf.append(ch)
        i += 1
    if in_quote:
        # Unclosed quote: the item is the text up to the next separator after the quote.
        rest = text[item_start:]
        head, sep, tail = _split_once(rest, quote_at - item_start)
        items.append(head)
        if sep:
            items.extend(split_items(tail))
    else:
        items.append("".join(buf))
    return [i.strip() for i in items if i.strip()]


def _split_once(text: str, start: int) -> tuple[str, str, str]:
    for j in range(max(start, 0), len(text)):
        if text[j] in ",;\n\r":
            return text[:j], text[j], text[j + 1 :]
    return text, "", ""


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        inner = name[1:-1]
        out: list[str] = []
        escaped = False
        for ch in inner:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out).strip()
    if len(name) >= 2 and name[0] == name[-1] == "'":
        return name[1:-1].strip()
    return name


def parse_item(item: str) -> Address:
    """One ``Name <addr>`` or bare address; InvalidAddress when it is neither."""
    item = item.strip()
    if len(item) > MAX_ITEM_CHARS:
        raise InvalidAddress(f"too long to be an address ({len(item)} characters)")
    name = ""
    addr = item
    if item.endswith(">") and "<" in item:
        lt = item.rfind("<")
        name = _unquote(item[:lt])
        addr = item[lt + 1 : -1]
    elif "<" in item or ">" in item:
        raise InvalidAddress("has an unmatched < or >")
    elif item.count('"') % 2:
        raise InvalidAddress("has an unmatched quote")
    addr = addr.strip()
    if addr.lower().startswith("mailto:"):
        addr = addr[7:]
    return Address(address=validate_address(addr), name=name)


def parse_list(text: str) -> ParsedList:
    """Every address in a pasted list; bad items reported with the reason."""
    out = ParsedList()
    seen: set[str] = set()
    for item in split_items(text):
        try:
            addr = parse_item(item)
        except InvalidAddress as exc:
            reason = exc.message
            # The message of validate_address repeats the item; keep the reason only.
            marker = "is not a valid email address: "
            if marker in reason:
                reason = reason.split(marker, 1)[1]
            out.bad.append(BadItem(item, reason))
            continue
        if addr.key in seen:
            out.duplicates.append(addr)
            continue
        seen.add(addr.key)
        out.good.append(addr)
    return out

"""Kaltura Sessions (KS) v2, generated and validated exactly as kSessionBase does
(docs/protocols.md, "Kaltura: KS string format"), plus read-only support for v1 strings.

v2: fields = privileges (``*`` -> ``all:*``) + ``_e`` (absolute expiry), ``_t`` (type),
``_u`` (user), joined with ``http_build_query``; plaintext = sha1(rand16 + fields) (20 raw
bytes) + rand16 + fields; AES-128-CBC with key = sha1(admin secret)[:16], IV = 16 zero
bytes, zero padding; KS = base64("v2|{pid}|" + cipher) with ``+/`` -> ``-_``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SESSION_USER = 0
SESSION_ADMIN = 2


class KSError(Exception):
    """A KS that does not decode or verify; ``sub`` is the kSessionBase (code, name)."""

    def __init__(self, sub: tuple[str, str]) -> None:
        super().__init__(f"{sub[0]},{sub[1]}")
        self.sub = sub


@dataclass(frozen=True)
class KS:
    """A decoded session."""

    partner_id: int
    type: int
    user: str
    expiry: int
    privileges: dict[str, str] = field(default_factory=dict)
    rand: bytes = b""
    raw: str = ""

    @property
    def is_admin(self) -> bool:
        return self.type == SESSION_ADMIN

    def has_privilege(self, name: str, value: str = "*") -> bool:
        if "all" in self.privileges and self.privileges["all"] == "*":
            return True
        got = self.privileges.get(name)
        if got is None:
            return False
        return got == "*" or value in got.split("|")

    def privileges_string(self) -> str:
        return ",".join(f"{k}:{v}" if v else k for k, v in self.privileges.items())


def parse_privileges(privileges: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in (privileges or "").split(","):
        item = raw.strip()
        if not item:
            continue
        if item == "*":
            item = "all:*"
        name, _, value = item.partition(":")
        out[name] = value
    return out


def _key(secret: str) -> bytes:
    return hashlib.sha1(secret.encode("utf-8")).digest()[:16]  # noqa: S324 - the KS format


def generate_v2(
    secret: str,
    partner_id: int,
    *,
    type: int,
    user: str,
    expiry: int,
    privileges: str = "",
    rand: bytes | None = None,
) -> str:
    """A KS v2 string; ``expiry`` is absolute (unix seconds)."""
    fields = parse_privileges(privileges)
    fields["_e"] = str(int(expiry))
    fields["_t"] = str(int(type))
    fields["_u"] = user
    text = urlencode(list(fields.items())).encode("utf-8")
    rnd = rand if rand is not None else os.urandom(16)
    plain = hashlib.sha1(rnd + text).digest() + rnd + text  # noqa: S324 - the KS format
    if len(plain) % 16:
        plain += b"\0" * (16 - len(plain) % 16)
    enc = Cipher(algorithms.AES(_key(secret)), modes.CBC(b"\0" * 16)).encryptor()
    cipher = enc.update(plain) + enc.finalize()
    encoded = base64.b64encode(f"v2|{partner_id}|".encode() + cipher).decode("ascii")
    return encoded.replace("+", "-").replace("/", "_")


def _b64(ks: str) -> bytes:
    text = ks.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KSError(("-1", "INVALID_STR")) from exc


def partner_of(ks: str) -> int:
    """The partner id a KS names, without verifying it."""
    raw = _b64(ks)
    if raw.startswith(b"v2|"):
        pid = raw[3:].split(b"|", 1)[0]
    else:
        try:
            info = raw.split(b"|", 1)[1]
        except IndexError as exc:
            raise KSError(("-1", "INVALID_STR")) from exc
        pid = info.split(b";", 1)[0]
    try:
        return int(pid)
    except ValueError as exc:
        raise KSError(("-1", "INVALID_STR")) from exc


def decode(ks: str, secrets: list[str]) -> KS:
    """Decode and verify a KS (v2 or v1) against the partner's secrets. No expiry check."""
    if not ks or len(ks) > 8192:
        raise KSError(("-1", "INVALID_STR"))
    raw = _b64(ks)
    if raw.startswith(b"v2|"):
        return _decode_v2(raw, ks, secrets)
    return _decode_v1(raw, ks, secrets)


def _decode_v2(raw: bytes, ks: str, secrets: list[str]) -> KS:
    try:
        pid_b, cipher = raw[3:].split(b"|", 1)
        pid = int(pid_b)
    except ValueError as exc:
        raise KSError(("-1", "INVALID_STR")) from exc
    if not cipher or len(cipher) % 16:
        raise KSError(("-1", "INVALID_STR"))
    for secret in secrets:
        dec = Cipher(algorithms.AES(_key(secret)), modes.CBC(b"\0" * 16)).decryptor()
        plain = (dec.update(cipher) + dec.finalize()).rstrip(b"\0")
        if len(plain) < 36:
            continue
        digest, rest = plain[:20], plain[20:]
        if hashlib.sha1(rest).digest() != digest:  # noqa: S324 - the KS format
            continue
        rnd, text = rest[:16], rest[16:]
        try:
            fields = dict(parse_qsl(text.decode("utf-8"), keep_blank_values=True))
            expiry = int(fields.pop("_e"))
            ks_type = int(fields.pop("_t"))
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise KSError(("-1", "INVALID_STR")) from exc
        user = fields.pop("_u", "")
        fields.pop("_m", None)
        fields.pop("_d", None)
        return KS(pid, ks_type, user, expiry, fields, rnd, ks)
    raise KSError(("-1", "INVALID_STR"))


def _decode_v1(raw: bytes, ks: str, secrets: list[str]) -> KS:
    try:
        sig, info_b = raw.split(b"|", 1)
        info = info_b.decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise KSError(("-1", "INVALID_STR")) from exc
    for secret in secrets:
        want = hashlib.sha1((secret + info).encode("utf-8")).hexdigest()  # noqa: S324
        if want.encode() != sig:
            continue
        parts = info.split(";")
        if len(parts) < 6:
            raise KSError(("-1", "INVALID_STR"))
        try:
            pid, expiry, ks_type = int(parts[0]), int(parts[2]), int(parts[3])
        except ValueError as exc:
            raise KSError(("-1", "INVALID_STR")) from exc
        privileges = parse_privileges(parts[6] if len(parts) > 6 else "")
        return KS(pid, ks_type, parts[5], expiry, privileges, parts[4].encode(), ks)
    raise KSError(("-1", "INVALID_STR"))

"""KS v2 generation and validation (docs/protocols.md, "Kaltura: KS string format"), and
reading v1 strings."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.sandbox.kaltura import ks


def test_round_trip_and_star_privilege() -> None:
    s = ks.generate_v2(
        "secret", 100, type=2, user="a@b.c", expiry=2_000_000_000, privileges="*,edit:0_x"
    )
    assert "+" not in s and "/" not in s
    session = ks.decode(s, ["other", "secret"])
    assert (session.partner_id, session.type, session.user, session.expiry) == (
        100,
        2,
        "a@b.c",
        2_000_000_000,
    )
    assert session.privileges == {"all": "*", "edit": "0_x"}
    assert session.has_privilege("anything")


def test_v2_layout_matches_the_server_algorithm() -> None:
    rand = b"r" * 16
    s = ks.generate_v2("sec", 7, type=0, user="u", expiry=123, privileges="view:*", rand=rand)
    raw = base64.b64decode(s.replace("-", "+").replace("_", "/"))
    assert raw.startswith(b"v2|7|")
    key = hashlib.sha1(b"sec").digest()[:16]
    dec = Cipher(algorithms.AES(key), modes.CBC(b"\0" * 16)).decryptor()
    plain = (dec.update(raw[5:]) + dec.finalize()).rstrip(b"\0")
    fields = b"view=%2A&_e=123&_t=0&_u=u"
    assert plain == hashlib.sha1(rand + fields).digest() + rand + fields


def test_wrong_secret_and_tampering_are_invalid_str() -> None:
    s = ks.generate_v2("secret", 100, type=2, user="", expiry=2_000_000_000)
    with pytest.raises(ks.KSError) as wrong:
        ks.decode(s, ["nope"])
    assert wrong.value.sub == ("-1", "INVALID_STR")
    raw = bytearray(base64.b64decode(s.replace("-", "+").replace("_", "/")))
    raw[-1] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode().replace("+", "-").replace("/", "_")
    with pytest.raises(ks.KSError):
        ks.decode(tampered, ["secret"])


def test_v1_is_read() -> None:
    info = "100;100;2000000000;0;12345;bob;view:*"
    sig = hashlib.sha1(("secret" + info).encode()).hexdigest()
    s = base64.b64encode(f"{sig}|{info}".encode()).decode()
    session = ks.decode(s, ["secret"])
    assert (session.partner_id, session.user, session.type, session.privileges) == (
        100,
        "bob",
        0,
        {"view": "*"},
    )
    with pytest.raises(ks.KSError):
        ks.decode(s, ["other"])


@pytest.mark.parametrize(
    "garbage", ["", "%%%", "abc", "djJ8eHx5", base64.b64encode(b"v2|100|" + b"a" * 15).decode()]
)
def test_garbage(garbage: str) -> None:
    with pytest.raises(ks.KSError):
        ks.decode(garbage, ["secret"])

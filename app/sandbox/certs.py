"""The sandbox's own certificate authority and TLS server certificate.

MSAL refuses an ``http://`` authority, so the identity server (and, to keep the app's code
path identical to production, the Graph server) speak HTTPS. :func:`ensure_certificates`
creates a small CA and a server certificate for ``127.0.0.1`` and ``localhost`` under the
data dir the first time, and reuses them on every later start, so a client that trusts
``DIR/ca.pem`` keeps working across restarts. A server certificate that is about to expire,
or that was not issued by the CA on disk, is re-issued from the same CA.

Files (keys are written with mode 0600)::

    DIR/ca.pem                  the CA certificate clients trust
    DIR/certs/ca-key.pem        the CA's private key (only used to re-issue the server cert)
    DIR/certs/server.pem        the server certificate
    DIR/certs/server-key.pem    its private key
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app import system
from app.errors import SandboxError

#: Re-issue the server certificate when it has less than this left.
RENEW_BEFORE = dt.timedelta(days=30)
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=397)  # the longest browsers accept for a leaf


@dataclass(frozen=True)
class CertPaths:
    """Where the sandbox's certificate files are."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    system.replace_file(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    system.replace_file(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Video Messaging sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Video Messaging sandbox CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Video Messaging sandbox"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.IPAddress(ipaddress.IPv6Address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, pub) == key.public_key().public_bytes(enc, pub)


def ensure_certificates(data_dir: Path) -> CertPaths:
    """Create (first run) or reuse the CA and server certificate under ``data_dir``."""
    paths = CertPaths(
        ca_file=data_dir / "ca.pem",
        cert_file=data_dir / "certs" / "server.pem",
        key_file=data_dir / "certs" / "server-key.pem",
    )
    ca_key_file = data_dir / "certs" / "ca-key.pem"
    try:
        ca_cert = _load_cert(paths.ca_file)
        ca_key = _load_key(ca_key_file)
        now = _now()
        if (
            ca_cert is None
            or ca_key is None
            or not _matches(ca_cert, ca_key)
            or ca_cert.not_valid_after_utc - now < RENEW_BEFORE
        ):
            ca_cert, ca_key = _new_ca()
            _write_private(ca_key_file, _key_pem(ca_key))
            _write_public(paths.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
        cert = _load_cert(paths.cert_file)
        key = _load_key(paths.key_file)
        if (
            cert is None
            or key is None
            or not _matches(cert, key)
            or not _issued_by(cert, ca_cert)
            or cert.not_valid_after_utc - now < RENEW_BEFORE
        ):
            cert, key = _new_server(ca_cert, ca_key)
            _write_private(paths.key_file, _key_pem(key))
            _write_public(paths.cert_file, cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise SandboxError(
            f"The sandbox could not write its certificates in {data_dir}: {exc.strerror}.",
            hint="Choose a data directory you can write to.",
        ) from exc
    return paths


def server_ssl_context(paths: CertPaths) -> ssl.SSLContext:
    """A TLS (1.2 or newer) server context for the sandbox's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(paths.cert_file), str(paths.key_file))
    return ctx

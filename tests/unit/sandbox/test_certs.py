"""The sandbox CA and server certificate: created once, reused, repaired, trusted."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509

from app.errors import SandboxError
from app.sandbox.certs import ensure_certificates, server_ssl_context
from tests.helpers import assert_mode


def test_creates_ca_and_server_cert_for_loopback(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    assert paths.ca_file == tmp_path / "ca.pem"
    cert = x509.load_pem_x509_certificate(paths.cert_file.read_bytes())
    ca = x509.load_pem_x509_certificate(paths.ca_file.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.IPv4Address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert_mode(paths.key_file, 0o600)
    assert_mode(tmp_path / "certs" / "ca-key.pem", 0o600)


def test_reused_on_restart_byte_for_byte(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    before = [p.read_bytes() for p in (first.ca_file, first.cert_file, first.key_file)]
    second = ensure_certificates(tmp_path)
    after = [p.read_bytes() for p in (second.ca_file, second.cert_file, second.key_file)]
    assert before == after


def test_damaged_server_cert_is_reissued_from_the_same_ca(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    ca_before = paths.ca_file.read_bytes()
    paths.cert_file.write_text("not a certificate")
    ensure_certificates(tmp_path)
    assert paths.ca_file.read_bytes() == ca_before  # clients that trust the CA keep working
    cert = x509.load_pem_x509_certificate(paths.cert_file.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_before))


def test_lost_ca_key_makes_a_new_ca_and_cert(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    ca_before = paths.ca_file.read_bytes()
    cert_before = paths.cert_file.read_bytes()
    (tmp_path / "certs" / "ca-key.pem").unlink()
    ensure_certificates(tmp_path)
    assert (tmp_path / "certs" / "ca-key.pem").is_file()
    assert paths.ca_file.read_bytes() != ca_before  # a new CA...
    assert paths.cert_file.read_bytes() != cert_before  # ...and a server cert from it
    cert = x509.load_pem_x509_certificate(paths.cert_file.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(paths.ca_file.read_bytes()))


def test_unwritable_dir_is_a_sandbox_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SandboxError) as info:
        ensure_certificates(blocker / "sub")
    assert "certificates" in info.value.message


def test_tls_handshake_verifies_against_the_ca(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    server_ctx = server_ssl_context(paths)
    assert server_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve_once)
    t.start()
    client = ssl.create_default_context(cafile=str(paths.ca_file))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(2) == b"ok"
    t.join(5)

    listener.close()

"""The SMTP transport against a real local SMTP server (aiosmtpd), STARTTLS and TLS."""

from __future__ import annotations

import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.errors import MailError, NetworkError
from app.mail.message import Composition, build_message, make_recipient, parse_address
from app.mail.outbox import Outbox
from app.mail.pump import Pump
from app.mail.transports.smtp import SmtpTransport, to_mime
from app.sandbox.certs import ensure_certificates, server_ssl_context
from tests.unit.mail.conftest import make_gif

USER, PASSWORD = "sam", "correct horse"


@dataclass
class Handler:
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    drop_after_data: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content))
        )
        if self.drop_after_data & set(envelope.rcpt_tos):
            server.transport.abort()  # accepted, but the answer never arrives
        return "250 OK queued"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and (auth_data.password == PASSWORD.encode())
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    handler: Handler
    port: int
    client_ctx: ssl.SSLContext


@pytest.fixture(params=["starttls", "tls"])
def smtp_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Server]]:
    paths = ensure_certificates(tmp_path / "certs")
    server_ctx = server_ssl_context(paths)
    client_ctx = ssl.create_default_context(cafile=str(paths.ca_file))
    handler = Handler()
    port = free_port()
    mode = str(request.param)
    kwargs: dict[str, Any] = {
        "authenticator": authenticator,
        "auth_required": True,
        "decode_data": False,
    }
    if mode == "starttls":
        kwargs.update(tls_context=server_ctx, require_starttls=True)
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    else:
        kwargs["auth_required"] = (
            False  # (with auth_require_tls=False it warns; AUTH is still checked)
        )
        # aiosmtpd cannot tell that an implicit-TLS socket is encrypted, so it would hide
        # AUTH; the connection is TLS from the first byte.
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ssl_context=server_ctx,
            server_hostname="127.0.0.1", auth_require_tls=False, **kwargs,
        )  # fmt: skip
    controller.start()
    try:
        yield mode, Server(handler, port, client_ctx)
    finally:
        controller.stop()


def transport(mode: str, srv: Server, password: str = PASSWORD) -> SmtpTransport:
    return SmtpTransport(
        "127.0.0.1", srv.port, security=mode, username=USER, password=password,
        ssl_context=srv.client_ctx, timeout=10,
    )  # fmt: skip


def link(entry: str, token: str, name: str) -> str:
    return f"https://videos.example/{entry}?t={token}"


def parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def test_fifty_recipients_fifty_wellformed_mime_messages(
    smtp_server: tuple[str, Server], composition: Composition, tmp_path: Path
) -> None:
    mode, srv = smtp_server
    people = [make_recipient(f"r{i}@example.com", display_name=f"Rec{i} Person") for i in range(50)]
    cc = (make_recipient("boss@contoso.example", display_name="Bo Boss"),)
    bcc = (make_recipient("crm@contoso.example"),)
    comp = Composition(**{**composition.__dict__, "cc": cc, "bcc": bcc})
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(comp, people, transport="smtp", entry_id="1_abc")
        Pump(box, transport(mode, srv), link).run()
        assert box.counts(job)["sent"] == 50
        by_addr = {m.recipient.email: m for m in box.messages(job)}
    assert len(srv.handler.messages) == 50
    for rcpts, raw in srv.handler.messages:
        msg = parse(raw)
        assert not msg.defects
        to = msg["To"].addresses
        assert len(to) == 1
        addr = to[0].addr_spec
        assert rcpts == [addr, "boss@contoso.example", "crm@contoso.example"]
        assert msg["Cc"].addresses[0].addr_spec == "boss@contoso.example"
        assert msg["Bcc"] is None  # BCC is envelope-only
        assert msg.get_content_type() == "multipart/alternative"
        plain, related = msg.get_payload()  # type: ignore[misc]
        assert plain.get_content_type() == "text/plain"
        assert related.get_content_type() == "multipart/related"
        html_part, image = related.get_payload()
        assert html_part.get_content_type() == "text/html"
        assert image.get_content_type() == "image/gif"
        assert image["Content-ID"] == "<video-preview>"
        assert image.get_content() == composition.preview.data
        first = addr.split("@")[0].replace("r", "Rec") + ""
        html = html_part.get_content()
        assert f"Hi {first}," in html and f"Hi {first}," in plain.get_content()
        token = by_addr[addr].token
        assert f"t={token}" in html and "cid:video-preview" in html
        assert msg["X-Vmsg-Message-Id"] == by_addr[addr].id
        assert by_addr[addr].remote_id == msg["Message-ID"]


def test_refused_recipient_fails_others_go_out(
    smtp_server: tuple[str, Server], composition: Composition, tmp_path: Path
) -> None:
    mode, srv = smtp_server
    srv.handler.refuse = {"nobody@example.com"}
    people = [
        make_recipient("a@example.com"),
        make_recipient("nobody@example.com"),
        make_recipient("b@example.com"),
    ]
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, people, transport="smtp", entry_id="1_abc")
        Pump(box, transport(mode, srv), link).run()
        states = {m.recipient.email: (m.state, m.retryable, m.reason) for m in box.messages(job)}
    assert states["a@example.com"][0] == "sent" and states["b@example.com"][0] == "sent"
    state, retryable, reason = states["nobody@example.com"]
    assert state == "failed" and not retryable and "550" in reason


def test_answer_lost_after_data_is_unknown(
    smtp_server: tuple[str, Server], composition: Composition, tmp_path: Path
) -> None:
    mode, srv = smtp_server
    srv.handler.drop_after_data = {"lost@example.com"}
    people = [make_recipient("lost@example.com"), make_recipient("next@example.com")]
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, people, transport="smtp", entry_id="1_abc")
        Pump(box, transport(mode, srv), link).run()
        states = {m.recipient.email: m.state for m in box.messages(job)}
    assert states == {"lost@example.com": "unknown", "next@example.com": "sent"}
    # The lost one reached the server exactly once and was not repeated.
    assert sum(1 for r, _ in srv.handler.messages if r == ["lost@example.com"]) == 1


def test_wrong_password_sends_nothing(
    smtp_server: tuple[str, Server], composition: Composition
) -> None:
    mode, srv = smtp_server
    from app.mail.message import build_message

    msg = build_message(
        composition, make_recipient("a@example.com"), "https://v.example/x", local_id="m1"
    )
    with pytest.raises(MailError, match="user name or password"):
        transport(mode, srv, password="wrong").send([msg])
    assert srv.handler.messages == []


def test_unreachable_server_is_a_network_error(composition: Composition) -> None:
    from app.mail.message import build_message

    msg = build_message(
        composition, make_recipient("a@example.com"), "https://v.example/x", local_id="m1"
    )
    t = SmtpTransport("127.0.0.1", free_port(), security="starttls", timeout=2)
    with pytest.raises(NetworkError):
        t.send([msg])


def test_plain_smtp_only_to_loopback() -> None:
    with pytest.raises(MailError, match="without encryption"):
        SmtpTransport("smtp.example.com", 25, security="none")
    SmtpTransport("127.0.0.1", 25, security="none")


def test_mime_headers_cannot_be_injected(composition: Composition) -> None:
    from app.mail.message import build_message

    evil = make_recipient("a@example.com", display_name="Ann\r\nBcc: victim@example.com")
    comp = Composition(**{**composition.__dict__, "subject": "Hi\r\nBcc: victim@example.com"})
    mime = to_mime(build_message(comp, evil, "https://v.example/x", local_id="m1"))
    raw = mime.as_bytes(policy=email.policy.SMTP)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers
    assert parse(raw)["Bcc"] is None
    assert "\n" not in str(mime["Subject"])


def test_password_comes_from_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import secrets

    seen: list[tuple[str, str]] = []

    def fake_fetch(profile: str, key: str) -> str:
        seen.append((profile, key))
        return "pw"

    monkeypatch.setattr(secrets, "fetch", fake_fetch)
    t = SmtpTransport.for_profile(
        "Contoso", host="127.0.0.1", port=587, security="starttls", username="u"
    )
    assert t._password_value() == "pw"
    assert seen == [("Contoso", secrets.SMTP_PASSWORD)]
    # Disconnecting a profile deletes exactly the key the transport reads.
    from app.microsoft.auth import PROFILE_SECRET_KEYS

    assert secrets.SMTP_PASSWORD in PROFILE_SECRET_KEYS


def test_make_gif_helper_is_a_gif() -> None:
    assert make_gif()[:6] == b"GIF89a"


def test_composed_offline_goes_out_when_the_server_appears(
    composition: Composition, tmp_path: Path
) -> None:
    """Queued while the mail server is unreachable and the video is still uploading; sent
    once both are there, without the user doing anything."""
    import threading
    import time

    paths = ensure_certificates(tmp_path / "certs")
    port = free_port()
    handler = Handler()
    client_ctx = ssl.create_default_context(cafile=str(paths.ca_file))
    t = SmtpTransport("127.0.0.1", port, security="starttls", username=USER,
                      password=PASSWORD, ssl_context=client_ctx, timeout=5)  # fmt: skip
    events: list[Any] = []
    with Outbox(tmp_path / "o.db") as box:
        job = box.add_job(composition, [make_recipient("a@example.com")], transport="smtp")
        pump = Pump(box, t, link, on_event=events.append, backoff_base=0.05, max_attempts=50)
        cancel = threading.Event()
        worker = threading.Thread(target=pump.run, kwargs={"cancel": cancel, "job_id": job})
        worker.start()
        box.attach_video(job, "1_abc")  # the upload finished; the network is still down
        pump.wake()
        deadline = time.monotonic() + 10
        while not any(e.kind == "waiting_for_network" for e in events):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, tls_context=server_ssl_context(paths),
            require_starttls=True, authenticator=authenticator, auth_required=True,
        )  # fmt: skip
        controller.start()
        try:
            pump.wake()
            worker.join(timeout=20)
            assert not worker.is_alive()
            assert box.counts(job)["sent"] == 1
        finally:
            cancel.set()
            controller.stop()
    assert len(handler.messages) == 1


class NoEhlo(Handler):
    """An old server: it refuses EHLO, so the client must fall back to HELO."""

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        return ["502 5.5.1 EHLO not supported"]


@pytest.mark.parametrize("handler_class", [Handler, NoEhlo], ids=["ehlo", "helo-only"])
def test_plain_loopback_smtp_greets_before_sending(
    composition: Composition, handler_class: type[Handler]
) -> None:
    """No encryption and no user name (a local relay): the client still says EHLO (or HELO)
    first; aiosmtpd, like any strict server, refuses MAIL FROM before a greeting."""
    handler = handler_class()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), decode_data=False)
    controller.start()
    try:
        smtp = SmtpTransport("127.0.0.1", controller.port, security="none", timeout=10)
        messages = [
            build_message(composition, parse_address(f"p{i}@example.com"), link("1_x", "t", ""))
            for i in range(2)
        ]
        outcomes = smtp.send(messages)
    finally:
        controller.stop()
    assert [o.kind for o in outcomes] == ["sent", "sent"], [o.reason for o in outcomes]
    assert len(handler.messages) == 2

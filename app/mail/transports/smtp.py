"""Sending through an SMTP server (organizations without Microsoft 365).

smtplib with STARTTLS (port 587) or implicit TLS (port 465), certificate verification
on; plain SMTP only to a loopback address (a local relay or a test server). The password
comes from the OS keyring (:mod:`app.secrets`, key ``smtp-password``), never from the
settings file.

Each message is MIME ``multipart/alternative`` (text/plain, then a
``multipart/related`` holding the HTML and the inline preview with its Content-ID). BCC
addresses go in the envelope only. The conversation is driven step by step (MAIL, RCPT,
DATA) so that the one ambiguous moment, the connection dropping after the message body
was sent and before the server's reply, is reported as ``unknown``; a failure before
that is a plain (retryable) failure.
"""

from __future__ import annotations

import email.policy
import email.utils
import ipaddress
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.headerregistry import Address
from email.message import EmailMessage

from app import secrets
from app.errors import Action, MailError, NetworkError
from app.mail.message import OutgoingMessage, Recipient
from app.mail.transports import DraftJournal, Outcome

PASSWORD_KEY = secrets.SMTP_PASSWORD
Security = str  # "starttls" | "tls" | "none"


def _address(r: Recipient) -> Address:
    local, _, domain = r.email.rpartition("@")
    return Address(display_name=r.display_name, username=local, domain=domain)


def to_mime(msg: OutgoingMessage) -> EmailMessage:
    """The message as MIME: alternative(text, related(html, inline images))."""
    mime = EmailMessage(policy=email.policy.SMTP)
    sender = Recipient(email=msg.sender.email, display_name=msg.sender.name)
    mime["From"] = _address(sender)
    mime["To"] = _address(msg.to)
    if msg.cc:
        mime["Cc"] = [_address(r) for r in msg.cc]
    mime["Subject"] = msg.subject
    mime["Date"] = email.utils.formatdate(localtime=True)
    domain = msg.sender.email.rpartition("@")[2] or "localhost"
    mime["Message-ID"] = email.utils.make_msgid(idstring=msg.local_id or None, domain=domain)
    if msg.local_id:
        mime["X-Vmsg-Message-Id"] = msg.local_id
    mime.set_content(msg.text)
    mime.add_alternative(msg.html, subtype="html")
    if msg.images:
        html_part = mime.get_payload()[1]  # type: ignore[index]
        assert isinstance(html_part, EmailMessage)
        for img in msg.images:
            maintype, _, subtype = img.content_type.partition("/")
            html_part.add_related(
                img.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{img.content_id}>",
                filename=img.filename,
                disposition="inline",
            )
    return mime


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpTransport:
    name = "smtp"
    #: Messages per connection; the outbox claims this many at once.
    batch_size = 20

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: Security = "starttls",
        username: str = "",
        password: str | Callable[[], str | None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        if security not in ("starttls", "tls", "none"):
            raise MailError(f"Unknown SMTP security {security!r}.", hint="Use starttls or tls.")
        if security == "none" and not _is_loopback(host):
            raise MailError(
                f"Refusing to send mail to {host} without encryption.",
                hint="Use STARTTLS (port 587) or TLS (port 465).",
            )
        if not host:
            raise MailError("No SMTP server is set.", hint="Enter the SMTP server in Settings.")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.timeout = timeout

    @classmethod
    def for_profile(
        cls, profile: str, *, host: str, port: int, security: str, username: str
    ) -> SmtpTransport:
        """The transport for a profile's mail settings, password from the keyring."""
        return cls(
            host,
            port,
            security=security,
            username=username,
            password=lambda: secrets.fetch(profile, PASSWORD_KEY),
        )

    def _password_value(self) -> str | None:
        pw = self._password
        return pw() if callable(pw) else pw

    def _connect(self) -> smtplib.SMTP:
        try:
            conn: smtplib.SMTP
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.ssl_context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    conn.ehlo()
                    if not conn.has_extn("starttls"):
                        conn.close()
                        raise MailError(
                            f"The SMTP server {self.host} does not offer STARTTLS.",
                            hint="Use implicit TLS (port 465) or ask your mail administrator.",
                        )
                    conn.starttls(context=self.ssl_context)
                    conn.ehlo()
            # Greet in every mode (EHLO, else HELO): a strict server refuses MAIL FROM from
            # a client that never said who it is (RFC 5321 section 4.1.4).
            conn.ehlo_or_helo_if_needed()
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise NetworkError(
                f"The secure connection to the SMTP server {self.host} failed: {exc}.",
                hint="Check the server name and port, and that its certificate is valid.",
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise NetworkError(
                f"The SMTP server {self.host}:{self.port} could not be reached: {exc}.",
                hint="Check your connection and the server settings.",
            ) from exc
        if self.username:
            password = self._password_value()
            if not password:
                conn.close()
                raise MailError(
                    "No SMTP password is stored for this profile.",
                    hint="Enter it in Settings > Email Settings > Password (it is kept in "
                    "the system's secure storage).",
                    action=Action.OPEN_SETTINGS,
                )
            try:
                conn.login(self.username, password)
            except smtplib.SMTPNotSupportedError as exc:
                conn.close()
                raise MailError(
                    f"The SMTP server {self.host} does not accept a sign-in (no AUTH).",
                    hint="Clear the SMTP user name, or check the server and port in Settings.",
                ) from exc
            except smtplib.SMTPAuthenticationError as exc:
                conn.close()
                raise MailError(
                    f"The SMTP server refused the user name or password ({exc.smtp_code}).",
                    hint="Check the SMTP user name and password in Settings.",
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                conn.close()
                raise NetworkError(f"Signing in to the SMTP server failed: {exc}.") from exc
        return conn

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        exactly_once: bool = False,
        drafts: dict[str, tuple[str, bool]] | None = None,
        journal: DraftJournal | None = None,
    ) -> list[Outcome]:
        if not messages:
            return []
        conn = self._connect()  # NetworkError/MailError: nothing was sent
        outcomes: list[Outcome] = []
        broken = ""
        try:
            for msg in messages:
                if broken:
                    outcomes.append(Outcome(msg.local_id, "failed", reason=broken))
                    continue
                outcome, broken = self._send_one(conn, msg)
                outcomes.append(outcome)
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
        return outcomes

    def _send_one(self, conn: smtplib.SMTP, msg: OutgoingMessage) -> tuple[Outcome, str]:
        """(outcome, "" or why the connection cannot be used any more)."""
        mime = to_mime(msg)
        rcpts = [msg.to.email] + [r.email for r in msg.cc] + [r.email for r in msg.bcc]
        lost = "the connection to the SMTP server was lost"
        try:
            code, resp = conn.mail(msg.sender.email)
            if code != 250:
                conn.rset()
                return self._refused(msg, code, resp, "the sender address"), ""
            code, resp = conn.rcpt(msg.to.email)
            if code not in (250, 251):
                conn.rset()
                return self._refused(msg, code, resp, msg.to.email), ""
            for extra in rcpts[1:]:
                conn.rcpt(extra)  # a refused CC/BCC does not stop the recipient's email
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            return Outcome(msg.local_id, "failed", reason=f"{lost}: {exc}"), lost
        data = mime.as_bytes(policy=email.policy.SMTP)
        try:
            conn.data(data)
        except smtplib.SMTPDataError as exc:
            return self._refused(msg, exc.smtp_code, exc.smtp_error, "the message"), ""
        except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as exc:
            return (
                Outcome(
                    msg.local_id,
                    "unknown",
                    reason=f"the message was handed over but the server did not confirm: {exc}",
                ),
                lost,
            )
        return Outcome(msg.local_id, "sent", remote_id=str(mime["Message-ID"])), ""

    @staticmethod
    def _refused(msg: OutgoingMessage, code: int, resp: bytes | str, what: str) -> Outcome:
        text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else resp
        return Outcome(
            msg.local_id,
            "failed",
            reason=f"the SMTP server refused {what}: {code} {text}".strip(),
            retryable=400 <= code < 500,
        )

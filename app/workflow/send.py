"""Sending a video message to one person or thirty: :class:`SendSession`.

::

    request = SendRequest.build(video, to=["Ann <ann@x.example>"], note="Hi!")
    session = SendSession(services, request, on_event=show)
    session.prepare()          # every check; no server touched, nothing uploaded
    result = session.run()     # one personal message per recipient, per-recipient events

:meth:`SendSession.prepare` checks everything a person can get wrong before anything
happens: the addresses and the button link (already in :meth:`SendRequest.build`), the
template, the video file, the administrator's policy, the transport's settings, the
preview's size, and every recipient's message rendered once. :meth:`SendSession.run` then
signs in, queues one message per recipient in the outbox (so nothing is lost if the app
stops), gets the video into Kaltura (the take's own entry, an earlier upload of the same
file by the same account, an interrupted upload resumed, or a new upload, all through
:class:`~app.workflow.uploads.UploadRecipe`) and sends each message as soon as the link
exists. ``cancel`` stops it: the upload is suspended (it resumes when the same video is
sent again) and the messages not sent yet are withdrawn.

A send is identified by what it sends (:meth:`SendSession.fingerprint`: the profile, the
video's content, the recipients, subject, note, template, button, title). Running the same
send again resumes its job (:meth:`SendSession.previous` tells a front end before it asks):
only what did not go out is sent, what went out or may have gone out is never sent twice,
and the result says so (:attr:`SendResult.resumed`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import AppError, MailError
from app.kaltura.uploader import EntryMetadata
from app.mail.message import (
    Composition,
    Cta,
    OutgoingMessage,
    Preview,
    Recipient,
    Sender,
    build_message,
    check_cta,
    hosted_preview,
    inline_preview,
    parse_address,
    validate,
)
from app.mail.outbox import Job, Outbox, OutboxMessage, Resumed
from app.mail.pump import LinkBuilder, OutboxEvent, Pump
from app.mail.templates import TemplateCatalog
from app.workflow.events import Notice, OnEvent, safe_callback
from app.workflow.uploads import CONTENT_TIMEOUT, check_video

if TYPE_CHECKING:
    from app.mail.transports import Transport
    from app.workflow.services import Services

log = logging.getLogger(__name__)

#: Messages claimed by an older version (no owner recorded) and left "sending" this long
#: ago are settled when a send starts; claims that name their owner are settled as soon as
#: that process is gone.
STALE_SENDING_SECONDS = 600.0
DEFAULT_TEMPLATE = "personal-note"


@dataclass
class SendRequest:
    """What the user asked for, checked: nothing here can fail later for bad input."""

    video: Path
    to: list[Recipient]
    cc: tuple[Recipient, ...] = ()
    bcc: tuple[Recipient, ...] = ()
    #: A subject template; None: the template's own.
    subject: str | None = None
    note: str = ""
    #: "" means the profile's default template.
    template: str = ""
    cta: Cta | None = None
    title: str = ""
    #: A line on the preview's first frame (desktop Outlook shows only that frame).
    preview_text: str = ""
    #: "graph" or "smtp"; "" means the profile's.
    transport: str = ""
    #: The From address for SMTP ("" means the SMTP user name).
    sender_address: str = ""
    #: The take's entry when it was uploaded while recording ("" to upload ``video``).
    entry_id: str = ""
    #: The signature under the message; None: the profile's.
    signature_html: str | None = None

    @classmethod
    def build(
        cls,
        video: Path | str,
        *,
        to: list[str],
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
        cta_label: str = "",
        cta_url: str = "",
        title: str = "",
        **rest: Any,
    ) -> SendRequest:
        """Check what a person typed. Raises MailError naming the first problem."""
        recipients = [parse_address(a, what="recipient") for a in to]
        if not recipients:
            raise MailError("There is nobody to send to.", hint="Add at least one recipient.")
        copies = tuple(parse_address(a, what="CC address") for a in cc or [])
        blind = tuple(parse_address(a, what="BCC address") for a in bcc or [])
        if bool(cta_label) != bool(cta_url):
            raise MailError(
                "A button needs both a label and a link.",
                hint='For example the label "Book a meeting" and https://cal.example.com/me',
            )
        cta = check_cta(cta_label, cta_url) if cta_label else None
        path = Path(video).expanduser()
        title = title or path.stem.replace("_", " ").replace("-", " ").strip() or "Video"
        return cls(video=path, to=recipients, cc=copies, bcc=blind, cta=cta, title=title, **rest)


@dataclass
class SendResult:
    """Where each recipient's message stands at the end of :meth:`SendSession.run`."""

    messages: list[OutboxMessage]
    entry_id: str
    #: The video was already in Kaltura (the take's entry or an earlier upload).
    reused_upload: bool
    #: This send was run before: where that earlier run stood when this one started.
    resumed: Resumed | None = None

    @property
    def all_sent(self) -> bool:
        return all(m.state == "sent" for m in self.messages)

    @property
    def any_unknown(self) -> bool:
        return any(m.state == "unknown" for m in self.messages)


@dataclass
class _Checked:
    """What prepare() settled, for run()."""

    template: str
    transport: str
    exactly_once: bool
    hosted: bool
    duration: float
    preview: Preview
    fingerprint: str
    catalog: TemplateCatalog = field(default_factory=TemplateCatalog)


_previews: dict[tuple[str, int, int, str], Preview] = {}
_previews_lock = threading.Lock()


def make_preview(video: Path, text: str = "") -> Preview:
    """The animated GIF preview of the take, checked (<= 1 MB) before anything is sent.

    ``text`` goes on the first frame (desktop Outlook shows only that one). One GIF is
    shared by every recipient: a personal first frame costs ~1 s of encoding per
    recipient (benchmarks/send.py ``first_frame``), so it is not the default. The last few
    previews are kept (by file, size, modification time and text): a window that shows the
    email while the person types asks again and again for the same one.
    """
    from app.mail.text import clean_line  # noqa: PLC0415
    from app.recorder.media import gif_preview  # noqa: PLC0415 - PyAV/OpenCV are heavy

    text = clean_line(text, max_chars=40)
    key: tuple[str, int, int, str] | None
    try:
        st = video.stat()
        key = (str(video.resolve()), st.st_size, st.st_mtime_ns, text)
    except OSError:
        key = None  # gif_preview says what is wrong with the file
    with _previews_lock:
        cached = _previews.get(key) if key is not None else None
    if cached is not None:
        return cached
    preview = inline_preview(gif_preview(video, first_frame_text=text))
    if key is not None:
        with _previews_lock:
            while len(_previews) >= 4:
                _previews.pop(next(iter(_previews)))
            _previews[key] = preview
    return preview


def hosted_size(video: Path, width: int = 480) -> tuple[int, int]:
    """The hosted thumbnail's size: ``width`` wide, the video's aspect ratio (16:9 if unknown)."""
    from app.recorder.media import probe  # noqa: PLC0415

    try:
        info = probe(video)
        w, h = info.width, info.height
    except AppError:
        w, h = 16, 9
    if w <= 0 or h <= 0:
        w, h = 16, 9
    return width, max(16, round(width * h / w / 2) * 2)


#: Stands in for the sender while checking (the real one needs a server: /me).
_PROVISIONAL_SENDER = Sender(email="sender@example.invalid", name="Sender")


class SendSession:
    """One send: ``prepare()`` then ``run()`` (see the module docstring)."""

    def __init__(
        self, services: Services, request: SendRequest, *, on_event: OnEvent | None = None
    ) -> None:
        self.services = services
        self.request = request
        self.emit = safe_callback(on_event)
        self._checked: _Checked | None = None

    # ------------------------------------------------------------------ prepare

    def prepare(self) -> None:
        """Every check that needs no server. Raises the first problem as an AppError."""
        services, request = self.services, self.request
        catalog = TemplateCatalog()
        template = request.template or services.mail_defaults.template or DEFAULT_TEMPLATE
        catalog.info(template)  # an unknown or unsafe template name
        duration = check_video(request.video, max_mb=services.profile.kaltura.max_upload_mb)
        services.require_valid_policy()
        transport = services.transport_kind(request.transport)
        if transport == "smtp":
            services.check_smtp(request.sender_address)
        exactly_once = bool(services.settings.exactly_once_sending) and transport != "smtp"
        hosted = bool(services.profile.kaltura.hosted_preview_images)
        preview = (
            hosted_preview("https://example.invalid/thumbnail.jpg")
            if hosted
            else make_preview(request.video, request.preview_text)
        )
        checked = _Checked(
            template,
            transport,
            exactly_once,
            hosted,
            duration,
            preview,
            self._fingerprint(template, transport),
            catalog,
        )
        # Every recipient is rendered now: a bad template or name fails before any upload.
        validate(self._composition(checked, _PROVISIONAL_SENDER), request.to, catalog=catalog)
        self._checked = checked

    def _fingerprint(self, template: str, transport: str) -> str:
        """What this send sends, as one id: the same send run twice has the same one."""
        r = self.request

        def who(people: Sequence[Recipient]) -> list[list[str]]:
            return [[p.email.lower(), p.display_name] for p in people]

        described = {
            "profile": self.services.profile_name,
            "transport": transport,
            "to": who(r.to),
            "cc": who(r.cc),
            "bcc": who(r.bcc),
            "subject": r.subject,
            "note": r.note,
            "template": template,
            "cta": [r.cta.label, r.cta.url] if r.cta else None,
            "title": r.title,
            "preview_text": r.preview_text,
            "signature_html": r.signature_html,
            "entry_id": r.entry_id,
            "sender_address": r.sender_address,
        }
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8"))
        with open(r.video, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
        return digest.hexdigest()

    @property
    def fingerprint(self) -> str:
        """The send's identity (after :meth:`prepare`)."""
        if self._checked is None:
            self.prepare()
        assert self._checked is not None
        return self._checked.fingerprint

    def previous(self) -> Job | None:
        """An earlier run of this very send, if the outbox has one (a front end offers to
        resume it; :meth:`run` always resumes it rather than sending twice)."""
        return self.services.outbox().find_job(self.fingerprint)

    def draft(
        self, *, sender: Sender | None = None, entry_id: str = "", recipient: int = 0
    ) -> OutgoingMessage:
        """The email exactly as recipient number ``recipient`` will get it (for a preview
        before sending): the real template, note, preview and signature, with the link of
        ``entry_id`` (or of the take's entry) when there is one, else a placeholder. Needs no
        sign-in: without ``sender`` a stand-in is shown. Raises what :meth:`prepare` raises."""
        if self._checked is None:
            self.prepare()
        checked = self._checked
        assert checked is not None
        r = self.request
        who = r.to[min(max(recipient, 0), len(r.to) - 1)]
        if sender is None:
            sender = replace(_PROVISIONAL_SENDER, name="You", email="you@example.invalid")
            if r.signature_html is not None:
                sender = replace(sender, signature_html=r.signature_html)
            else:
                sender = replace(sender, signature_html=self.services.mail_defaults.signature_html)
        entry = entry_id or r.entry_id
        link = (
            self.services.landing_url(entry, token="preview", name=who.display_name)
            if entry
            else "https://example.invalid/v/preview"
        )
        return build_message(
            self._composition(checked, sender), who, link, token="preview", catalog=checked.catalog
        )

    def _composition(self, checked: _Checked, sender: Sender) -> Composition:
        r = self.request
        return Composition(
            sender=sender,
            video_title=r.title,
            template=checked.template,
            note=r.note,
            subject=r.subject,
            cta=r.cta,
            cc=r.cc,
            bcc=r.bcc,
            preview=checked.preview,
            duration_seconds=checked.duration,
        )

    # ------------------------------------------------------------------ run

    def run(self, cancel: threading.Event | None = None) -> SendResult:
        """Send one message per recipient; returns where each stands."""
        if self._checked is None:
            self.prepare()
        checked = self._checked
        assert checked is not None
        cancel = cancel or threading.Event()
        services, request = self.services, self.request
        with services.activity(cancel):
            transport, sender = services.transport(
                checked.transport,
                sender_address=request.sender_address,
                signature_html=request.signature_html,
                cancel=cancel,
            )
            composition = self._composition(checked, sender)
            validate(composition, request.to, catalog=checked.catalog)
            recipe = services.uploads()
            recipe.session.ks()  # wrong Kaltura settings are reported before queuing
            outbox = services.outbox()
            outbox.recover(older_than=STALE_SENDING_SECONDS)  # a dead sender's claims
            previous = outbox.find_job(checked.fingerprint)
            resumed = outbox.resume_job(previous.id) if previous is not None else None
            if resumed is not None:
                self.emit(Notice(_resumed_text(resumed)))
            reused = False
            entry_id = (previous.entry_id or "") if previous is not None else ""

            def upload() -> str:
                nonlocal reused
                if request.entry_id:
                    self._check_entry(request.entry_id, cancel)
                    reused = True
                    return request.entry_id
                self.emit(Notice(f"uploading {request.video.name}"))
                done = recipe.upload_file(
                    request.video,
                    EntryMetadata(name=request.title),
                    cancel=cancel,
                    listener=self.emit,  # upload progress, for the front end to show
                )
                reused = done.reused
                return done.entry_id

            if checked.hosted and not entry_id:
                # The thumbnail URL needs the entry: upload first, then compose with it.
                entry_id = upload()
                width, height = hosted_size(request.video)
                thumb = services.thumbnail_url(entry_id, width=width, height=height)
                composition = replace(
                    composition, preview=hosted_preview(thumb, width=width, height=height)
                )
            rows = send_job(
                outbox,
                composition,
                request.to,
                transport=transport,
                link_for=services.landing_url,
                upload=(lambda: entry_id) if entry_id else upload,
                exactly_once=checked.exactly_once,
                on_event=self._on_outbox_event,
                cancel=cancel,
                fingerprint=checked.fingerprint,
                job_id=previous.id if previous is not None else None,
                profile=services.profile_name,
            )
            job_entry = outbox.job(rows[0].job_id).entry_id if rows else None
        return SendResult(rows, job_entry or entry_id, reused or bool(previous), resumed)

    def _check_entry(self, entry_id: str, cancel: threading.Event) -> None:
        """The take's entry has its content (its upload finished, maybe just now)."""
        from app.kaltura import entries  # noqa: PLC0415

        recipe = self.services.uploads()
        entries.wait_for(
            recipe.session, entry_id, lambda e: e.has_content, timeout=CONTENT_TIMEOUT,
            cancel=cancel,
        )  # fmt: skip

    def _on_outbox_event(self, event: OutboxEvent) -> None:
        self.emit(event)


def send_job(
    outbox: Outbox,
    composition: Composition,
    recipients: Sequence[Recipient],
    *,
    transport: Transport,
    link_for: LinkBuilder,
    upload: Callable[[], str],
    exactly_once: bool,
    on_event: Callable[[OutboxEvent], None] | None = None,
    cancel: threading.Event | None = None,
    fingerprint: str = "",
    job_id: str | None = None,
    profile: str = "",
) -> list[OutboxMessage]:
    """Queue the messages, upload, attach the link, send; the job's rows at the end.

    The messages are in the outbox before the upload starts (composed while it runs);
    if the upload fails or is interrupted they are withdrawn, so nothing is left waiting
    for a video that will never come, and sending again resumes the upload. ``job_id``
    continues an existing job (resumed by the caller) instead of queuing a new one.
    """
    job = job_id or outbox.add_job(
        composition,
        recipients,
        transport=transport.name,
        exactly_once=exactly_once,
        fingerprint=fingerprint,
        profile=profile,
    )
    if not outbox.job(job).entry_id:
        try:
            entry_id = upload()
        except BaseException:
            outbox.cancel_job(job)
            raise
        outbox.attach_video(job, entry_id)
    Pump(outbox, transport, link_for, on_event=on_event).run(cancel, job_id=job)
    return outbox.messages(job)


def _resumed_text(resumed: Resumed) -> str:
    """What to tell the user when the same send is run again."""
    parts = [f"this send was started before: {resumed.sent} already sent"]
    if resumed.unknown:
        parts.append(f"{resumed.unknown} may have gone out (not sent again; check Sent Items)")
    if resumed.in_flight:
        parts.append(f"{resumed.in_flight} being sent by another window")
    parts.append(f"{resumed.to_send} to send now" if resumed.to_send else "nothing left to send")
    return "; ".join(parts)


def send_due(
    services: Services,
    *,
    message_id: str = "",
    on_event: OnEvent | None = None,
    cancel: threading.Event | None = None,
) -> DueResult:
    """Send what is due in the outbox now: this profile's sends only (the outbox is
    shared, and only a send's own profile may sign in and link for it); with
    ``message_id``, only that message's send. Says how many of them went out and how
    many did not."""
    emit = safe_callback(on_event)
    cancel = cancel or threading.Event()
    with services.activity(cancel):
        services.require_valid_policy()
        outbox = services.outbox()
        if message_id:
            jobs = [require_own(services, message_id)]
        else:
            jobs = [j for j in outbox.jobs() if belongs_to(j, services.profile_name)]
        due = [j for j in jobs if j.entry_id and _has_due(outbox.counts(j.id))]
        wanted = {
            m.id for j in due for m in outbox.messages(j.id) if m.state in ("queued", "failed")
        }
        transports: dict[str, Transport] = {}
        for job in due:
            if cancel.is_set():
                break
            if job.transport not in transports:
                transports[job.transport], _sender = services.transport(
                    job.transport, cancel=cancel
                )
            pump = Pump(outbox, transports[job.transport], services.landing_url, on_event=emit)
            pump.drain(cancel, job_id=job.id)
        after = [outbox.message(i).state for i in wanted]
        return DueResult(
            sent=after.count("sent"),
            not_sent=sum(1 for state in after if state not in ("sent", "cancelled")),
        )


@dataclass(frozen=True)
class DueResult:
    """What :func:`send_due` did with the messages that were due when it started."""

    sent: int
    #: Still not sent: waiting for a retry, failed, or their fate unknown.
    not_sent: int


def waiting(services: Services) -> int:
    """This profile's messages that wait for nothing but a sender: queued, with their
    video there (a send was cancelled, or the app closed mid-send)."""
    outbox = services.outbox()
    return sum(
        outbox.counts(j.id)["queued"]
        for j in outbox.jobs()
        if j.entry_id and belongs_to(j, services.profile_name)
    )


def _has_due(counts: dict[str, int]) -> bool:
    """Queued messages, or failed ones the pump may retry (it decides which are due)."""
    return bool(counts.get("queued") or counts.get("failed"))


def require_own(services: Services, message_id: str) -> Job:
    """The message's send, if this profile may send it; else MailError saying whose it is
    (checked before anything about the message changes)."""
    outbox = services.outbox()
    job = outbox.job(outbox.message(message_id).job_id)
    if not belongs_to(job, services.profile_name):
        raise MailError(
            f'This message was sent from the profile "{job.profile}".',
            hint=f'Switch to "{job.profile}" to send it.',
        )
    return job


def belongs_to(job: Job, profile: str) -> bool:
    """Whether ``profile`` may send ``job``'s messages. Jobs from before profiles were
    recorded ("") belong to whichever profile is open, as they always did."""
    return not job.profile or job.profile == profile


__all__ = [
    "STALE_SENDING_SECONDS",
    "DueResult",
    "SendRequest",
    "SendResult",
    "SendSession",
    "belongs_to",
    "hosted_size",
    "make_preview",
    "require_own",
    "send_due",
    "send_job",
    "waiting",
]

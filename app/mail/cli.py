"""``vmsg send``, ``vmsg outbox`` and ``vmsg demo``: personal video emails from a terminal.

``vmsg send VIDEO --to ADDR ...`` checks everything first (addresses, button link,
template, preview size), queues one message per recipient in the outbox while the video
uploads (or reuses an earlier upload of the same file), then sends as soon as the link
exists, printing one JSON line per recipient: ``{"address", "state", "message_id" or
"error", "landing_url"}``. Progress goes to stderr.

``vmsg outbox`` lists what did not go out (with what to do about it), ``--resend ID`` /
``--mark-sent ID`` settle a message whose fate is unknown, ``--send`` sends what is due.

``vmsg demo`` records 5 s from the synthetic camera and microphone, starts a throwaway
sandbox, sends the take to three seeded recipients and prints where to open the emails
and the landing pages. Nothing outside its temporary folder is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.errors import AppError, MailError, SignInRequired
from app.mail.message import (
    Composition,
    Cta,
    Preview,
    Recipient,
    Sender,
    check_cta,
    hosted_preview,
    inline_preview,
    parse_address,
    validate,
)
from app.mail.outbox import Outbox, OutboxMessage
from app.mail.pump import OutboxEvent, Pump
from app.mail.templates import TemplateCatalog

#: Messages left "sending" this long ago by a process that died are marked unknown when
#: the CLI starts (a running app's in-flight messages are younger than this).
STALE_SENDING_SECONDS = 600.0


def _say(text: str) -> None:
    print(f"vmsg: {text}", file=sys.stderr, flush=True)


@dataclass
class SendRequest:
    """What the user asked for, checked: nothing here can fail later for bad input."""

    video: Path
    to: list[Recipient]
    cc: tuple[Recipient, ...]
    bcc: tuple[Recipient, ...]
    subject: str | None
    note: str
    template: str
    cta: Cta | None
    title: str


def parse_request(args: argparse.Namespace, *, default_template: str) -> SendRequest:
    """Check the command line. Raises MailError naming the first problem."""
    to = [parse_address(a, what="recipient") for a in args.to or []]
    if not to:
        raise MailError("There is nobody to send to.", hint="Add --to ADDRESS (once per person).")
    cc = tuple(parse_address(a, what="CC address") for a in args.cc or [])
    bcc = tuple(parse_address(a, what="BCC address") for a in args.bcc or [])
    if bool(args.cta_label) != bool(args.cta_url):
        raise MailError(
            "A button needs both --cta-label and --cta-url.",
            hint='For example: --cta-label "Book a meeting" --cta-url https://cal.example.com/me',
        )
    cta = check_cta(args.cta_label, args.cta_url) if args.cta_label else None
    video = Path(args.video).expanduser()
    return SendRequest(
        video=video,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=args.subject,
        note=args.note or "",
        template=args.template or default_template,
        cta=cta,
        title=args.title or video.stem.replace("_", " ").replace("-", " ").strip() or "Video",
    )


def make_preview(video: Path, text: str = "") -> Preview:
    """The animated GIF preview of the take, checked (<= 1 MB) before anything is sent.

    ``text`` goes on the first frame (desktop Outlook shows only that one). One GIF is
    shared by every recipient: a personal first frame costs ~1 s of encoding per
    recipient (benchmarks/send.py ``first_frame``), so it is not the default.
    """
    from app.mail.text import clean_line  # noqa: PLC0415
    from app.recorder.media import gif_preview  # noqa: PLC0415 - PyAV/OpenCV are heavy

    return inline_preview(gif_preview(video, first_frame_text=clean_line(text, max_chars=40)))


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


def result_line(row: OutboxMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": row.recipient.email,
        "state": row.state,
        "landing_url": row.landing_url,
    }
    if row.state == "sent":
        out["message_id"] = row.remote_id or row.id
    else:
        out["error"] = row.reason or row.state
        if row.hint:
            out["hint"] = row.hint
    return out


def _print_event(event: OutboxEvent) -> None:
    if event.kind == "message" and event.state in ("sent", "failed", "unknown", "queued"):
        why = f" ({event.reason})" if event.reason and event.state != "sent" else ""
        _say(f"{event.address}: {event.state}{why}")
    elif event.kind == "waiting_for_network":
        _say(f"offline, will retry: {event.reason}")
    elif event.kind == "waiting_for_video":
        _say("waiting for the video link")


# --------------------------------------------------------------------------- upload


def video_key(scope: str, video: Path) -> str:
    """Identifies one version of a video file for one Kaltura account (upload reuse)."""
    path = video.resolve()
    st = path.stat()
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(1 << 20)).hexdigest()
    return f"{scope}|{path}|{st.st_size}|{st.st_mtime_ns}|{head}"


def upload_video(
    session: Any,
    video: Path,
    title: str,
    *,
    outbox: Outbox | None = None,
    scope: str = "",
    state_dir: Path | None = None,
) -> tuple[str, bool]:
    """(entry id, reused): the entry of an earlier upload of this very file, or a new one."""
    from app.kaltura import entries  # noqa: PLC0415
    from app.kaltura.cli import uploads_dir  # noqa: PLC0415
    from app.kaltura.uploader import EntryMetadata, Uploader, UploadEvent  # noqa: PLC0415

    key = video_key(scope, video) if outbox is not None else ""
    known = outbox.find_upload(key) if outbox is not None else None
    if known:
        try:
            entries.wait_for(session, known, lambda e: e.has_content, timeout=10)
            return known, True
        except (AppError, TimeoutError):
            pass  # deleted or broken on the server: upload again

    def progress(ev: UploadEvent) -> None:
        if ev.kind == "retrying":
            _say(f"upload: {ev.message}; retrying in {ev.retry_in or 0:.1f} s")

    uploader = Uploader(session, state_dir=state_dir or uploads_dir(), on_event=progress)
    job = uploader.begin(video.resolve(), EntryMetadata(name=title))
    result = job.wait()
    entries.wait_for(session, result.entry_id, lambda e: e.has_content, timeout=120)
    if outbox is not None:
        outbox.remember_upload(key, result.entry_id)
    return result.entry_id, False


# --------------------------------------------------------------------------- sending


def send_job(
    outbox: Outbox,
    composition: Composition,
    recipients: Sequence[Recipient],
    *,
    transport: Any,
    link_for: Callable[[str, str, str], str],
    upload: Callable[[], str],
    exactly_once: bool,
    on_event: Callable[[OutboxEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[OutboxMessage]:
    """Queue the messages, upload, attach the link, send; the job's rows at the end.

    The messages are in the outbox before the upload starts (composed while it runs);
    if the upload fails or is interrupted they are withdrawn, so nothing is left waiting
    for a video that will never come, and running the command again resumes the upload.
    """
    job = outbox.add_job(
        composition, recipients, transport=transport.name, exactly_once=exactly_once
    )
    try:
        entry_id = upload()
    except BaseException:
        # A command-line run that stops here leaves nothing waiting behind it: the user
        # runs the command again (the upload resumes); the app's own jobs persist instead.
        outbox.cancel_job(job)
        raise
    outbox.attach_video(job, entry_id)
    pump = Pump(outbox, transport, link_for, on_event=on_event)
    pump.run(cancel, job_id=job)
    return outbox.messages(job)


def _graph_session(args: argparse.Namespace, ep: Any) -> Any:
    from app.microsoft.cli import open_session  # noqa: PLC0415

    session = open_session(args.profile, device_code=bool(ep.is_sandbox))
    if session.signin.account() is None:
        if not ep.is_sandbox:
            raise SignInRequired(
                "You are not signed in to Microsoft 365 in this profile.",
                hint="Sign in first (vmsg login), then send again.",
            )
        _say("signing in to the sandbox")
        session.signin.sign_in(device_code=True)
    return session


def open_transport(
    args: argparse.Namespace, ep: Any, mail_defaults: Any, *, use_smtp: bool
) -> tuple[Any, Sender]:
    """The profile's transport (signed in) and the sender it sends as."""
    from app.mail.transports.graph import GraphTransport  # noqa: PLC0415
    from app.mail.transports.smtp import SmtpTransport  # noqa: PLC0415

    if use_smtp:
        if mail_defaults is None or not mail_defaults.smtp_host:
            raise MailError("No SMTP server is set.", hint="Set it in the profile's mail settings.")
        sender_email = getattr(args, "sender", None) or mail_defaults.smtp_username
        if not sender_email:
            raise MailError("No sender address for SMTP.", hint="Pass --sender ADDRESS.")
        sender = Sender(email=sender_email, signature_html=mail_defaults.signature_html)
        transport = SmtpTransport.for_profile(
            ep.profile_name,
            host=mail_defaults.smtp_host,
            port=mail_defaults.smtp_port,
            security=mail_defaults.smtp_security,
            username=mail_defaults.smtp_username,
        )
        return transport, sender
    graph_session = _graph_session(args, ep)
    me = graph_session.graph.get_json(
        "/me", params={"$select": "displayName,mail,userPrincipalName,jobTitle"}
    )
    sender = Sender(
        email=str(me.get("mail") or me.get("userPrincipalName") or ""),
        name=str(me.get("displayName") or ""),
        title=str(me.get("jobTitle") or ""),
        signature_html=mail_defaults.signature_html if mail_defaults else "",
    )
    return GraphTransport(graph_session.graph), sender


def cmd_outbox(args: argparse.Namespace) -> int:
    """List the outbox; resend or mark as sent a message whose fate was unknown."""
    from app import endpoints  # noqa: PLC0415
    from app.kaltura import links  # noqa: PLC0415

    with Outbox() as outbox:
        if args.mark_sent:
            outbox.mark_sent(args.mark_sent)
            _say(f"marked as sent: {args.mark_sent}")
        if args.resend or args.send:
            if args.resend:
                outbox.resend(args.resend)
            ep = endpoints.resolve(args.profile)
            if ep.policy is not None:
                ep.policy.require_valid()
            settings = ep.settings
            profile = settings.profile(ep.profile_name) if settings else None
            mail_defaults = profile.mail if profile else None
            jobs = {j.id: j for j in outbox.jobs()}
            wanted = {outbox.message(args.resend).job_id} if args.resend else set(jobs)
            for transport_name in sorted({jobs[j].transport for j in wanted}):
                transport, _sender = open_transport(
                    args, ep, mail_defaults, use_smtp=transport_name == "smtp"
                )

                def link_for(entry: str, token: str, name: str) -> str:
                    return links.landing_url(
                        ep.kaltura, entry, recipient_token=token, recipient_name=name
                    )

                pump = Pump(outbox, transport, link_for, on_event=_print_event)
                pump.drain()
        rows = outbox.messages()
        if not args.all:
            rows = [r for r in rows if r.state not in ("sent", "cancelled")]
        for row in rows:
            line = result_line(row)
            line.update(id=row.id, job=row.job_id, attempts=row.attempts)
            print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from app import endpoints  # noqa: PLC0415
    from app.kaltura import links  # noqa: PLC0415
    from app.kaltura.cli import open_kaltura, probe_video  # noqa: PLC0415

    # Bad input is reported before any server is contacted or anything is uploaded.
    request = parse_request(args, default_template="")
    catalog = TemplateCatalog()
    if request.template:
        catalog.info(request.template)  # an unknown template name, before anything else
    duration = probe_video(request.video)
    ep = endpoints.resolve(args.profile)
    if ep.policy is not None:
        ep.policy.require_valid()
    settings = ep.settings
    profile = settings.profile(ep.profile_name) if settings else None
    mail_defaults = profile.mail if profile else None
    if not request.template:
        request.template = mail_defaults.template if mail_defaults else "personal-note"

    use_smtp = (args.transport or (mail_defaults.transport if mail_defaults else "graph")) == "smtp"
    exactly_once = bool(settings and settings.exactly_once_sending) and not use_smtp
    transport, sender = open_transport(args, ep, mail_defaults, use_smtp=use_smtp)

    hosted = bool(ep.kaltura.hosted_preview_images)
    preview = (
        hosted_preview("https://example.invalid/thumbnail.jpg")
        if hosted
        else make_preview(request.video, args.preview_text or "")
    )
    composition = Composition(
        sender=sender,
        video_title=request.title,
        template=request.template,
        note=request.note,
        subject=request.subject,
        cta=request.cta,
        cc=request.cc,
        bcc=request.bcc,
        preview=preview,
        duration_seconds=duration,
    )
    # Every recipient is rendered now: a bad template or name fails before any upload.
    validate(composition, request.to, catalog=catalog)

    kaltura_session = open_kaltura(ep, sender.email)
    kaltura_session.ks()
    scope = f"{ep.profile_name}|{ep.kaltura.partner_id}|{sender.email}"

    def link_for(entry: str, token: str, name: str) -> str:
        return links.landing_url(ep.kaltura, entry, recipient_token=token, recipient_name=name)

    with Outbox() as outbox:
        outbox.recover(older_than=STALE_SENDING_SECONDS)

        def upload_now() -> str:
            _say(f"uploading {request.video.name}")
            eid, was_reused = upload_video(
                kaltura_session, request.video, request.title, outbox=outbox, scope=scope
            )
            if was_reused:
                _say(f"reusing the earlier upload of {request.video.name} ({eid})")
            return eid

        entry_id = ""
        if hosted:
            # The thumbnail URL needs the entry: upload first, then compose with it.
            entry_id = upload_now()
            width, height = hosted_size(request.video)
            thumb = links.thumbnail_url(ep.kaltura, entry_id, width=width, height=height)
            preview = hosted_preview(thumb, width=width, height=height)
            composition = replace(composition, preview=preview)

        def upload() -> str:
            return entry_id or upload_now()

        rows = send_job(
            outbox,
            composition,
            request.to,
            transport=transport,
            link_for=link_for,
            upload=upload,
            exactly_once=exactly_once,
            on_event=None if args.quiet else _print_event,
        )
    for row in rows:
        print(json.dumps(result_line(row), ensure_ascii=False), flush=True)
    if any(r.state == "unknown" for r in rows):
        _say("some messages may or may not have gone out: check Sent Items, then "
             "'vmsg outbox --resend ID' or 'vmsg outbox --mark-sent ID'.")  # fmt: skip
    return 0 if all(r.state == "sent" for r in rows) else 1


# --------------------------------------------------------------------------- demo


def record_take(path: Path, seconds: float) -> Path:
    from app.recorder import devices  # noqa: PLC0415
    from app.recorder.recorder import Recorder  # noqa: PLC0415

    rec = Recorder(
        path,
        devices.make_camera("synthetic"),
        devices.make_microphone("synthetic"),
        countdown=0,
        max_seconds=seconds,
        size=(640, 360),
        fps=30,
    )
    rec.start()
    result = rec.wait()
    if result.stop_reason not in ("user", "max_duration"):
        raise MailError(f"The demo recording stopped early ({result.stop_reason}).")
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    from app import endpoints, paths  # noqa: PLC0415
    from app.kaltura import links  # noqa: PLC0415
    from app.kaltura.cli import open_kaltura  # noqa: PLC0415
    from app.mail.transports.graph import GraphTransport  # noqa: PLC0415
    from app.microsoft.auth import SignIn, SignInConfig  # noqa: PLC0415
    from app.microsoft.graph import GraphClient  # noqa: PLC0415
    from app.microsoft.token_cache import TokenCacheStore  # noqa: PLC0415
    from app.sandbox import runner  # noqa: PLC0415
    from app.settings import SANDBOX_PROFILE  # noqa: PLC0415

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="vmsg-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    _say(f"demo folder: {work}")
    _say("recording 5 s from the synthetic camera and microphone")
    take = record_take(work / "demo-take.mp4", args.seconds)
    _say("starting a throwaway sandbox")
    sandbox = runner.start_all(work / "sandbox", directory_size=300, conversion_seconds=0.5)
    old_env = os.environ.get(paths.SANDBOX_DIR_ENV)
    os.environ[paths.SANDBOX_DIR_ENV] = str(work / "sandbox")
    try:
        ep = endpoints.resolve(SANDBOX_PROFILE)
        # The demo's own sign-in cache, in the throwaway folder: sandbox tokens only.
        store = TokenCacheStore(
            "demo", allow_plaintext=True, location=work / "msal-token-cache.bin"
        )
        ca = str(ep.microsoft.ca_file) if ep.microsoft.ca_file else None
        signin = SignIn(
            SignInConfig(
                profile="demo",
                authority=ep.microsoft.authority,
                client_id=ep.microsoft.client_id,
                ca_file=ca,
                is_sandbox=True,
            ),
            store,
            prefer_device_code=True,
            on_device_code=lambda prompt: None,  # the sandbox approves it at once
        )
        account = signin.sign_in(device_code=True)
        graph = GraphClient(ep.microsoft.graph_url, signin, ca_file=ca)
        me = graph.get_json("/me", params={"$select": "displayName,mail,jobTitle"})
        sender = Sender(
            email=str(me.get("mail") or account.username),
            name=str(me.get("displayName") or ""),
            title=str(me.get("jobTitle") or ""),
            signature_html=f"<p><b>{html.escape(str(me.get('displayName', '')))}</b><br>"
            "Sent with Video Messaging (demo)</p>",
        )
        senders = {s["email"] for s in ep.senders}
        seeded = [u for u in sandbox.microsoft.directory.users if u.mail not in senders]
        recipients = [
            Recipient(email=u.mail, display_name=u.displayName, first_name=u.givenName,
                      last_name=u.surname)
            for u in seeded[:3]
        ]  # fmt: skip
        composition = Composition(
            sender=sender,
            video_title="A quick hello",
            template=args.template,
            note="This is the Video Messaging demo: a 5-second take from the synthetic "
            "camera, sent to you from the sandbox mailbox.",
            preview=make_preview(take, "Hi there!"),
            duration_seconds=args.seconds,
        )
        validate(composition, recipients)
        kaltura_session = open_kaltura(ep, sender.email)

        def link_for(entry: str, token: str, name: str) -> str:
            return links.landing_url(ep.kaltura, entry, recipient_token=token, recipient_name=name)

        with Outbox(work / "outbox.sqlite3") as outbox:
            rows = send_job(
                outbox,
                composition,
                recipients,
                transport=GraphTransport(graph),
                link_for=link_for,
                upload=lambda: upload_video(
                    kaltura_session, take, "A quick hello", state_dir=work / "uploads"
                )[0],
                exactly_once=False,
                on_event=_print_event,
            )
        for row in rows:
            print(json.dumps(result_line(row), ensure_ascii=False), flush=True)
        sent_dir = work / "sandbox" / "mailboxes" / sender.email / "sent"
        pages = sorted(sent_dir.glob("*.html"))
        print("", file=sys.stderr)
        _say(f"the {len(pages)} emails as the recipients see them (open in a browser):")
        for p in pages:
            print(f"      {p.as_uri()}", file=sys.stderr)
        _say("the recipients' landing pages:")
        for row in rows:
            print(f"      {row.landing_url}", file=sys.stderr)
        print(
            json.dumps(
                {
                    "demo": str(work),
                    "emails": [str(p) for p in pages],
                    "landing_pages": [r.landing_url for r in rows],
                    "sent": sum(1 for r in rows if r.state == "sent"),
                }
            ),
            flush=True,
        )
        if not args.no_wait:
            _say("the sandbox keeps running so the landing pages work; Ctrl+C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0 if all(r.state == "sent" for r in rows) else 1
    finally:
        sandbox.stop()
        if old_env is None:
            os.environ.pop(paths.SANDBOX_DIR_ENV, None)
        else:
            os.environ[paths.SANDBOX_DIR_ENV] = old_env


# --------------------------------------------------------------------------- parsers


def register(subparsers: Any) -> None:
    summary = "Send a video message to one or more people."
    p = subparsers.add_parser("send", help=summary, description=summary)
    p.add_argument("video", help="the video file (MP4)")
    p.add_argument("--to", action="append", metavar="ADDR", help="a recipient (repeat for more)")
    p.add_argument("--cc", action="append", metavar="ADDR", help="CC on every message")
    p.add_argument("--bcc", action="append", metavar="ADDR", help="BCC on every message")
    p.add_argument("--subject", help="subject template (default: the template's own)")
    p.add_argument("--note", help="the note above the video")
    p.add_argument("--template", metavar="NAME", help="personal-note, sales-follow-up, text-first")
    p.add_argument("--cta-label", metavar="L", help="button label (sales-follow-up)")
    p.add_argument("--cta-url", metavar="U", help="button link (https://)")
    p.add_argument("--title", help="the video's title (default: the file name)")
    p.add_argument("--preview-text", metavar="TEXT", help="text on the preview's first frame")
    p.add_argument("--transport", choices=("graph", "smtp"), help="default: the profile's")
    p.add_argument("--sender", metavar="ADDR", help="From address for SMTP")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=cmd_send)

    summary = "Show the outbox; resend or mark as sent a message whose fate is unknown."
    o = subparsers.add_parser("outbox", help=summary, description=summary)
    o.add_argument("--all", action="store_true", help="also list sent and cancelled messages")
    o.add_argument("--resend", metavar="ID", help="send this unknown or failed message again")
    o.add_argument("--mark-sent", metavar="ID", help="you found it in Sent Items: mark it sent")
    o.add_argument("--send", action="store_true", help="send everything that is due now")
    o.set_defaults(handler=cmd_outbox)

    summary = "Record 5 s, send to three sandbox recipients, show the results."
    d = subparsers.add_parser("demo", help=summary, description=summary)
    d.add_argument("--dir", help="keep the demo's files here (default: a new temporary folder)")
    d.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    d.add_argument("--template", default="personal-note", help="the template to use")
    d.add_argument(
        "--no-wait", action="store_true", help="stop the sandbox at once instead of serving"
    )
    d.set_defaults(handler=cmd_demo)

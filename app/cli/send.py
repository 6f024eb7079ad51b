"""``vmsg send`` and ``vmsg outbox``: personal video emails from a terminal.

``vmsg send VIDEO --to ADDR ...`` checks everything first (addresses, button link,
template, preview size), queues one message per recipient in the outbox while the video
uploads (or reuses an earlier upload of the same file, such as a take recorded with
``vmsg record --upload``), then sends as soon as the link exists, printing one JSON line
per recipient: ``{"address", "state", "message_id" or "error", "landing_url"}``. Progress
goes to stderr. The work itself is ``app.workflow.send.SendSession``.

``vmsg outbox`` lists what did not go out (with what to do about it), ``--resend ID`` /
``--mark-sent ID`` settle a message whose fate is unknown, ``--send`` sends what is due.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.output import emit_json, say
from app.kaltura.uploader import UploadEvent
from app.mail.outbox import OutboxMessage
from app.mail.pump import OutboxEvent
from app.workflow.events import Notice


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


def print_event(event: object, *, with_job: bool = False) -> None:
    if isinstance(event, OutboxEvent):
        if event.kind == "message" and event.state in ("sent", "failed", "unknown", "queued"):
            why = f" ({event.reason})" if event.reason and event.state != "sent" else ""
            job = f"job {event.job_id[:8]}: " if with_job else ""
            say(f"{job}{event.address}: {event.state}{why}")
        elif event.kind == "waiting_for_network":
            say(f"offline, will retry: {event.reason}")
        elif event.kind == "waiting_for_video":
            say("waiting for the video link")
    elif isinstance(event, Notice):
        say(event.message if event.level == "info" else f"warning: {event.message}")
    elif isinstance(event, UploadEvent) and event.kind == "retrying":
        say(f"upload: {event.message}; retrying in {event.retry_in or 0:.1f} s")


def cmd_send(args: argparse.Namespace) -> int:
    from app.workflow.send import SendRequest, SendSession  # noqa: PLC0415
    from app.workflow.services import Services  # noqa: PLC0415

    # Bad input is reported before any server is contacted or anything is uploaded.
    request = SendRequest.build(
        args.video,
        to=args.to or [],
        cc=args.cc,
        bcc=args.bcc,
        cta_label=args.cta_label or "",
        cta_url=args.cta_url or "",
        title=args.title or "",
        subject=args.subject,
        note=args.note or "",
        template=args.template or "",
        preview_text=args.preview_text or "",
        transport=args.transport or "",
        sender_address=args.sender or "",
    )
    on_event = None if args.quiet else print_event
    with Services.open(args.profile, on_event=on_event) as services:
        session = SendSession(services, request, on_event=on_event)
        session.prepare()
        result = session.run()
    for row in result.messages:
        emit_json(result_line(row))
    if result.any_unknown:
        say("some messages may or may not have gone out: check Sent Items, then "
            "'vmsg outbox --resend ID' or 'vmsg outbox --mark-sent ID'.")  # fmt: skip
    return 0 if result.all_sent else 1


def cmd_outbox(args: argparse.Namespace) -> int:
    """List the outbox; resend or mark as sent a message whose fate was unknown."""
    from app.workflow.send import require_own, send_due  # noqa: PLC0415
    from app.workflow.services import Services  # noqa: PLC0415

    with Services.open(args.profile) as services:
        outbox = services.outbox()
        settled = outbox.recover()  # messages whose sending process is gone
        if settled:
            say(f"{len(settled)} message(s) a stopped app was sending may have gone out")
        if args.withdraw:
            n = outbox.withdraw(args.withdraw)
            say(f"withdrawn: {n} message(s) of {args.withdraw}")
        if args.mark_sent:
            outbox.mark_sent(args.mark_sent)
            say(f"marked as sent: {args.mark_sent}")
        if args.resend or args.send:
            if args.resend:
                require_own(services, args.resend)  # before the message changes state
                outbox.resend(args.resend)
            services.require_valid_policy()
            # Other sends' messages: each line says which job it belongs to.
            send_due(
                services,
                message_id=args.resend or "",
                on_event=lambda e: print_event(e, with_job=True),
            )
        rows = outbox.messages()
        if not args.all:
            rows = [r for r in rows if r.state not in ("sent", "cancelled")]
        for row in rows:
            line = result_line(row)
            line.update(id=row.id, job=row.job_id, attempts=row.attempts)
            emit_json(line)
    return 0


def register(subparsers: Any, name: str) -> None:
    if name == "send":
        summary = "Send a video message to one or more people."
        p = subparsers.add_parser("send", help=summary, description=summary)
        p.add_argument("video", help="the video file (MP4)")
        p.add_argument("--to", action="append", metavar="ADDR", help="a recipient (repeat)")
        p.add_argument("--cc", action="append", metavar="ADDR", help="CC on every message")
        p.add_argument("--bcc", action="append", metavar="ADDR", help="BCC on every message")
        p.add_argument("--subject", help="subject template (default: the template's own)")
        p.add_argument("--note", help="the note above the video")
        p.add_argument(
            "--template", metavar="NAME", help="personal-note, sales-follow-up, text-first"
        )
        p.add_argument("--cta-label", metavar="L", help="button label (sales-follow-up)")
        p.add_argument("--cta-url", metavar="U", help="button link (https://)")
        p.add_argument("--title", help="the video's title (default: the file name)")
        p.add_argument("--preview-text", metavar="TEXT", help="text on the preview's first frame")
        p.add_argument("--transport", choices=("graph", "smtp"), help="default: the profile's")
        p.add_argument("--sender", metavar="ADDR", help="From address for SMTP")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
        p.set_defaults(handler=cmd_send)
    elif name == "outbox":
        summary = "Show the outbox; resend or mark as sent a message whose fate is unknown."
        o = subparsers.add_parser("outbox", help=summary, description=summary)
        o.add_argument("--all", action="store_true", help="also list sent and cancelled messages")
        o.add_argument("--resend", metavar="ID", help="send this unknown or failed message again")
        o.add_argument("--mark-sent", metavar="ID", help="you found it in Sent Items: mark it sent")
        o.add_argument("--send", action="store_true", help="send everything that is due now")
        o.add_argument(
            "--withdraw", metavar="ID", help="withdraw a job's (or one message's) unsent mail"
        )
        o.set_defaults(handler=cmd_outbox)

"""The demo: the whole flow on one machine, with nothing but a temporary folder.

:func:`run_demo` records a short take from the synthetic camera and microphone, starts a
throwaway sandbox in the folder, signs in to it, and sends the take to three seeded
recipients through the same :class:`~app.workflow.send.SendSession` a real send uses. The
sign-in cache, the outbox and the upload state live in the folder too, so nothing of the
user's own is touched. The sandbox keeps running (for the landing pages) until
:meth:`Demo.stop`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import RecordingError
from app.recorder import devices
from app.settings import SANDBOX_PROFILE
from app.workflow import sandbox as sandbox_host
from app.workflow.events import Notice, OnEvent, safe_callback
from app.workflow.send import SendRequest, SendSession
from app.workflow.services import Locations, Services
from app.workflow.take import TakeOptions, TakeSession

if TYPE_CHECKING:
    from app.mail.outbox import OutboxMessage
    from app.sandbox.runner import Sandbox

NOTE = (
    "This is the Video Messaging demo: a 5-second take from the synthetic camera, sent to "
    "you from the sandbox mailbox."
)


@dataclass
class Demo:
    """What the demo did, and the sandbox serving its landing pages."""

    folder: Path
    take: Path
    messages: list[OutboxMessage]
    #: The sent emails as the sandbox mailbox stored them (HTML files to open).
    emails: list[Path]
    sandbox: Sandbox
    landing_pages: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(1 for m in self.messages if m.state == "sent")

    def stop(self) -> None:
        self.sandbox.stop()


def run_demo(
    folder: Path,
    *,
    seconds: float = 5.0,
    template: str = "personal-note",
    on_event: OnEvent | None = None,
    recipients: int = 3,
) -> Demo:
    """Record, start a sandbox in ``folder``, send to ``recipients`` seeded people."""
    emit = safe_callback(on_event)
    folder.mkdir(parents=True, exist_ok=True)
    emit(Notice(f"recording {seconds:g} s from the synthetic camera and microphone"))
    take_path = folder / "demo-take.mp4"
    take = TakeSession(
        None,
        TakeOptions(output=take_path, max_seconds=seconds, size=(640, 360), fps=30),
        camera=devices.make_camera("synthetic"),
        microphone=devices.make_microphone("synthetic"),
    )
    take.start()
    result = take.wait().result
    if result.stop_reason not in ("user", "max_duration"):
        raise RecordingError(f"The demo recording stopped early ({result.stop_reason}).")
    emit(Notice("starting a throwaway sandbox"))
    running = sandbox_host.start(folder / "sandbox", directory_size=300, conversion_seconds=0.5)
    try:
        locations = Locations(
            outbox=folder / "outbox.sqlite3",
            uploads=folder / "uploads",
            token_cache=folder / "msal-token-cache.bin",
            plaintext_token_cache=True,
            throwaway_token_cache=True,
            sandbox_dir=folder / "sandbox",
        )
        with Services(SANDBOX_PROFILE, locations=locations, on_event=on_event) as services:
            senders = {s["email"] for s in services.endpoints.senders}
            seeded = [u for u in running.microsoft.directory.users if u.mail not in senders]
            people = [f"{u.displayName} <{u.mail}>" for u in seeded[:recipients]]
            me = services.sender()
            request = SendRequest.build(
                take_path,
                to=people,
                title="A quick hello",
                template=template,
                note=NOTE,
                preview_text="Hi there!",
                transport="graph",
                signature_html=f"<p><b>{html.escape(me.name)}</b><br>"
                "Sent with Video Messaging (demo)</p>",
            )
            session = SendSession(services, request, on_event=on_event)
            session.prepare()
            sent = session.run()
            sent_dir = folder / "sandbox" / "mailboxes" / me.email / "sent"
            return Demo(
                folder=folder,
                take=take_path,
                messages=sent.messages,
                emails=sorted(sent_dir.glob("*.html")),
                sandbox=running,
                landing_pages=[m.landing_url for m in sent.messages],
            )
    except BaseException:
        running.stop()
        raise

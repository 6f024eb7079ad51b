"""What the app settles when it starts: :func:`reconcile`.

Three durable things can be left unfinished by a crash, a kill or a power cut, and each
depends on the one before, so they are settled in this order:

1. **takes**: a recording whose state file still says it was recording is finalized up
   to its last complete fragment (``app.recorder.recovery``). A take that was being
   uploaded keeps its bytes as they were, so its upload can resume;
2. **uploads**: every unfinished upload of the profile resumes from the server's offset,
   into the same entry (a recovered take is complete now, at its recovered size);
3. **the outbox**: messages a dead process was sending become "unknown" (never resent by
   themselves), and what is due is counted for the front end to show.

The report says what was found; the front end shows it with the actions it allows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app import paths
from app.errors import AppError
from app.kaltura.upload_state import UploadStore
from app.recorder import recovery
from app.workflow.events import Notice

if TYPE_CHECKING:
    from app.kaltura.uploader import UploadJob
    from app.workflow.services import Services
    from app.workflow.take import Take

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveredTake:
    path: Path
    duration: float


@dataclass(frozen=True)
class ResumedUpload:
    job_id: str
    path: Path
    entry_id: str
    #: The running job (a front end shows its progress; ``job.wait()`` for its end).
    job: UploadJob = field(compare=False, repr=False)


@dataclass
class ReconcileReport:
    """What :func:`reconcile` found and did, step by step."""

    recovered: list[RecoveredTake] = field(default_factory=list)
    #: Takes that could not be saved: (path, why).
    lost: list[tuple[Path, str]] = field(default_factory=list)
    uploads: list[ResumedUpload] = field(default_factory=list)
    #: Why pending uploads could not resume now (e.g. nobody is signed in), or "".
    uploads_blocked: str = ""
    #: Messages a dead process was sending: now "unknown".
    settled_unknown: list[str] = field(default_factory=list)
    #: The outbox afterwards: state -> count (sent and cancelled left out).
    outbox: dict[str, int] = field(default_factory=dict)
    #: This profile's queued messages whose video is there: nothing but a sender is
    #: missing (a send was cancelled, or the app quit mid-send). Offered to send.
    waiting: int = 0
    #: The steps in the order they ran (takes, uploads, outbox).
    steps: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(
            self.recovered
            or self.lost
            or self.uploads
            or self.uploads_blocked
            or self.settled_unknown
            or any(self.outbox.values())
        )


#: How long opening a recovered take waits for its resumed upload to finish.
RECOVERED_UPLOAD_WAIT = 20.0


def open_recovered(
    services: Services,
    report: ReconcileReport,
    path: Path,
    cancel: threading.Event | None = None,
    *,
    wait: float = RECOVERED_UPLOAD_WAIT,
) -> Take:
    """A recovered take as a front end opens it for review. Its upload resumed at start-up
    into the entry it already had: once that upload is done, the take carries the entry,
    so a trim replaces that entry's content and a send reuses it (never a second entry).
    An upload that fails, or is not done within ``wait`` seconds (a slow or absent
    network), leaves the take without it: sending then reuses the finished upload of
    the same file, or uploads it."""
    from app.workflow.take import take_from_file  # noqa: PLC0415

    take = take_from_file(path)
    cancel = cancel or threading.Event()
    deadline = time.monotonic() + wait
    for upload in report.uploads:
        if upload.path.resolve() != path.resolve() or not upload.entry_id:
            continue
        while not cancel.is_set():
            try:
                upload.job.wait(0.25)
            except TimeoutError:
                if time.monotonic() > deadline:
                    log.info("the recovered take's upload is still running; opened without it")
                    return take
                continue
            except AppError as exc:
                return replace(take, upload_error=exc.message)
            return replace(
                take,
                entry_id=upload.entry_id,
                landing_url=services.landing_url(upload.entry_id),
                thumbnail_url=services.thumbnail_url(upload.entry_id),
                uploaded=True,
            )
    return take


def reconcile(
    services: Services,
    *,
    folders: Sequence[Path] | None = None,
    stale_sending_seconds: float = 0.0,
    cancel: threading.Event | None = None,
) -> ReconcileReport:
    """Recover takes, resume uploads, settle the outbox (see the module docstring).

    ``folders`` are where takes are recorded (default: the recordings folder).
    ``stale_sending_seconds`` leaves alone messages another running process may be sending.
    """
    report = ReconcileReport()
    cancel = cancel or threading.Event()
    with services.activity(cancel):
        _recover_takes(services, report, folders or [paths.recordings_dir()])
        if not cancel.is_set():
            _resume_uploads(services, report)
        if not cancel.is_set():
            _settle_outbox(services, report, stale_sending_seconds)
    return report


def _pending_upload_paths(services: Services) -> set[Path] | None:
    """The takes an unfinished upload reads, from the upload state files alone: no sign-in
    needed (the session may have expired since the crash), and every profile's (a take may
    be uploading under another). None when a state file cannot be read: then no take can
    be known not to be uploading. Read only: nothing is moved aside here (another
    profile's running instance may own a file)."""
    from app.workflow.services import uploads_dir  # noqa: PLC0415 - a cycle at import

    try:
        if services.locations.uploads is not None:
            folders = [services.locations.uploads]
        else:
            root = uploads_dir(services.profile_name).parent
            folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
        return {
            Path(state.path).resolve()
            for folder in folders
            for state in UploadStore(folder).peek_all()  # a damaged one resumes nothing
            if state.status == "active"
        }
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop in resolve()
        log.warning("upload states not readable before recovery: %s", exc)
        return None


def _recover_takes(services: Services, report: ReconcileReport, folders: Sequence[Path]) -> None:
    report.steps.append("takes")
    takes = [t for folder in folders for t in recovery.find_recoverable(folder)]
    if not takes:
        return
    uploading = _pending_upload_paths(services)
    for take in takes:
        try:
            # Unknown: keep the bytes (cut in place) rather than rewrite what an upload
            # may already have sent.
            keep = uploading is None or take.video.resolve() in uploading
            state = recovery.finalize(take, keep_bytes=keep)
        except AppError as exc:
            report.lost.append((take.video, exc.message))
            services.emit(Notice(exc.message, level="warning"))
            continue
        except OSError as exc:  # held open by another program, a full disk: next start
            message = (
                f"{take.video.name} could not be recovered now ({exc.strerror or exc}); "
                "it is kept and tried again at the next start."
            )
            report.lost.append((take.video, message))
            services.emit(Notice(message, level="warning"))
            continue
        report.recovered.append(RecoveredTake(take.video, state.duration or 0.0))
        services.emit(Notice(f"recovered {take.video.name} ({state.duration or 0.0:.1f} s)"))


def _resume_uploads(services: Services, report: ReconcileReport) -> None:
    report.steps.append("uploads")
    try:
        jobs = services.uploads().resume_pending()
    except AppError as exc:
        report.uploads_blocked = exc.message
        services.emit(Notice(f"uploads are waiting: {exc.message}", level="warning"))
        return
    for job in jobs:
        report.uploads.append(ResumedUpload(job.job_id, Path(job.state.path), job.entry_id, job))
    if jobs:
        services.emit(Notice(f"resuming {len(jobs)} upload(s)"))


def _settle_outbox(services: Services, report: ReconcileReport, older_than: float) -> None:
    report.steps.append("outbox")
    outbox = services.outbox()
    report.settled_unknown = outbox.recover(older_than=older_than)
    counts: dict[str, int] = {}
    from app.workflow.send import waiting  # noqa: PLC0415

    for message in outbox.messages():
        if message.state not in ("sent", "cancelled"):
            counts[message.state] = counts.get(message.state, 0) + 1
    report.outbox = counts
    report.waiting = waiting(services)

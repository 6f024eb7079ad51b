"""The one way a video reaches Kaltura, for every front end and every path to it.

:class:`UploadRecipe` is one profile's uploads as one Kaltura user:

- upload state lives in the profile's own folder (``uploads/<profile>``), so a job resumes
  only with the account that started it;
- every new entry is put in the profile's Kaltura category;
- a take recorded with upload-while-recording is *fed* by the recorder's ``FileGrew``
  events (no polling) and, once complete, remembered: sending that file later reuses its
  entry instead of uploading it again;
- any other file is uploaded (or an earlier, interrupted upload of the same file resumed)
  and remembered the same way, keyed by the file's identity (path, size, modification
  time, hash of its first MiB) and the account (profile, partner, user);
- a trimmed take replaces the content of its entry (``media.updateContent``), so links
  already shared keep working: never a second entry.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import Action, AppError
from app.kaltura import entries
from app.kaltura.errors import UploadCancelled, UploadError, UploadSuspended
from app.kaltura.uploader import EntryMetadata, Uploader, UploadEvent, UploadJob, UploadResult
from app.workflow.events import Notice

if TYPE_CHECKING:
    from app.workflow.services import Services

log = logging.getLogger(__name__)

#: How long a finished upload may take to show its content on the server.
CONTENT_TIMEOUT = 120.0


def check_video(path: Path, *, max_mb: int = 0) -> float:
    """The video's duration in seconds; raises UploadError, saying what is wrong and what
    to do, when it is missing, not a video, damaged (cut off by a crash or a full disk), or
    larger than ``max_mb`` (the profile's Kaltura limit; 0: no limit)."""
    if not path.exists():
        raise UploadError(
            f"There is no file {path}.", hint="Check the file name.", action=Action.CHOOSE_FILE
        )
    if not path.is_file():
        raise UploadError(
            f"{path} is not a file.", hint="Name a video file.", action=Action.CHOOSE_FILE
        )
    if path.stat().st_size == 0:
        raise UploadError(f"{path} is empty.", hint="Name a video file.", action=Action.CHOOSE_FILE)
    import av  # noqa: PLC0415 - PyAV is heavy; only what handles a video needs it

    try:
        with av.open(str(path)) as container:
            streams = list(container.streams.video)
            if not streams:
                raise UploadError(
                    f"{path} has no video in it.",
                    hint="Name a video file (MP4, MOV, WebM).",
                    action=Action.CHOOSE_FILE,
                )
            duration = float(container.duration or 0) / 1_000_000
            if duration <= 0 and streams[0].duration and streams[0].time_base:
                duration = float(streams[0].duration * streams[0].time_base)
    except UploadError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        _check_whole(path, max_mb)  # a damaged file says so, with how to repair it
        raise UploadError(
            f"{path} is not a video this app can read.",
            hint="Name a video file (MP4, MOV, WebM).",
            details=str(exc),
            action=Action.CHOOSE_FILE,
        ) from exc
    _check_whole(path, max_mb)
    return duration


def _check_whole(path: Path, max_mb: int) -> None:
    from app.recorder import media  # noqa: PLC0415

    problem = media.damage(path)
    if problem:
        raise UploadError(
            f"{path.name} is damaged: {problem}.",
            hint="If this app recorded it, recover it: the take is kept up to its last "
            "complete second and can then be sent.",
            action=Action.RECOVER_TAKE,
            target=str(path),
        )
    size = path.stat().st_size
    if max_mb and size > max_mb * 1024 * 1024:
        raise UploadError(
            f"{path.name} is {size / 1024 / 1024:.0f} MB, more than the {max_mb} MB your "
            "organization's Kaltura accepts.",
            hint="Trim it or record a shorter take.",
            action=Action.CHOOSE_FILE,
        )


def video_key(scope: str, video: Path) -> str:
    """Identifies one version of a video file for one Kaltura account (upload reuse)."""
    path = video.resolve()
    st = path.stat()
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(1 << 20)).hexdigest()
    return f"{scope}|{path}|{st.st_size}|{st.st_mtime_ns}|{head}"


@dataclass(frozen=True)
class Uploaded:
    """A video that is in Kaltura with its content."""

    entry_id: str
    #: An earlier upload of the same file was reused (nothing was sent).
    reused: bool
    #: Where an interrupted upload of it resumed (0: from the start).
    resumed_from: int = 0
    size: int = 0


class UploadRecipe:
    """One profile's uploads as one Kaltura user (see the module docstring)."""

    def __init__(self, services: Services, user: str) -> None:
        from app.workflow.services import uploads_dir  # noqa: PLC0415 - a cycle at import

        self.services = services
        self.user = user
        self.session = services.kaltura(user)
        self.state_dir = services.locations.uploads or uploads_dir(services.profile_name)
        self._listeners: dict[str, Callable[[UploadEvent], None]] = {}
        self._lock = threading.Lock()
        self.uploader = Uploader(
            self.session, state_dir=self.state_dir, on_event=self._on_event, owner=self.scope
        )

    @property
    def scope(self) -> str:
        ep = self.services.endpoints
        return f"{ep.profile_name}|{ep.kaltura.partner_id}|{self.user}"

    def close(self, timeout: float = 10.0) -> None:
        """Suspend running uploads (they resume at the next start) and wait for them."""
        self.uploader.close(timeout)

    # ------------------------------------------------------------------ events

    def _on_event(self, event: UploadEvent) -> None:
        with self._lock:
            if event.kind in ("done", "failed", "cancelled"):
                listener = self._listeners.pop(event.job_id, None)
            else:
                listener = self._listeners.get(event.job_id)
        if listener is not None:
            listener(event)
        self.services.emit(event)

    def _begin(
        self,
        path: Path,
        metadata: EntryMetadata,
        listener: Callable[[UploadEvent], None] | None,
        *,
        growing: bool = False,
        fed: bool = False,
        category_id: int | None = None,
        replace_entry_id: str | None = None,
        resume_existing: bool = True,
    ) -> UploadJob:
        """A job whose events reach ``listener`` from the first one on (it starts after
        the listener is in place)."""
        job = self.uploader.begin(
            path,
            metadata,
            growing=growing,
            fed=fed,
            category_id=category_id,
            replace_entry_id=replace_entry_id,
            resume_existing=resume_existing,
            start=False,
        )
        if listener is not None:
            with self._lock:
                self._listeners[job.job_id] = listener
        job.start_thread()
        return job

    # ------------------------------------------------------------------ remembered uploads

    def remember(self, video: Path, entry_id: str) -> None:
        """``video`` (as it is now) is in Kaltura as ``entry_id``: reuse it from now on."""
        self.services.outbox().remember_upload(video_key(self.scope, video), entry_id)

    def known(self, video: Path, cancel: threading.Event | None = None) -> str | None:
        """The entry of an earlier upload of this very file by this account, if it is
        still in Kaltura with its content."""
        entry_id = self.services.outbox().find_upload(video_key(self.scope, video))
        if not entry_id:
            return None
        try:
            entries.wait_for(
                self.session, entry_id, lambda e: e.has_content, timeout=10, cancel=cancel
            )
        except (AppError, TimeoutError):
            return None  # deleted or broken on the server: upload again
        return entry_id

    # ------------------------------------------------------------------ uploads

    def begin_recording(
        self, path: Path, title: str, listener: Callable[[UploadEvent], None] | None = None
    ) -> UploadJob:
        """Upload a take while it is recorded: feed the job with :meth:`UploadJob.feed`,
        end it with :meth:`UploadJob.finish`; its entry (and link) is created at once."""
        return self._begin(
            path.resolve(),
            EntryMetadata(name=title or path.stem),
            listener,
            growing=True,
            fed=True,
            category_id=self.services.category_id(),
            resume_existing=False,
        )

    def upload_file(
        self,
        video: Path,
        metadata: EntryMetadata,
        *,
        cancel: threading.Event | None = None,
        reuse: bool = True,
        listener: Callable[[UploadEvent], None] | None = None,
    ) -> Uploaded:
        """``video`` in Kaltura: an earlier upload of it reused, an interrupted one resumed,
        or a new one. ``cancel`` suspends it (it resumes when asked again)."""
        video = video.resolve()
        if reuse:
            known = self.known(video, cancel)
            if known:
                self.services.emit(Notice(f"reusing the earlier upload of {video.name} ({known})"))
                return Uploaded(known, reused=True, size=video.stat().st_size)
        job = self._begin(video, metadata, listener, category_id=self.services.category_id())
        result = wait_for_job(job, cancel)
        entries.wait_for(
            self.session,
            result.entry_id,
            lambda e: e.has_content,
            timeout=CONTENT_TIMEOUT,
            cancel=cancel,
        )
        self.remember(video, result.entry_id)
        return Uploaded(result.entry_id, False, result.resumed_from, result.size)

    def replace_content(
        self,
        entry_id: str,
        video: Path,
        *,
        cancel: threading.Event | None = None,
        listener: Callable[[UploadEvent], None] | None = None,
    ) -> Uploaded:
        """Upload ``video`` as the new content of ``entry_id`` (a trimmed take): the entry
        and every link to it stay the same."""
        video = video.resolve()
        job = self._begin(
            video,
            EntryMetadata(name=video.stem),
            listener,
            replace_entry_id=entry_id,
            resume_existing=False,
        )
        result = wait_for_job(job, cancel)
        self.remember(video, entry_id)
        return Uploaded(entry_id, False, result.resumed_from, result.size)

    def resume_pending(self) -> list[UploadJob]:
        """Every upload an earlier run left unfinished in this profile, resumed now."""
        return self.uploader.resume_pending()


def wait_for_job(job: UploadJob, cancel: threading.Event | None) -> UploadResult:
    """Wait for ``job``; ``cancel`` suspends it (kept for a later resume) and raises."""
    while True:
        try:
            return job.wait(timeout=0.2)
        except TimeoutError:
            if cancel is not None and cancel.is_set():
                job.suspend()
                job.join(10)
                raise UploadSuspended(
                    "The upload was paused.",
                    hint="It continues from where it stopped when you send or upload again.",
                ) from None


__all__ = [
    "CONTENT_TIMEOUT",
    "UploadCancelled",
    "UploadRecipe",
    "Uploaded",
    "check_video",
    "video_key",
    "wait_for_job",
]

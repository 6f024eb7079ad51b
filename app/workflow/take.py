"""One take, recorded (and uploaded while it is recorded): :class:`TakeSession`.

::

    take = TakeSession(services, TakeOptions(output=path, upload=True), on_event=show)
    take.start()            # devices open, countdown, recording; LinkReady soon after
    take.pause(); take.resume()
    done = take.stop()      # the file is closed; the tail is uploaded; Take with its links
    trimmed = take.trim(2.0, 31.5)   # the entry's content is replaced, its links stay
    named = take.rename("Hello Ann")  # the entry's name in Kaltura
    take.discard()          # the file and (if uploaded) the entry are deleted

With ``upload``, Kaltura is signed in to before the take starts (wrong settings never waste
a recording), the entry is created when the devices are open, so :class:`LinkReady`
arrives before the take stops, and the recorder's ``FileGrew`` events feed the upload: each
finished fragment goes up as soon as it is on disk, so at stop only the tail is left. If
the network is down, the take is kept; its upload resumes when the app next starts (or
when the take is sent).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import AppError, RecordingError
from app.kaltura.uploader import UploadEvent, UploadJob
from app.recorder import devices, sidecar
from app.recorder.events import FileGrew, RecorderEvent
from app.recorder.presets import DEFAULT_PRESET
from app.workflow.events import LinkReady, Notice, OnEvent, safe_callback
from app.workflow.uploads import CONTENT_TIMEOUT, UploadRecipe, wait_for_job

if TYPE_CHECKING:
    from app.recorder.preview import LatestFrame
    from app.recorder.recorder import Recorder, TakeResult
    from app.recorder.sources import CameraSource, MicrophoneSource
    from app.workflow.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TakeOptions:
    """What to record, and whether to upload while recording."""

    output: Path
    #: Device specs as ``app.recorder.devices`` reads them (None: the default device;
    #: ``"none"`` for no microphone); ignored when device objects are passed.
    camera: str | None = None
    microphone: str | None = None
    preset: str = DEFAULT_PRESET
    size: tuple[int, int] | None = None
    fps: float | None = None
    countdown: int = 0
    max_seconds: float | None = None
    overwrite: bool = False
    mirror_preview: bool = False
    upload: bool = False
    #: The video's title in Kaltura (default: the file name).
    title: str = ""


@dataclass(frozen=True)
class Take:
    """A finished take: its file, what the recorder reports, and where it is in Kaltura."""

    path: Path
    result: TakeResult
    entry_id: str = ""
    landing_url: str = ""
    thumbnail_url: str = ""
    #: Every byte is in Kaltura and the entry has its content.
    uploaded: bool = False
    #: Why the upload did not finish ("" when it did, or was not asked for).
    upload_error: str = ""
    #: The entry's name in Kaltura ("" without an entry): given when the recording
    #: started, before the person typed a title, so :func:`rename_take` may change it.
    title: str = ""

    @property
    def duration(self) -> float:
        return self.result.duration


def take_from_file(path: Path, *, stop_reason: str = "recovered") -> Take:
    """A take for a video already on disk (a recovered recording) so it can be reviewed
    and sent like a new one. Raises RecordingError for a file that is not a playable video."""
    from app.recorder.media import probe  # noqa: PLC0415 - PyAV
    from app.recorder.recorder import TakeResult  # noqa: PLC0415

    info = probe(path)
    if info.duration <= 0 or not info.video_codec:
        raise RecordingError(
            f"{path.name} holds no playable video.",
            hint="Record the take again.",
        )
    result = TakeResult(
        path=path,
        state="final",
        duration=info.duration,
        frames=round(info.duration * info.fps),
        dropped_frames=0,
        audio_samples=0,
        sample_rate=48000,
        width=info.width,
        height=info.height,
        fps=info.fps,
        preset="",
        stop_reason=stop_reason,
        camera="",
        microphone="",
    )
    return Take(path=path, result=result)


def trim_take(
    take: Take,
    start_s: float,
    end_s: float,
    *,
    services: Services | None = None,
    recipe: UploadRecipe | None = None,
    output: Path | None = None,
    cancel: threading.Event | None = None,
    on_event: OnEvent | None = None,
) -> Take:
    """Keep ``[start_s, end_s)`` of ``take`` in a new file; a take with an entry gives the
    entry the new file as its content (same entry, same links: never a second entry).

    Any finished take, recorded now or recovered after a crash (no :class:`TakeSession`
    then). Without an entry the trimmed file is what is sent. A failed content update is
    the new take's ``upload_error``: the trimmed file is kept and goes up when sent."""
    from app.recorder import media  # noqa: PLC0415

    src = take.path
    dst = output or src.with_name(f"{src.stem}-trimmed{src.suffix}")
    trimmed = media.trim(src, dst, start_s, end_s)
    result = replace(take.result, path=dst, duration=trimmed.duration)
    new = Take(
        path=dst,
        result=result,
        entry_id=take.entry_id,
        landing_url=take.landing_url,
        thumbnail_url=take.thumbnail_url,
        title=take.title,
    )
    if take.entry_id and services is not None:
        recipe = recipe or services.uploads()
        safe_callback(on_event)(Notice("replacing the video in Kaltura with the trimmed take"))
        try:
            recipe.replace_content(take.entry_id, dst, cancel=cancel)
        except AppError as exc:
            new = replace(new, upload_error=exc.message)
        else:
            new = replace(new, uploaded=True)
    return new


def rename_take(services: Services, take: Take, title: str) -> Take:
    """Give the take's entry the name ``title`` (``media.update``; its links stay the same).

    The entry is named when the recording starts, before the person types a title, so
    the title typed afterwards is sent to Kaltura by this. No entry, or the same name:
    nothing to do."""
    from app.kaltura import entries  # noqa: PLC0415

    title = title.strip()
    if not take.entry_id or not title or title == take.title:
        return take
    entries.rename_entry(services.kaltura(), take.entry_id, title)
    return replace(take, title=title)


class TakeSession:
    """Records one take with optional upload while recording (see the module docstring).

    ``services`` may be None for a take that is not uploaded. ``camera`` / ``microphone``
    objects (synthetic devices, a UI's already-open device) replace the option's specs.
    """

    def __init__(
        self,
        services: Services | None,
        options: TakeOptions,
        *,
        on_event: OnEvent | None = None,
        camera: CameraSource | None = None,
        microphone: MicrophoneSource | None = None,
    ) -> None:
        if options.upload and services is None:
            raise ValueError("uploading while recording needs the profile's services")
        self.services = services
        self.options = options
        self.emit = safe_callback(on_event)
        self._camera = camera
        self._microphone = microphone
        self._recorder: Recorder | None = None
        self._recipe: UploadRecipe | None = None
        self._job: UploadJob | None = None
        self._grown = 0
        self._lock = threading.Lock()
        self._link: LinkReady | None = None
        self._take: Take | None = None

    # ------------------------------------------------------------------ state

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            raise RecordingError("The take has not been started.")
        return self._recorder

    @property
    def preview(self) -> LatestFrame:
        """The newest camera frame, for a live preview (read at the viewer's own pace)."""
        return self.recorder.preview

    @property
    def link(self) -> LinkReady | None:
        """The share link, once the entry exists."""
        return self._link

    @property
    def upload_job(self) -> UploadJob | None:
        return self._job

    @property
    def done(self) -> bool:
        return self._recorder is not None and self._recorder.done

    # ------------------------------------------------------------------ recording

    def start(self) -> None:
        """Open the devices, create the entry (with ``upload``), then start the countdown
        and the take. Returns at once; raises before anything is recorded on bad input."""
        from app.recorder.recorder import Recorder  # noqa: PLC0415 - PyAV, OpenCV

        opts = self.options
        if self._recorder is not None:
            raise RecordingError("This take has already been started.")
        if opts.upload:
            assert self.services is not None
            # Sign in to Kaltura now, so wrong settings never waste a recording.
            self._recipe = self.services.uploads()
            self._recipe.session.ks()
            self.services.category_id()
        camera = self._camera or devices.make_camera(opts.camera)
        microphone = self._microphone
        if microphone is None and self._camera is None:
            microphone = devices.make_microphone(opts.microphone)  # None for "none"
        recorder = Recorder(
            opts.output,
            camera,
            microphone,
            preset=opts.preset,
            size=opts.size,
            fps=opts.fps,
            countdown=opts.countdown,
            max_seconds=opts.max_seconds,
            on_event=self._on_recorder_event,
            overwrite=opts.overwrite,
            mirror_preview=opts.mirror_preview,
        )
        self._recorder = recorder
        recorder.prepare()  # the file exists from here on
        if self._recipe is not None:
            try:
                job = self._recipe.begin_recording(
                    opts.output, opts.title or opts.output.stem, self._on_upload_event
                )
            except BaseException:
                recorder.abandon()  # nothing was recorded: release the devices
                raise
            with self._lock:
                self._job = job
                grown = self._grown
            if grown:
                job.feed(grown)
        recorder.start()

    def _on_recorder_event(self, event: RecorderEvent) -> None:
        if isinstance(event, FileGrew):
            with self._lock:
                self._grown = max(self._grown, event.bytes)
                job = self._job
            if job is not None:
                job.feed(event.bytes)
        self.emit(event)

    def _on_upload_event(self, event: UploadEvent) -> None:
        if event.kind == "created" and self.services is not None:
            link = LinkReady(
                entry_id=event.entry_id,
                landing_url=self.services.landing_url(event.entry_id),
                thumbnail_url=self.services.thumbnail_url(event.entry_id),
            )
            self._link = link
            self.emit(link)
        self.emit(event)  # progress, retries: for a front end to show

    def pause(self) -> None:
        self.recorder.pause()

    def resume(self) -> None:
        self.recorder.resume()

    def stop(self, cancel: threading.Event | None = None) -> Take:
        """Stop (or cancel during the countdown), close the file and, with upload, send the
        tail. ``cancel`` stops waiting for the upload: the take is returned with
        ``uploaded=False`` and its upload resumes later."""
        recorder = self.recorder
        result = recorder.wait() if recorder.done else recorder.stop()
        return self._finish(result, cancel)

    def wait(self, timeout: float | None = None, cancel: threading.Event | None = None) -> Take:
        """Wait for the take to end by itself (max duration, lost device, full disk)."""
        result = self.recorder.wait(timeout)
        return self._finish(result, cancel)

    def _finish(self, result: TakeResult, cancel: threading.Event | None) -> Take:
        if self._take is not None:
            return self._take
        take = Take(path=self.options.output, result=result)
        job = self._job
        if job is not None and result.state != "final":
            job.cancel()  # nothing was recorded (cancelled in the countdown)
            self._job = None
            job = None
        if job is not None and self.services is not None:
            self.emit(Notice("uploading the last bytes"))
            take = self._finish_upload(take, job, cancel)
        self._take = take
        return take

    def _finish_upload(self, take: Take, job: UploadJob, cancel: threading.Event | None) -> Take:
        from app.kaltura import entries  # noqa: PLC0415

        assert self.services is not None and self._recipe is not None
        services, recipe = self.services, self._recipe
        entry_id = job.entry_id
        take = replace(
            take,
            entry_id=entry_id,
            landing_url=services.landing_url(entry_id) if entry_id else "",
            thumbnail_url=services.thumbnail_url(entry_id) if entry_id else "",
            title=(self.options.title or self.options.output.stem) if entry_id else "",
        )
        try:
            job.finish(final_size=take.path.stat().st_size)
            result = wait_for_job(job, cancel)
            entries.wait_for(
                recipe.session,
                result.entry_id,
                lambda e: e.has_content,
                timeout=CONTENT_TIMEOUT,
                cancel=cancel,
            )
        except (AppError, TimeoutError, OSError) as exc:
            message = exc.message if isinstance(exc, AppError) else str(exc)
            log.info("the take's upload did not finish: %s", message)
            return replace(take, upload_error=message)
        recipe.remember(take.path, result.entry_id)
        return replace(take, entry_id=result.entry_id, uploaded=True)

    # ------------------------------------------------------------------ after the take

    def discard(self) -> None:
        """Throw the take away: stop it, delete the file and its state, and the entry."""
        recorder = self._recorder
        if recorder is not None and not recorder.done:
            with contextlib.suppress(AppError):
                recorder.stop()
        job, self._job = self._job, None
        entry_id = self._take.entry_id if self._take is not None else ""
        if job is not None:
            entry_id = entry_id or job.entry_id
            job.cancel(keep_entry=False)  # deletes the token and the entry if still running
            job.join(30)
        if entry_id and self._recipe is not None and (job is None or job.state.status == "done"):
            from app.kaltura import entries  # noqa: PLC0415

            with contextlib.suppress(AppError):
                entries.delete_entry(self._recipe.session, entry_id)
        doomed = {self.options.output, sidecar.sidecar_path(self.options.output)}
        if self._take is not None:
            doomed.add(self._take.path)
        for path in doomed:
            with contextlib.suppress(OSError):
                path.unlink()
        self._take = None
        self._link = None

    def trim(
        self,
        start_s: float,
        end_s: float,
        *,
        output: Path | None = None,
        cancel: threading.Event | None = None,
    ) -> Take:
        """Keep ``[start_s, end_s)`` of the finished take in a new file; an uploaded take's
        entry gets it as its new content (same entry, same links): :func:`trim_take`."""
        take = self._take
        if take is None:
            raise RecordingError("Only a finished take can be trimmed.", hint="Stop it first.")
        new = trim_take(
            take, start_s, end_s, services=self.services, recipe=self._recipe, output=output,
            cancel=cancel, on_event=self.emit,
        )  # fmt: skip
        self._take = new
        return new

    def rename(self, title: str) -> Take:
        """The finished take's entry named ``title`` in Kaltura: :func:`rename_take`."""
        take = self._take
        if take is None:
            raise RecordingError("Only a finished take can be renamed.", hint="Stop it first.")
        if self.services is None:
            return take
        new = rename_take(self.services, take, title)
        # Only the name: a trim may have replaced the take while the rename was on its way.
        current = self._take
        if current is not None and current.entry_id == new.entry_id:
            self._take = replace(current, title=new.title)
        return new

    def summary(self) -> dict[str, Any]:
        """The take as JSON-ready data (the recorder's summary plus the upload)."""
        take = self._take
        if take is None:
            raise RecordingError("The take has not finished.")
        out = take.result.to_dict()
        if take.entry_id:
            out["upload"] = {
                "entry_id": take.entry_id,
                "landing_url": take.landing_url,
                "thumbnail_url": take.thumbnail_url,
                "bytes": take.path.stat().st_size if take.uploaded else 0,
                "uploaded": take.uploaded,
                **({"error": take.upload_error} if take.upload_error else {}),
            }
        return out

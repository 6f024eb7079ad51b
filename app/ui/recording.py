"""The one take the app is recording, shared by the main window, the quick recorder and the tray.

:class:`Recording` drives the workflow's :class:`~app.workflow.take.TakeSession` (and,
between takes, a :class:`~app.workflow.monitor.DeviceMonitor` for the live picture and the
level meter) and turns their events into Qt signals on the GUI thread. Blocking calls
(opening devices, signing in to Kaltura, the last bytes of the upload, trimming) run on the
app's task pool (:mod:`app.ui.tasks`); pause and resume only flip the recording clock and
run at once.

States: ``idle`` (nothing running), ``starting`` (devices opening, entry being created),
``countdown``, ``recording``, ``paused``, ``finishing`` (file closing, last bytes going
up), ``finished`` (a take is ready for review), ``failed``.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from app import paths
from app.errors import AppError, DeviceError, RecordingError
from app.ui.tasks import EventBridge, Tasks

if TYPE_CHECKING:
    from app.recorder.preview import LatestFrame
    from app.workflow.monitor import DeviceMonitor
    from app.workflow.services import Services
    from app.workflow.take import Take, TakeOptions, TakeSession

log = logging.getLogger(__name__)


def new_take_path(folder: Path | None = None) -> Path:
    """A fresh file in the recordings folder, named after the moment."""
    folder = folder or paths.recordings_dir()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H.%M.%S")
    path = folder / f"Video {stamp}.mp4"
    n = 2
    while path.exists():
        path = folder / f"Video {stamp} ({n}).mp4"
        n += 1
    return path


def default_title() -> str:
    today = datetime.date.today()
    return f"Video message, {today.day} {today:%B %Y}"


class Recording(QObject):
    """The app's take (see the module docstring)."""

    state_changed = Signal(str)
    countdown = Signal(int)
    #: (peak dBFS, RMS dBFS), ~25 per second, from the monitor or the take.
    level = Signal(float, float)
    #: A health problem during the take or while monitoring (a HealthEvent).
    health = Signal(object)
    #: A device could not be opened (a DeviceProblem) or opened (a DeviceOpened).
    device_problem = Signal(object)
    device_opened = Signal(object)
    #: The share link exists (a LinkReady), before the take stops.
    link_ready = Signal(object)
    #: Upload progress (an UploadEvent).
    upload_progress = Signal(object)
    notice = Signal(object)
    #: The take is finished (a Take) and ready for review.
    finished = Signal(object)
    #: The take could not start or went wrong (an AppError).
    failed = Signal(object)
    #: A trim finished (the new Take).
    trimmed = Signal(object)
    #: A trim failed (an AppError, or None for a bug already reported); the take is kept.
    trim_failed = Signal(object)
    #: The entry could not be given the title typed (an AppError); the email is unaffected.
    rename_failed = Signal(object)
    #: The monitor's or the take's picture source changed (LatestFrame or None).
    source_changed = Signal(object)

    def __init__(
        self,
        tasks: Tasks,
        services: Callable[[], Services | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self._services = services
        self.bridge = EventBridge(self)
        self.bridge.received.connect(self.on_bridge_event)
        self.state = "idle"
        self.session: TakeSession | None = None
        self.monitor: DeviceMonitor | None = None
        self.take: Take | None = None
        self.link: Any = None
        self.upload_error = ""
        self._monitor_generation = 0
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.setInterval(200)

    # ------------------------------------------------------------------ state

    def _set_state(self, state: str) -> None:
        if state != self.state:
            log.debug("recording: %s -> %s", self.state, state)
            self.state = state
            self.state_changed.emit(state)

    @property
    def active(self) -> bool:
        """A take is being recorded (or is starting or finishing)."""
        return self.state in ("starting", "countdown", "recording", "paused", "finishing")

    def elapsed(self) -> float:
        session = self.session
        if session is None or self.state not in ("recording", "paused", "finishing"):
            return self.take.duration if self.take is not None and self.state == "finished" else 0.0
        try:
            return session.recorder.elapsed
        except RecordingError:
            return 0.0

    def source(self) -> LatestFrame | None:
        """The picture to show now: the take's while recording, else the monitor's."""
        if self.session is not None and self.active:
            try:
                return self.session.preview
            except RecordingError:
                return None
        return self.monitor.preview if self.monitor is not None else None

    # ------------------------------------------------------------------ monitor

    def start_monitor(self, camera: str, microphone: str, preset: str) -> None:
        """Open the devices for the live picture and the meter (between takes), once the
        OS allows them (macOS asks the person first)."""
        from app.ui import permissions  # noqa: PLC0415

        if self.active:
            return

        def allowed(statuses: dict[str, str]) -> None:
            denied = [kind for kind, value in statuses.items() if value == "denied"]
            if self.active:
                return
            if denied:
                from app.workflow.monitor import DeviceProblem  # noqa: PLC0415

                self.stop_monitor()
                for kind in denied:
                    self.device_problem.emit(DeviceProblem(kind, permissions.denied_error(kind)))
                return
            self._open_monitor(camera, microphone, preset)

        permissions.request(permissions.kinds_needed(camera, microphone), self, allowed)

    def _open_monitor(self, camera: str, microphone: str, preset: str) -> None:
        from app.workflow.monitor import DeviceMonitor  # noqa: PLC0415 - OpenCV, PortAudio

        self.stop_monitor()
        monitor = DeviceMonitor(camera, microphone, preset=preset, on_event=self.bridge.post)
        self.monitor = monitor
        self._monitor_generation += 1
        self.source_changed.emit(monitor.preview)
        self.tasks.run("open the devices", lambda _cancel: monitor.start())

    def stop_monitor(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.stop()
            self.source_changed.emit(None)

    # ------------------------------------------------------------------ the take

    def record(self, options: TakeOptions) -> None:
        """Start a take: devices, the Kaltura entry (for the link), countdown, recording.

        Where the OS guards the camera and microphone (macOS), it is asked first, on this
        thread; a denied device fails the start with the privacy page to open."""
        from app.ui import permissions  # noqa: PLC0415

        if self.active:
            return

        def allowed(statuses: dict[str, str]) -> None:
            denied = [kind for kind, value in statuses.items() if value == "denied"]
            if self.active:
                return
            if denied:
                self._set_state("failed")
                self.failed.emit(permissions.denied_error(denied[0]))
                return
            self._record(options)

        kinds = permissions.kinds_needed(options.camera, options.microphone)
        permissions.request(kinds, self, allowed)

    def _record(self, options: TakeOptions) -> None:
        from app.workflow.take import TakeSession  # noqa: PLC0415

        self.stop_monitor()
        self.take, self.link, self.upload_error = None, None, ""
        self._set_state("starting")
        services = self._services() if options.upload else None
        if options.upload and services is None:
            options = replace(options, upload=False)

        def start(_cancel: threading.Event) -> TakeSession:
            session = TakeSession(services, options, on_event=self.bridge.post)
            try:
                session.start()
            except DeviceError:
                raise
            except AppError as exc:
                if not options.upload or isinstance(exc, RecordingError):
                    raise
                # The link cannot be made now (network, Kaltura, sign-in): record anyway;
                # the video goes up when it is sent.
                self.upload_error = exc.message
                self.bridge.post(exc)
                session = TakeSession(
                    None, replace(options, upload=False), on_event=self.bridge.post
                )
                session.start()
            return session

        self.tasks.run("start the take", start, on_done=self._started, on_error=self._failed)

    def _started(self, session: TakeSession) -> None:
        self.session = session
        self.source_changed.emit(session.preview)
        if self.state == "starting":
            self._set_state("countdown" if session.options.countdown else "recording")

    def _failed(self, error: AppError | None) -> None:
        self._set_state("failed")
        if error is not None:
            self.failed.emit(error)
        self.session = None

    def pause(self) -> None:
        if self.session is not None and self.state == "recording":
            try:
                self.session.pause()
            except RecordingError as exc:
                self.failed.emit(exc)

    def resume(self) -> None:
        if self.session is not None and self.state == "paused":
            try:
                self.session.resume()
            except RecordingError as exc:
                self.failed.emit(exc)

    def toggle_pause(self) -> None:
        if self.state == "recording":
            self.pause()
        elif self.state == "paused":
            self.resume()

    def stop(self) -> None:
        """Stop the take (or cancel the countdown); the take arrives by :attr:`finished`."""
        session = self.session
        if session is None or self.state not in ("countdown", "recording", "paused"):
            return
        cancelled = self.state == "countdown"
        self._set_state("finishing")
        self.tasks.run(
            "stop the take",
            session.stop,
            on_done=lambda take: self._finished(take, cancelled),
            on_error=self._failed,
        )

    def _ended_by_itself(self) -> None:
        """The recorder stopped on its own (maximum length, lost device, full disk)."""
        session = self.session
        if session is None or self.state == "finishing":
            return
        self._set_state("finishing")
        self.tasks.run(
            "finish the take",
            lambda cancel: session.wait(cancel=cancel),
            on_done=lambda take: self._finished(take, False),
            on_error=self._failed,
        )

    def _finished(self, take: Take, cancelled: bool) -> None:
        if cancelled or (take.result.state != "final" and take.duration <= 0):
            session, self.session, self.take = self.session, None, None
            self._set_state("idle")
            if session is not None:  # nothing worth keeping: no file, no entry left behind
                self.tasks.run("discard the cancelled take", lambda _c: session.discard())
            return
        self.take = take
        if take.upload_error:
            self.upload_error = take.upload_error
        self._set_state("finished")
        self.finished.emit(take)

    def discard(self) -> None:
        """Throw the take away (file and entry), wherever it is."""
        session = self.session
        self.session, self.take, self.link = None, None, None
        self._set_state("idle")
        if session is not None:
            self.tasks.run("discard the take", lambda _c: session.discard())

    def trim(self, start: float, end: float) -> None:
        """Keep ``[start, end)`` of the finished take; the new take arrives by :attr:`trimmed`.

        A take with no session (a recovered one) is trimmed all the same: the file here,
        and its entry's content if it has an entry."""
        from app.workflow.take import trim_take  # noqa: PLC0415

        session, take = self.session, self.take
        if take is None:
            return
        services = self._services() if session is None and take.entry_id else None

        def run(cancel: threading.Event) -> Take:
            if session is not None:
                return session.trim(start, end, cancel=cancel)
            return trim_take(
                take, start, end, services=services, cancel=cancel, on_event=self.bridge.post
            )

        before = take.path

        def current() -> bool:
            # The same take (its title may have changed meanwhile), not a newer one.
            return self.take is not None and self.take.path == before

        def done(trimmed: Take) -> None:
            if not current():  # a new take (or none) since: this one is old news
                log.info("a trim finished after its take was replaced; not shown")
                return
            self.take = replace(trimmed, title=self.take.title if self.take else trimmed.title)
            self.trimmed.emit(self.take)

        def failed(error: AppError | None) -> None:
            # Not ``failed``: the take is fine and stays in Review, where this is shown.
            if current():
                self.trim_failed.emit(error)

        self.tasks.run("trim the take", run, on_done=done, on_error=failed)

    def rename(self, title: str) -> None:
        """Name the finished take's entry ``title`` in Kaltura, in the background (the entry
        was named when the recording started, before a title was typed)."""
        from app.workflow.take import rename_take  # noqa: PLC0415

        session, take = self.session, self.take
        title = title.strip()
        if take is None or not take.entry_id or not title or title == take.title:
            return
        services = self._services()
        if services is None:
            return

        def run(_cancel: threading.Event) -> Take:
            if session is not None:
                return session.rename(title)
            return rename_take(services, take, title)

        def done(renamed: Take) -> None:
            if self.take is not None and self.take.entry_id == renamed.entry_id:
                self.take = replace(self.take, title=renamed.title)

        def failed(error: AppError | None) -> None:
            if error is not None:
                self.rename_failed.emit(error)

        self.tasks.run("rename the take", run, on_done=done, on_error=failed)

    def forget(self) -> None:
        """The take was sent (or set aside): the next one starts fresh."""
        self.session, self.take, self.link = None, None, None
        self._set_state("idle")

    def adopt(self, take: Take) -> bool:
        """A take from elsewhere (a recovered one): review and send it like a new one.
        Refused (False) while a take is being recorded: that one comes first."""
        if self.active:
            log.info("not opening %s: a take is being recorded", take.path.name)
            return False
        self.session, self.link = None, None
        self.take = take
        self._set_state("finished")
        self.finished.emit(take)
        return True

    # ------------------------------------------------------------------ events

    def on_bridge_event(self, event: object) -> None:
        from app.kaltura.uploader import UploadEvent  # noqa: PLC0415
        from app.recorder.events import (  # noqa: PLC0415
            AudioLevel,
            CountdownTick,
            HealthEvent,
            Paused,
            Resumed,
            Started,
            Stopped,
        )
        from app.workflow.events import LinkReady, Notice  # noqa: PLC0415
        from app.workflow.monitor import DeviceOpened, DeviceProblem  # noqa: PLC0415

        if isinstance(event, AudioLevel):
            self.level.emit(event.peak_dbfs, event.rms_dbfs)
        elif isinstance(event, CountdownTick):
            if self.state in ("starting", "countdown"):
                self._set_state("countdown")
            self.countdown.emit(event.remaining)
        elif isinstance(event, Started):
            if self.state in ("starting", "countdown"):
                self._set_state("recording")
        elif isinstance(event, Paused):
            self._set_state("paused")
        elif isinstance(event, Resumed):
            self._set_state("recording")
        elif isinstance(event, Stopped):
            if event.reason != "user":
                self._ended_by_itself()
        elif isinstance(event, HealthEvent):
            self.health.emit(event)
        elif isinstance(event, LinkReady):
            self.link = event
            self.link_ready.emit(event)
        elif isinstance(event, UploadEvent):
            self.upload_progress.emit(event)
        elif isinstance(event, DeviceProblem):
            self.device_problem.emit(event)
        elif isinstance(event, DeviceOpened):
            self.device_opened.emit(event)
        elif isinstance(event, AppError):
            self.notice.emit(Notice(f"No link yet: {event.message}", level="warning"))
        elif isinstance(event, Notice):
            self.notice.emit(event)

    def close(self) -> None:
        """Quit: stop the monitor; a running take is stopped and kept (never discarded)."""
        self.stop_monitor()
        session = self.session
        if session is not None and self.active:
            gone = threading.Event()
            gone.set()  # do not wait for the upload: it resumes at the next start
            try:
                session.stop(cancel=gone)
            except AppError as exc:
                log.info("stopping the take on quit: %s", exc.message)

"""The Review page: play the take with sound, trim its ends, name it, see the email's preview.

The player (:class:`~app.recorder.player.Player`, PyAV decode with sound through
sounddevice) paints into the same preview widget as the camera. Dragging a trim handle
seeks to the exact frame under it, so the cut is chosen by picture. The animated preview
is the GIF the email will carry, made from this take. "Next" applies the trim (the
uploaded entry gets the trimmed video as its content: the link stays the same; a recovered
take is trimmed too), gives the entry the title typed here, and opens Compose. A trim that
fails is shown here, with the take kept as it was. Space plays and pauses (the window's
Pause action, which is Space, routes here when no take is being recorded).
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QMovie
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import icons
from app.ui.banner import Banner
from app.ui.tasks import EventBridge
from app.ui.widgets.preview import PreviewWidget
from app.ui.widgets.trim_slider import TrimSlider, clock

if TYPE_CHECKING:
    from app.errors import AppError
    from app.recorder.player import Player
    from app.ui.app import DesktopApp
    from app.workflow.take import Take

log = logging.getLogger(__name__)


class ReviewPage(QWidget):
    """See the module docstring."""

    #: The take (trimmed if asked) is ready to be sent.
    next_requested = Signal(object)
    #: Record again (the take was discarded).
    rerecord_requested = Signal()

    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.take: Take | None = None
        self.player: Player | None = None
        self.bridge = EventBridge(self)
        self.bridge.received.connect(self.on_bridge_event)
        outer = QVBoxLayout(self)
        self.banner = Banner()
        self.banner.action_requested.connect(app.handle_action)
        outer.addWidget(self.banner)
        body = QHBoxLayout()
        outer.addLayout(body, 1)

        left = QVBoxLayout()
        body.addLayout(left, 3)
        self.view = PreviewWidget()
        self.view.setAccessibleName("Video")
        self.view.placeholder = "Loading the take…"
        left.addWidget(self.view, 1)
        transport = QHBoxLayout()
        self.play_button = QPushButton(icons.icon("play"), "")
        self.play_button.setAccessibleName("Play")
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        transport.addWidget(self.play_button)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setAccessibleName("Position")
        transport.addWidget(self.time_label)
        self.trim = TrimSlider()
        self.trim.handle_moved.connect(self.on_trim_handle_moved)
        self.trim.range_changed.connect(self.on_trim_range_changed)
        self.trim.seek_requested.connect(self.on_trim_seek_requested)
        transport.addWidget(self.trim, 1)
        self.reset_button = QPushButton("Reset trim")
        self.reset_button.setAccessibleName("Reset trim")
        self.reset_button.clicked.connect(self.reset_trim)
        transport.addWidget(self.reset_button)
        left.addLayout(transport)
        self.kept_label = QLabel()
        self.kept_label.setProperty("muted", True)
        left.addWidget(self.kept_label)

        side = QVBoxLayout()
        body.addLayout(side, 2)
        form = QFormLayout()
        self.title = QLineEdit()
        self.title.setAccessibleName("Title")
        self.title.setPlaceholderText("A title for the video")
        form.addRow("&Title", self.title)
        side.addLayout(form)
        caption = QLabel("In the email it looks like this:")
        caption.setProperty("muted", True)
        side.addWidget(caption)
        self.gif = QLabel("Making the preview…")
        self.gif.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.gif.setMinimumSize(240, 135)
        self.gif.setAccessibleName("Email preview animation")
        frame = QFrame()
        frame.setProperty("card", True)
        QVBoxLayout(frame).addWidget(self.gif)
        side.addWidget(frame)
        self._movie: QMovie | None = None
        self._gif_buffer: QBuffer | None = None
        link_row = QHBoxLayout()
        self.link_label = QLabel()
        self.link_label.setWordWrap(True)
        self.link_label.setOpenExternalLinks(True)
        self.link_label.setAccessibleName("Share link")
        link_row.addWidget(self.link_label, 1)
        self.copy_button = QPushButton(icons.icon("copy"), "Copy link")
        self.copy_button.setAccessibleName("Copy link")
        self.copy_button.clicked.connect(self.copy_link)
        link_row.addWidget(self.copy_button)
        side.addLayout(link_row)
        side.addStretch(1)

        buttons = QHBoxLayout()
        self.again_button = QPushButton(icons.icon("refresh"), "Record again")
        self.again_button.setAccessibleName("Record again")
        self.again_button.clicked.connect(self.record_again)
        buttons.addWidget(self.again_button)
        buttons.addStretch(1)
        self.next_button = QPushButton("Next: write the email")
        self.next_button.setIcon(icons.icon("send", "#ffffff"))
        self.next_button.setProperty("primary", True)
        self.next_button.setAccessibleName("Next: write the email")
        self.next_button.setToolTip("Apply the trim and write the email (Ctrl+Enter)")
        self.next_button.clicked.connect(self.go_next)
        buttons.addWidget(self.next_button)
        outer.addLayout(buttons)

        self._position_timer = QTimer(self)
        self._position_timer.setInterval(100)
        self._position_timer.timeout.connect(self.on_position_timer_timeout)
        app.recording.trimmed.connect(self.on_recording_trimmed)
        app.recording.trim_failed.connect(self.on_recording_failed_trim)
        self._trimming = False

    # ------------------------------------------------------------------ life

    def show_take(self, take: Take) -> None:
        """Load ``take`` for review (a new take, or a recovered one)."""
        from app.ui.recording import default_title  # noqa: PLC0415

        self.close_player()
        self.banner.hide()
        self.take = take
        self.title.setText(self.title.text() or default_title())
        self.view.placeholder = "Loading the take…"
        self.view.set_source(None)
        self.trim.set_duration(take.duration)
        self._update_kept()
        self._show_link()
        # A trim of an earlier take may still have been running: this take starts fresh.
        self._trimming = False
        self.next_button.setText("Next: write the email")
        self.next_button.setEnabled(True)
        self.app.tasks.run(
            "open the take", lambda _c: self._open_player(take), on_done=self._player_ready,
            on_error=self._player_failed,
        )  # fmt: skip
        self._make_gif(take)

    def _open_player(self, take: Take) -> Player:
        from app.recorder.player import Player  # noqa: PLC0415 - PyAV, sounddevice

        player = Player(take.path, on_event=self.bridge.post, max_width=1280)
        player.open()
        player.seek(0.0)
        return player

    def _player_ready(self, player: Player) -> None:
        if self.take is None or player is None:
            player.close()
            return
        self.player = player
        self.view.set_source(player.frame)
        self.trim.set_duration(player.duration, getattr(player, "fps", 30.0) or 30.0)
        self._update_kept()
        self._position_timer.start()

    def _player_failed(self, error: Any) -> None:
        self.view.placeholder = "This take cannot be played."
        self.view.update()
        if error is not None:
            self.banner.show_error(error)

    def close_player(self) -> None:
        self._position_timer.stop()
        player, self.player = self.player, None
        if player is not None:
            player.close()

    def deactivate(self) -> None:
        if self.player is not None and self.player.playing:
            self.player.pause()

    def _make_gif(self, take: Take) -> None:
        from app.workflow.send import make_preview  # noqa: PLC0415

        self.gif.setText("Making the preview…")
        self.app.tasks.run(
            "make the preview", lambda _c: make_preview(take.path).data,
            on_done=self._show_gif, on_error=lambda _e: self.gif.setText("No preview"),
        )  # fmt: skip

    def _show_gif(self, data: bytes) -> None:
        if self._movie is not None:
            self._movie.stop()
        buffer = QBuffer(self)
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        movie = QMovie(buffer, QByteArray(b"gif"), self)
        self._movie, self._gif_buffer = movie, buffer
        self.gif.setMovie(movie)
        movie.start()

    def _show_link(self) -> None:
        take = self.take
        url = take.landing_url if take is not None else ""
        if url:
            self.link_label.setText(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
            self.copy_button.show()
        else:
            self.link_label.setText("The link is made when you send.")
            self.copy_button.hide()

    # ------------------------------------------------------------------ player

    def toggle_play(self) -> None:
        player = self.player
        if player is None:
            return
        if player.playing:
            player.pause()
        else:
            player.set_range(self.trim.start, self.trim.end)
            if player.position >= self.trim.end - 0.05 or player.position < self.trim.start:
                player.seek(self.trim.start)
            player.play()

    def on_bridge_event(self, event: object) -> None:
        kind = type(event).__name__
        if kind == "PlayerStateChanged":
            playing = bool(getattr(event, "playing", False))
            self.play_button.setIcon(icons.icon("pause" if playing else "play"))
            self.play_button.setAccessibleName("Pause" if playing else "Play")

    def on_position_timer_timeout(self) -> None:
        player = self.player
        if player is None:
            return
        position = player.position
        self.trim.set_position(position)
        self.time_label.setText(f"{clock(position)} / {clock(player.duration)}")

    def on_trim_handle_moved(self, which: str, seconds: float) -> None:
        if self.player is not None:
            if self.player.playing:
                self.player.pause()
            self.player.seek(seconds)
        self._update_kept()

    def on_trim_range_changed(self, start: float, end: float) -> None:
        if self.player is not None:
            self.player.set_range(start, end)
        self._update_kept()

    def on_trim_seek_requested(self, seconds: float) -> None:
        if self.player is not None:
            self.player.seek(seconds)

    def reset_trim(self) -> None:
        self.trim.set_range(0.0, self.trim.duration)
        self.on_trim_range_changed(self.trim.start, self.trim.end)

    def _update_kept(self) -> None:
        if self.trim.trimmed:
            self.kept_label.setText(
                f"Keeping {clock(self.trim.start)} to {clock(self.trim.end)} "
                f"({self.trim.end - self.trim.start:.1f} s of {self.trim.duration:.1f} s)"
            )
        else:
            self.kept_label.setText(
                f"{self.trim.duration:.1f} s. Drag the handles to cut the start or the end."
            )
        self.reset_button.setEnabled(self.trim.trimmed)

    # ------------------------------------------------------------------ actions

    def copy_link(self) -> None:
        if self.take is not None and self.take.landing_url:
            QGuiApplication.clipboard().setText(self.take.landing_url)
            self.copy_button.setText("Copied")
            QTimer.singleShot(1500, lambda: self.copy_button.setText("Copy link"))

    def record_again(self) -> None:
        answer = QMessageBox.question(
            self,
            "Record again?",
            "This take and its link are deleted, and a new recording starts.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Discard:
            return
        self.close_player()
        self.take = None
        self.app.recording.discard()
        self.rerecord_requested.emit()

    def go_next(self) -> None:
        """Apply the trim (if any), then on to Compose."""
        if self.take is None or self._trimming:
            return
        if self.player is not None and self.player.playing:
            self.player.pause()
        # Any take the app holds can be trimmed: one just recorded, or a recovered one.
        if self.trim.trimmed and self.app.recording.take is not None:
            self._trimming = True
            self.next_button.setEnabled(False)
            self.next_button.setText("Trimming…")
            self.app.recording.trim(self.trim.start, self.trim.end)
            return
        self._leave(self.take)

    def _leave(self, take: Take) -> None:
        """On to Compose; the title typed here becomes the entry's name in Kaltura (it was
        named when the recording started, before there was a title)."""
        self.app.recording.rename(self.title.text())
        self.next_requested.emit(take)

    def on_recording_trimmed(self, take: Take) -> None:
        self._trimming = False
        self.next_button.setEnabled(True)
        self.next_button.setText("Next: write the email")
        self.close_player()
        self.take = take
        if take.upload_error:
            self.banner.show_message(
                "The trimmed video could not replace the uploaded one yet.",
                "warning",
                detail=f"{take.upload_error} It is uploaded again when you send.",
            )
        self._leave(take)

    def on_recording_failed_trim(self, error: AppError | None) -> None:
        """The trim failed: Review stays usable with the take as it was (nothing is lost),
        and says why here, where the person is (None: a bug, already reported)."""
        self._trimming = False
        self.next_button.setEnabled(True)
        self.next_button.setText("Next: write the email")
        if error is not None:
            self.banner.show_error(error, retry=self.go_next)

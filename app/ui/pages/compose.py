"""The Compose page: who gets it, what it says, how it looks; then Send, with progress per person.

Recipients are chips with live suggestions from the profile's directory (the workflow's
recipient search: the people one works with first, then the directory; typed addresses
are accepted once valid). The right half shows the email as the first recipient will get
it, rendered from the real template with the real preview animation
(:meth:`~app.workflow.send.SendSession.draft`); "Open in browser" shows the exact HTML.
Send checks everything before any server is touched, offers to resume when the same
message was sent before, then sends one personal email per person and shows each one's
state; Esc cancels what has not gone out. The draft stays on the page whatever fails.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QMovie, QTextDocument
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import AppError, MailError
from app.ui import icons
from app.ui.banner import Banner
from app.ui.tasks import EventBridge, Task
from app.ui.widgets.recipients import RecipientField

if TYPE_CHECKING:
    from app.mail.message import OutgoingMessage
    from app.microsoft.search import RecipientSearch
    from app.ui.app import DesktopApp
    from app.workflow.send import SendRequest, SendResult, SendSession
    from app.workflow.take import Take

log = logging.getLogger(__name__)

STATE_ICONS = {
    "queued": "clock",
    "sending": "upload",
    "sent": "check",
    "failed": "error",
    "unknown": "unknown",
    "cancelled": "close",
}
STATE_WORDS = {
    "queued": "waiting",
    "sending": "sending",
    "sent": "sent",
    "failed": "not sent",
    "unknown": "may have gone out",
    "cancelled": "withdrawn",
}


HIDDEN_BLOCK = re.compile(r"<div[^>]*display:\s*none[^>]*>.*?</div>", re.S | re.I)


class SearchBridge(QObject):
    """Search results from the engine's threads, delivered on the GUI thread."""

    results = Signal(object)


class EmailPreview(QTextBrowser):
    """The email's HTML with its inline images; the GIF preview animates."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.setOpenLinks(False)
        self.setAccessibleName("Email preview")
        self._movies: list[tuple[QMovie, QBuffer]] = []
        self.message: OutgoingMessage | None = None

    def show_message(self, message: OutgoingMessage) -> None:
        for movie, buffer in self._movies:
            movie.stop()
            movie.deleteLater()
            buffer.deleteLater()
        self._movies = []
        self.message = message
        doc = self.document()
        scroll = self.verticalScrollBar().value()
        for img in message.images:
            url = QUrl(f"cid:{img.content_id}")
            if img.content_type == "image/gif":
                buffer = QBuffer(self)
                buffer.setData(QByteArray(img.data))
                buffer.open(QIODevice.OpenModeFlag.ReadOnly)
                movie = QMovie(buffer, QByteArray(b"gif"), self)
                movie.frameChanged.connect(lambda _n, m=movie, u=url: self._frame(m, u))
                self._movies.append((movie, buffer))
                movie.jumpToFrame(0)
                doc.addResource(QTextDocument.ResourceType.ImageResource, url, movie.currentImage())
                movie.start()
            else:
                image = QImage.fromData(img.data)
                doc.addResource(QTextDocument.ResourceType.ImageResource, url, image)
        # A preheader hidden with display:none (mail clients show it in the inbox list
        # only) would show here: QTextBrowser does not know display:none.
        self.setHtml(HIDDEN_BLOCK.sub("", message.html, count=1))
        self.verticalScrollBar().setValue(scroll)

    def _frame(self, movie: QMovie, url: QUrl) -> None:
        self.document().addResource(
            QTextDocument.ResourceType.ImageResource, url, movie.currentImage()
        )
        # The layout keeps the image's size; only the pixels change: repaint, no relayout.
        self.viewport().update()


class ComposePage(QWidget):
    """See the module docstring."""

    #: The send ended (a SendResult).
    sent = Signal(object)

    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.take: Take | None = None
        self.search: RecipientSearch | None = None
        self._search_starting = False
        self.send_task: Task | None = None
        self.session: SendSession | None = None
        self.bridge = EventBridge(self)
        self.bridge.received.connect(self.on_bridge_event)
        self.search_bridge = SearchBridge(self)
        self.search_bridge.results.connect(self.on_search_results)
        self._preview_generation = 0
        self._active_field: RecipientField | None = None

        outer = QVBoxLayout(self)
        self.banner = Banner()
        self.banner.action_requested.connect(app.handle_action)
        outer.addWidget(self.banner)
        split = QSplitter()
        outer.addWidget(split, 1)

        # --- the form
        form_widget = QWidget()
        form = QFormLayout(form_widget)
        form.setContentsMargins(0, 0, 8, 0)
        self.to = RecipientField("To")
        self.cc = RecipientField("Cc")
        self.bcc = RecipientField("Bcc")
        to_row = QHBoxLayout()
        to_row.addWidget(self.to, 1)
        self.copies_button = QToolButton()
        self.copies_button.setText("Cc/Bcc")
        self.copies_button.setCheckable(True)
        self.copies_button.setToolTip("Add copies")
        self.copies_button.setAccessibleName("Show Cc and Bcc")
        self.copies_button.toggled.connect(self.on_copies_button_toggled)
        to_row.addWidget(self.copies_button)
        for text, field, row in (("&To", self.to, to_row), ("&Cc", self.cc, None),
                                 ("&Bcc", self.bcc, None)):  # fmt: skip
            label = QLabel(text)
            label.setBuddy(field.edit)  # Alt+T types into the field
            form.addRow(label, row if row is not None else field)
        self.cc_label = form.labelForField(self.cc)
        self.bcc_label = form.labelForField(self.bcc)
        # Each person in To gets a personal email, and Cc/Bcc are on each one: say so
        # before a manager in Cc receives thirty copies.
        self.copies_note = QLabel()
        self.copies_note.setProperty("muted", True)
        self.copies_note.setWordWrap(True)
        self.copies_note.hide()
        form.addRow("", self.copies_note)
        self._show_copies(False)
        self.subject = QLineEdit()
        self.subject.setAccessibleName("Subject")
        self.subject.setToolTip(
            "Personal fields work here: {{ recipient.first_name }}, {{ sender.name }}"
        )
        form.addRow("&Subject", self.subject)
        self.note = QPlainTextEdit()
        self.note.setAccessibleName("Personal note")
        self.note.setPlaceholderText("A few words above the video (optional)")
        self.note.setTabChangesFocus(True)
        form.addRow("&Note", self.note)
        self.template = QComboBox()
        self.template.setAccessibleName("Template")
        form.addRow("Te&mplate", self.template)
        cta_row = QHBoxLayout()
        self.cta_label = QLineEdit()
        self.cta_label.setPlaceholderText("Button text, e.g. Book a meeting")
        self.cta_label.setAccessibleName("Button text")
        self.cta_url = QLineEdit()
        self.cta_url.setPlaceholderText("https://")
        self.cta_url.setAccessibleName("Button link")
        cta_row.addWidget(self.cta_label)
        cta_row.addWidget(self.cta_url)
        button_label = QLabel("B&utton")
        button_label.setBuddy(self.cta_label)
        form.addRow(button_label, cta_row)
        self.progress = QListWidget()
        self.progress.setAccessibleName("Sending progress")
        self.progress.hide()
        form.addRow(self.progress)
        split.addWidget(form_widget)

        # --- the preview
        preview_widget = QWidget()
        pv = QVBoxLayout(preview_widget)
        pv.setContentsMargins(8, 0, 0, 0)
        head = QHBoxLayout()
        captions = QVBoxLayout()
        self.preview_caption = QLabel("Preview")
        self.preview_caption.setProperty("muted", True)
        self.subject_preview = QLabel()
        self.subject_preview.setAccessibleName("Subject as the recipient sees it")
        self.subject_preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        captions.addWidget(self.preview_caption)
        captions.addWidget(self.subject_preview)
        head.addLayout(captions, 1)
        self.open_button = QPushButton(icons.icon("open"), "Open in browser")
        self.open_button.setAccessibleName("Open the preview in the browser")
        self.open_button.setToolTip("Show the exact email in your browser")
        self.open_button.clicked.connect(self.open_in_browser)
        head.addWidget(self.open_button)
        pv.addLayout(head)
        self.preview = EmailPreview()
        pv.addWidget(self.preview, 1)
        split.addWidget(preview_widget)
        # The email is 600 px wide: give the preview the room to show it whole.
        split.setSizes([480, 660])

        # --- the bottom row
        buttons = QHBoxLayout()
        self.back_button = QPushButton(icons.icon("back"), "Back to the video")
        self.back_button.setAccessibleName("Back to the video")
        buttons.addWidget(self.back_button)
        self.status = QLabel()
        self.status.setProperty("muted", True)
        buttons.addWidget(self.status, 1)
        self.send_button = QPushButton(icons.icon("send", "#ffffff"), "Send")
        self.send_button.setProperty("primary", True)
        self.send_button.setAccessibleName("Send")
        self.send_button.setMinimumHeight(34)
        self.send_button.clicked.connect(self.on_send_button_clicked)
        buttons.addWidget(self.send_button)
        outer.addLayout(buttons)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(350)
        self._preview_timer.timeout.connect(self.refresh_preview)
        for field in (self.to, self.cc, self.bcc):
            field.changed.connect(self.schedule_preview)
            field.changed.connect(self.update_copies_note)
            field.query_changed.connect(self.on_field_query_changed)
        self.subject.textEdited.connect(self.schedule_preview)
        self.note.textChanged.connect(self.schedule_preview)
        self.template.currentIndexChanged.connect(self.schedule_preview)
        self.cta_label.textEdited.connect(self.schedule_preview)
        self.cta_url.textEdited.connect(self.schedule_preview)
        self._templates_filled = False

    # ------------------------------------------------------------------ life

    def _fill_templates(self) -> None:
        from app.mail.templates import TemplateCatalog  # noqa: PLC0415

        catalog = TemplateCatalog()
        self.template.clear()
        for name in catalog.names():
            try:
                info = catalog.info(name)
            except AppError:
                continue
            self.template.addItem(info.title, name)
            self.template.setItemData(self.template.count() - 1, info.description, 3)
        defaults = self.app.settings.profile().mail
        self.template.setCurrentIndex(max(0, self.template.findData(defaults.template)))
        if not self.subject.text():
            self.subject.setText(defaults.subject)
        self.update_send_button()

    def start(self, take: Take) -> None:
        """Compose a message for ``take`` (the draft's text stays from the last one)."""
        if not self._templates_filled:  # jinja2 loads here, not with the window
            self._templates_filled = True
            self._fill_templates()
        self.take = take
        self.banner.hide()
        self.progress.clear()
        self.progress.hide()
        self.update_send_button()
        self.ensure_search()
        self.schedule_preview()
        self.to.edit.setFocus()

    def reset(self) -> None:
        """After a send: a clean draft for the next video."""
        for f in (self.to, self.cc, self.bcc):
            f.clear()
        self.note.clear()
        self.cta_label.clear()
        self.cta_url.clear()
        self.progress.clear()
        self.progress.hide()
        self.take = None

    def ensure_search(self) -> None:
        """The recipient search engine, opened once the profile's services are ready."""
        if self.search is not None or self._search_starting:
            return
        services = self.app.services
        if services is None:
            return
        self._search_starting = True

        def open_search(_cancel: threading.Event) -> RecipientSearch:
            if services.is_sandbox:
                services.ensure_account()
            return services.recipient_search(self.search_bridge.results.emit)

        def opened(search: RecipientSearch) -> None:
            self.search = search
            self._search_starting = False
            field = self._active_field
            if field is not None and field.edit.text().strip():
                search.type(field.edit.text().strip())  # typed while the engine opened

        def failed(error: AppError | None) -> None:
            self._search_starting = False
            if error is not None:
                self.status.setText(f"No suggestions: {error.message}")

        self.app.tasks.run("open recipient search", open_search, on_done=opened, on_error=failed)

    def close_search(self) -> None:
        search, self.search = self.search, None
        if search is not None:
            search.close()

    # ------------------------------------------------------------------ recipients

    def _show_copies(self, shown: bool) -> None:
        for w in (self.cc, self.bcc, self.cc_label, self.bcc_label):
            if w is not None:
                w.setVisible(shown)

    def update_copies_note(self) -> None:
        people = len(self.to.addresses())
        copied = len(self.cc.addresses()) + len(self.bcc.addresses())
        self.copies_note.setVisible(people > 1 and copied > 0)
        self.copies_note.setText(
            f"Each of the {people} people in To gets a personal email, and everyone in Cc "
            f"and Bcc gets a copy of each: {people} emails each."
        )

    def on_copies_button_toggled(self, checked: bool) -> None:
        self._show_copies(checked or bool(self.cc.chips or self.bcc.chips))

    def on_field_query_changed(self, text: str) -> None:
        field = self.sender()
        if isinstance(field, RecipientField):
            self._active_field = field
        if self.search is None:
            self.ensure_search()
            return
        if text:
            self.search.type(text)
        else:
            self.search.cancel()

    def on_search_results(self, results: Any) -> None:
        field = self._active_field
        if field is not None:
            field.show_suggestions(results)
        if results.error is not None:
            self.status.setText(f"Suggestions unavailable: {results.error.message}")
        elif results.notice:
            self.status.setText(results.notice)

    # ------------------------------------------------------------------ the draft

    def request(self) -> SendRequest:
        """The draft as a send request; MailError names what is wrong."""
        from app.workflow.send import SendRequest  # noqa: PLC0415

        if self.take is None:
            raise MailError("There is no video to send.", hint="Record one first.")
        for field, name in ((self.to, "To"), (self.cc, "Cc"), (self.bcc, "Bcc")):
            bad = field.invalid()
            if bad:
                raise MailError(
                    f"{name}: {bad[0].raw!r} is not an email address ({bad[0].reason}).",
                    hint="Correct it or remove it (click the red name).",
                )
        title = self.app.window.review.title.text().strip() if self.app.window else ""
        take = self.take
        return SendRequest.build(
            take.path,
            to=self.to.addresses(),
            cc=self.cc.addresses(),
            bcc=self.bcc.addresses(),
            subject=self.subject.text().strip() or None,
            note=self.note.toPlainText().strip(),
            template=str(self.template.currentData() or ""),
            cta_label=self.cta_label.text().strip(),
            cta_url=self.cta_url.text().strip(),
            title=title,
            entry_id=take.entry_id if take.uploaded else "",
        )

    def schedule_preview(self) -> None:
        self.update_send_button()
        self._preview_timer.start()

    def refresh_preview(self) -> None:
        """Render the email for the first recipient (in the background)."""
        from app.workflow.send import SendSession  # noqa: PLC0415

        services = self.app.services
        if services is None or self.take is None:
            return
        try:
            request = self._preview_request()
        except AppError as exc:
            self.preview_caption.setText(f"Preview: {exc.message}")
            return
        self._preview_generation += 1
        generation = self._preview_generation

        def render(_cancel: threading.Event) -> OutgoingMessage:
            return SendSession(services, request).draft()

        def done(message: OutgoingMessage) -> None:
            if generation == self._preview_generation:
                self.preview.show_message(message)
                who = message.to.display_name or message.to.email
                self.preview_caption.setText(f"As {who} will see it")
                self.subject_preview.setText(f"<b>Subject:</b> {html.escape(message.subject)}")

        def failed(error: AppError | None) -> None:
            if generation == self._preview_generation and error is not None:
                self.preview_caption.setText(f"Preview: {error.message}")

        self.app.tasks.run("render the preview", render, on_done=done, on_error=failed)

    def _preview_request(self) -> SendRequest:
        from app.workflow.send import SendRequest  # noqa: PLC0415

        assert self.take is not None
        to = self.to.addresses() or ["Alex Example <alex@example.com>"]
        cta_label, cta_url = self.cta_label.text().strip(), self.cta_url.text().strip()
        if bool(cta_label) != bool(cta_url):
            cta_label = cta_url = ""
        title = self.app.window.review.title.text().strip() if self.app.window else ""
        return SendRequest.build(
            self.take.path,
            to=to[:1],
            subject=self.subject.text().strip() or None,
            note=self.note.toPlainText().strip(),
            template=str(self.template.currentData() or ""),
            cta_label=cta_label,
            cta_url=cta_url,
            title=title,
            entry_id=self.take.entry_id,
        )

    def open_in_browser(self) -> None:
        from app.mail.browser import browser_html  # noqa: PLC0415

        message = self.preview.message
        if message is None:
            return
        folder = Path(tempfile.mkdtemp(prefix="vmsg-preview-"))
        page = folder / "email.html"
        page.write_text(browser_html(message), encoding="utf-8")
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(page)))

    # ------------------------------------------------------------------ sending

    def update_send_button(self) -> None:
        sending = self.send_task is not None
        n = len(self.to.addresses())
        if sending:
            self.send_button.setText("Cancel")
            self.send_button.setToolTip("Stop sending what has not gone out (Esc)")
            self.send_button.setProperty("primary", False)
        else:
            label = "Send" if n <= 1 else f"Send {n} emails"
            self.send_button.setText(label)
            self.send_button.setToolTip(
                f"One personal email per person ({self.app.shortcut_text('send')})"
            )
            self.send_button.setProperty("primary", True)
        self.send_button.style().unpolish(self.send_button)
        self.send_button.style().polish(self.send_button)
        self.send_button.setEnabled(sending or (self.take is not None and n > 0))
        for w in (self.to, self.cc, self.bcc, self.subject, self.note, self.template):
            w.setEnabled(not sending)
        self.back_button.setEnabled(not sending)

    def on_send_button_clicked(self) -> None:
        if self.send_task is not None:
            self.cancel_send()
        else:
            self.send()

    def send(self) -> None:
        """Ctrl+Enter: check, maybe offer to resume, then send."""
        from app.workflow.send import SendSession  # noqa: PLC0415

        if self.send_task is not None:
            return
        for f in (self.to, self.cc, self.bcc):
            f.commit_text()
        services = self.app.services
        if services is None:
            self.banner.show_message("The app is still starting; try again in a moment.")
            return
        try:
            request = self.request()
        except AppError as exc:
            self.banner.show_error(exc)
            return
        self.banner.hide()
        session = SendSession(services, request, on_event=self.bridge.post)
        self.status.setText("Checking…")

        def check(_cancel: threading.Event) -> Any:
            session.prepare()
            return session.previous()

        self.app.tasks.run(
            "check the message", check,
            on_done=lambda previous: self._checked(session, previous),
            on_error=self._send_failed,
        )  # fmt: skip

    def _checked(self, session: SendSession, previous: Any) -> None:
        self.status.clear()
        if previous is not None:
            counts = self.app.services.outbox().counts(previous.id) if self.app.services else {}
            sent = counts.get("sent", 0)
            answer = QMessageBox.question(
                self,
                "You sent this message before",
                f"This exact message was sent before ({sent} sent). Sending it again goes "
                "only to the people who did not get it; nobody gets it twice.",
                QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Ok,
            )
            if answer != QMessageBox.StandardButton.Ok:
                return
        self.session = session
        self.progress.clear()
        self._rows: dict[str, QListWidgetItem] = {}
        for r in session.request.to:
            item = QListWidgetItem(icons.icon("clock"), f"{r.display_name or r.email}: waiting")
            self._rows[r.email.casefold()] = item
            self.progress.addItem(item)
        self.progress.show()
        self.send_task = self.app.tasks.run(
            "send", session.run, on_done=self._send_done, on_error=self._send_failed
        )
        self.update_send_button()
        self.app.set_busy("sending", True)

    def cancel_send(self) -> None:
        if self.send_task is not None:
            self.send_task.cancel.set()
            self.status.setText("Cancelling: what has not gone out stays unsent…")

    def _send_done(self, result: SendResult) -> None:
        self.send_task = None
        self.app.set_busy("sending", False)
        self.update_send_button()
        for m in result.messages:
            self._set_row(m.recipient.email, m.state, m.reason)
        self.status.clear()
        self.sent.emit(result)

    def _send_failed(self, error: AppError | None) -> None:
        self.send_task = None
        self.app.set_busy("sending", False)
        self.update_send_button()
        self.status.clear()
        if error is not None:
            self.banner.show_error(error, retry=self.send)

    def on_bridge_event(self, event: object) -> None:
        from app.mail.pump import OutboxEvent  # noqa: PLC0415
        from app.workflow.events import Notice  # noqa: PLC0415

        if isinstance(event, OutboxEvent):
            if event.kind == "message":
                self._set_row(event.address, event.state, event.reason)
            elif event.kind == "waiting_for_video":
                self.status.setText("Uploading the video…")
            elif event.kind == "waiting_for_network":
                self.status.setText(
                    "Offline: the messages are queued and go out when the network is back"
                )
        elif isinstance(event, Notice):
            self.status.setText(event.message[:1].upper() + event.message[1:])
        elif type(event).__name__ == "UploadEvent":
            total = getattr(event, "total", None) or 0
            done = getattr(event, "confirmed", 0)
            if total:
                self.status.setText(f"Uploading the video: {100 * done // total} %")

    def _set_row(self, address: str, state: str, reason: str = "") -> None:
        item = getattr(self, "_rows", {}).get(address.casefold())
        if item is None:
            return
        name = item.text().split(":", 1)[0]
        words = STATE_WORDS.get(state, state)
        item.setText(f"{name}: {words}" + (f" ({reason})" if reason and state != "sent" else ""))
        item.setIcon(icons.icon(STATE_ICONS.get(state, "unknown")))

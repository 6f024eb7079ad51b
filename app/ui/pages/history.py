"""History: every send, each recipient's state with what can be done about it, links, views.

Sends are listed newest first; a send opens into its recipients. A message whose fate is
unknown offers "It was sent" (found in Sent Items) and "Send again"; a failed one "Send
again" and "Don't send"; a queued one (its send was cancelled or cut short) "Send now"
and "Don't send". Views and plays come from Kaltura and
are checked every minute while the app runs; a new view is a desktop notification.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui import icons
from app.ui.banner import Banner
from app.ui.pages.compose import STATE_ICONS, STATE_WORDS

if TYPE_CHECKING:
    from app.ui.app import DesktopApp
    from app.workflow.history import SentJob, SentMessage, Watched

log = logging.getLogger(__name__)

JOB_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1
VIEWS_INTERVAL_MS = 60_000


def when(ts: float) -> str:
    moment = datetime.datetime.fromtimestamp(ts)
    today = datetime.date.today()
    if moment.date() == today:
        return f"Today {moment:%H:%M}"
    if moment.date() == today - datetime.timedelta(days=1):
        return f"Yesterday {moment:%H:%M}"
    return f"{moment.day} {moment:%b %Y %H:%M}"


class HistoryPage(QWidget):
    #: Something was watched (a list of Watched), for the tray's notifications.
    watched = Signal(object)

    def __init__(self, app: DesktopApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.workflow.history import ViewWatcher  # noqa: PLC0415

        self.app = app
        self.watcher = ViewWatcher()
        self.jobs: list[SentJob] = []
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        title = QLabel("Sent videos")
        title.setProperty("heading", True)
        head.addWidget(title, 1)
        self.refresh_button = QPushButton(icons.icon("refresh"), "Refresh")
        self.refresh_button.setToolTip("Check again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        head.addWidget(self.refresh_button)
        layout.addLayout(head)
        self.banner = Banner()
        self.banner.action_requested.connect(app.handle_action)
        layout.addWidget(self.banner)
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Sent videos")
        self.tree.setHeaderLabels(["Video / recipient", "Sent", "State", "Views"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self.on_tree_item_selection_changed)
        layout.addWidget(self.tree, 1)
        self.empty = QLabel("Nothing sent yet. Your sent videos and who watched them appear here.")
        self.empty.setProperty("muted", True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        layout.addWidget(self.detail)
        actions = QHBoxLayout()
        self.copy_button = QPushButton(icons.icon("copy"), "Copy link")
        self.copy_button.clicked.connect(self.copy_link)
        self.open_button = QPushButton(icons.icon("open"), "Open link")
        self.open_button.clicked.connect(self.open_link)
        actions.addWidget(self.copy_button)
        actions.addWidget(self.open_button)
        actions.addStretch(1)
        self.action_buttons: list[QPushButton] = []
        self._action_row = actions
        layout.addLayout(actions)
        self._timer = QTimer(self)
        self._timer.setInterval(VIEWS_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)
        self._refreshing = False
        self.on_tree_item_selection_changed()

    def start_watching(self) -> None:
        self._timer.start()
        self.refresh()

    # ------------------------------------------------------------------ data

    def refresh(self) -> None:
        from app.workflow.history import history  # noqa: PLC0415

        services = self.app.services
        if services is None or self._refreshing:
            return
        self._refreshing = True

        def load(cancel: threading.Event) -> tuple[list[SentJob], list[Watched]]:
            jobs = history(services)
            return self.watcher.check(services, jobs, cancel)

        self.app.tasks.run("load the history", load, on_done=self._loaded, on_error=self._failed)

    def _loaded(self, found: tuple[list[SentJob], list[Watched]]) -> None:
        self._refreshing = False
        jobs, watched = found
        self.show_jobs(jobs)
        if watched:
            self.watched.emit(watched)

    def _failed(self, error: Any) -> None:
        self._refreshing = False
        if error is not None:
            self.banner.show_error(error, retry=self.refresh)

    def show_jobs(self, jobs: list[SentJob]) -> None:
        selected = self._selected_ids()
        self.jobs = jobs
        self.tree.clear()
        for job in jobs:
            top = QTreeWidgetItem(
                [job.title or "Video", when(job.created_at), job.summary, _views(job)]
            )
            top.setData(0, JOB_ROLE, job.id)
            top.setIcon(0, icons.icon("warning" if job.needs_attention else "camera"))
            for m in job.messages:
                child = QTreeWidgetItem(
                    [
                        m.label,
                        when(m.sent_at) if m.sent_at else "",
                        STATE_WORDS.get(m.state, m.state),
                        "",
                    ]
                )
                child.setIcon(2, icons.icon(STATE_ICONS.get(m.state, "unknown")))
                child.setData(0, JOB_ROLE, job.id)
                child.setData(0, MESSAGE_ROLE, m.id)
                if m.reason and m.state != "sent":
                    child.setToolTip(2, m.reason)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            if job.needs_attention:
                top.setExpanded(True)
        self.empty.setVisible(not jobs)
        self.tree.setVisible(bool(jobs))
        self._reselect(selected)

    def _selected_ids(self) -> tuple[str, str]:
        items = self.tree.selectedItems()
        if not items:
            return "", ""
        return str(items[0].data(0, JOB_ROLE) or ""), str(items[0].data(0, MESSAGE_ROLE) or "")

    def _reselect(self, ids: tuple[str, str]) -> None:
        job_id, message_id = ids
        if not job_id:
            return
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top is None or top.data(0, JOB_ROLE) != job_id:
                continue
            target = top
            for j in range(top.childCount()):
                child = top.child(j)
                if child is not None and message_id and child.data(0, MESSAGE_ROLE) == message_id:
                    target = child
            self.tree.setCurrentItem(target)

    # ------------------------------------------------------------------ selection

    def selected(self) -> tuple[SentJob | None, SentMessage | None]:
        job_id, message_id = self._selected_ids()
        job = next((j for j in self.jobs if j.id == job_id), None)
        message = None
        if job is not None and message_id:
            message = next((m for m in job.messages if m.id == message_id), None)
        return job, message

    def link(self) -> str:
        job, message = self.selected()
        if message is not None and message.landing_url:
            return message.landing_url
        if job is not None and job.entry_id and self.app.services is not None:
            return self.app.services.landing_url(job.entry_id)
        return ""

    def on_tree_item_selection_changed(self) -> None:
        from app.workflow.history import ACTION_LABELS  # noqa: PLC0415

        job, message = self.selected()
        for button in self.action_buttons:
            button.deleteLater()
        self.action_buttons = []
        has_link = bool(self.link())
        self.copy_button.setEnabled(has_link)
        self.open_button.setEnabled(has_link)
        if message is None:
            self.detail.setText(
                f"{job.summary}. Played {job.plays} times, {job.views} views." if job else ""
            )
            return
        text = f"{message.label}: {STATE_WORDS.get(message.state, message.state)}"
        if message.reason and message.state != "sent":
            text += f". {message.reason}"
        if message.hint:
            text += f". {message.hint}"
        if message.other_profile and message.state not in ("sent", "cancelled"):
            text += f'. Sent from the profile "{message.other_profile}": switch to it to send it'
        self.detail.setText(text)
        for action in message.actions():
            button = QPushButton(ACTION_LABELS[action])
            button.clicked.connect(lambda _c=False, a=action, m=message.id: self.act(m, a))
            self._action_row.addWidget(button)
            self.action_buttons.append(button)

    def act(self, message_id: str, action: Any) -> None:
        from app.workflow.history import act  # noqa: PLC0415

        services = self.app.services
        if services is None:
            return
        self.app.tasks.run(
            f"history: {action}", lambda cancel: act(services, message_id, action, cancel=cancel),
            on_done=lambda _r: self.refresh(), on_error=self._failed,
        )  # fmt: skip

    def copy_link(self) -> None:
        link = self.link()
        if link:
            QGuiApplication.clipboard().setText(link)

    def open_link(self) -> None:
        link = self.link()
        if link:
            QDesktopServices.openUrl(QUrl(link))


def _views(job: SentJob) -> str:
    if not job.entry_id:
        return ""
    return f"{job.views} views, {job.plays} plays"

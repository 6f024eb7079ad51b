"""The recipient field: people as chips, live suggestions while typing, pasted lists.

Typing shows suggestions from the recipient search engine
(:class:`~app.microsoft.search.RecipientSearch`, which merges the people one works with
and the directory): the field asks for them through :attr:`RecipientField.query_changed`
and shows what :meth:`RecipientField.show_suggestions` gets back, if it still matches what
is typed. Up/Down pick a suggestion, Enter or Tab take it; Enter, comma or semicolon turn
a typed address into a chip; Backspace in an empty field removes the last chip. A pasted
list ("Ann <ann@x.com>; bob@y.org, ...") becomes one chip per address; anything that is
not an address becomes a red chip that says why, so nothing typed is lost silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QFrame,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import icons
from app.ui.widgets.flow_layout import FlowLayout

if TYPE_CHECKING:  # address checks and search load with the first recipient, not the window
    from app.microsoft.addresses import Address
    from app.microsoft.search import SearchResults, Suggestion

SEPARATORS = (",", ";", "\n")
ADDRESS_ROLE = Qt.ItemDataRole.UserRole + 1


class Chip(QToolButton):
    """One recipient; the × removes it. ``reason`` is set when it is not an address."""

    def __init__(self, text: str, address: Address | None, reason: str = "") -> None:
        super().__init__()
        self.address = address
        self.reason = reason
        self.raw = text
        label = address.name or address.address if address else text
        self.setText(label)
        self.setIcon(icons.icon("close"))
        self.setLayoutDirection(Qt.LayoutDirection.RightToLeft)  # the × after the name
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setProperty("chip", "invalid" if reason else "true")
        tip = address.formatted() if address else text
        if reason:
            tip = f"{text}: {reason}"
        self.setToolTip(f"{tip}\nClick to remove")
        self.setAccessibleName(f"Recipient {label}" + (" (not a valid address)" if reason else ""))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    @property
    def valid(self) -> bool:
        return self.address is not None


class RecipientField(QFrame):
    """To/Cc/Bcc recipients as chips with suggestions (see the module docstring)."""

    #: The text being typed (for the search engine); "" when there is nothing to look up.
    query_changed = Signal(str)
    #: Chips were added or removed.
    changed = Signal()

    def __init__(self, label: str = "To", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setAccessibleName(f"{label} recipients")
        self.chips: list[Chip] = []
        # The chips wrap onto as many lines as they need, up to MAX_LINES; past that the
        # field scrolls (thirty people stay reachable without pushing the form away).
        self.flow_host = QWidget()
        self.flow = FlowLayout(self.flow_host)
        self.scroller = QScrollArea()
        self.scroller.setWidget(self.flow_host)
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroller)
        self.flow_host.installEventFilter(self)  # its layout changed: fit the height again
        # The typing line is the last line: whenever the lines change, it stays in view.
        bar = self.scroller.verticalScrollBar()
        bar.rangeChanged.connect(lambda _low, high: bar.setValue(high))
        self.edit = QLineEdit()
        self.edit.setFrame(False)
        self.edit.setPlaceholderText("Type a name or an address")
        self.edit.setAccessibleName(f"{label}: type a name or an address")
        self.edit.textEdited.connect(self.on_edit_text_edited)
        self.edit.installEventFilter(self)
        self.flow.addWidget(self.edit)
        self.model = QStandardItemModel(self)
        self.completer = QCompleter(self.model, self)
        self.completer.setWidget(self.edit)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setMaxVisibleItems(8)
        self._popup().setMinimumWidth(380)  # names and addresses, not cut at the field's width
        # The overload that passes the model index (the default one passes the text).
        self.completer.activated[QModelIndex].connect(  # type: ignore[index]
            self.on_completer_activated
        )
        self.suggestions: list[Suggestion] = []
        self.notice = ""

    # ------------------------------------------------------------------ chips

    def addresses(self) -> list[str]:
        """The valid recipients, as ``Name <address>``."""
        return [c.address.formatted() for c in self.chips if c.address is not None]

    def invalid(self) -> list[Chip]:
        return [c for c in self.chips if not c.valid]

    def add_address(self, address: Address) -> None:
        if any(c.address is not None and c.address.key == address.key for c in self.chips):
            return  # already there
        self._add_chip(Chip(address.formatted(), address))

    def add_text(self, text: str) -> None:
        """Turn typed or pasted text into chips (bad items become red chips)."""
        from app.microsoft.addresses import InvalidAddress, parse_item, parse_list  # noqa: PLC0415

        text = text.strip()
        if not text:
            return
        if any(sep in text for sep in SEPARATORS):
            parsed = parse_list(text)
            for address in parsed.good:
                self.add_address(address)
            for bad in parsed.bad:
                self._add_chip(Chip(bad.text, None, bad.reason))
            return
        try:
            self.add_address(parse_item(text))
        except InvalidAddress as exc:
            self._add_chip(Chip(text, None, exc.hint or exc.message))

    #: Lines of chips shown before the field scrolls.
    MAX_LINES = 4

    def _fit_height(self) -> None:
        """As tall as the chips' lines (at most :attr:`MAX_LINES`), the typing line in view."""
        width = self.contentsRect().width()
        if width <= 0:
            return
        one_line = self.flow.heightForWidth(1_000_000)  # everything side by side
        step = one_line - self.flow.margins_height() + self.flow.spacing_px()
        cap = one_line + (self.MAX_LINES - 1) * step
        needed = self.flow.heightForWidth(width)
        scrolls = needed > cap
        if scrolls:  # the chips have the scroll bar's width less
            bar = self.scroller.verticalScrollBar().sizeHint().width()
            needed = self.flow.heightForWidth(width - bar)
        # A scroll bar only when it scrolls: one shown for a moment would take width from
        # the chips and push the typing line onto a line of its own.
        policy = (
            Qt.ScrollBarPolicy.ScrollBarAlwaysOn
            if scrolls
            else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )
        self.scroller.setVerticalScrollBarPolicy(policy)
        # The scrolled content is as tall as all its lines (a QScrollArea only knows the
        # layout's minimum size, which is one chip).
        self.flow_host.setMinimumHeight(needed)
        frame = self.height() - self.contentsRect().height()
        wanted = min(needed, cap) + frame
        if self.minimumHeight() != wanted or self.maximumHeight() != wanted:
            self.setFixedHeight(wanted)

    def _schedule_fit(self) -> None:
        """Fit once the new chips are laid out and styled (their size is known then);
        each layout change asks again, so a chip that grows when shown is counted."""
        QTimer.singleShot(0, self, self._fit_height)  # dropped if the field is gone

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _add_chip(self, chip: Chip) -> None:
        chip.clicked.connect(lambda _checked=False, c=chip: self.remove_chip(c))
        self.flow.insertWidget(len(self.chips), chip)
        chip.ensurePolished()  # its style sheet's padding is in its size from now on
        self.chips.append(chip)
        self._schedule_fit()
        self.updateGeometry()
        self.changed.emit()

    def remove_chip(self, chip: Chip) -> None:
        if chip in self.chips:
            self.chips.remove(chip)
            self.flow.removeWidget(chip)
            chip.deleteLater()
            self._schedule_fit()
            self.updateGeometry()
            self.changed.emit()
        self.edit.setFocus()

    def clear(self) -> None:
        for chip in list(self.chips):
            self.remove_chip(chip)
        self.edit.clear()

    def commit_text(self) -> bool:
        """Turn what is typed into chips; True if there was something."""
        text = self.edit.text()
        if not text.strip():
            return False
        self.edit.clear()
        self.hide_suggestions()
        self.add_text(text)
        self.query_changed.emit("")
        return True

    # ------------------------------------------------------------------ suggestions

    def show_suggestions(self, results: SearchResults) -> None:
        """Show the engine's answer if it is for what is typed now."""
        from app.microsoft.search import normalize  # noqa: PLC0415

        if normalize(results.query) != normalize(self.edit.text()) or not self.edit.hasFocus():
            return
        self.notice = results.notice or self.notice
        self.suggestions = list(results.suggestions)
        self.model.clear()
        taken = {c.address.key for c in self.chips if c.address is not None}
        for s in self.suggestions:
            if s.key in taken:
                continue
            item = QStandardItem(s.label())
            item.setData(s.address, ADDRESS_ROLE)
            item.setData(s.name, ADDRESS_ROLE + 1)
            item.setIcon(icons.icon("person" if s.source != "typed" else "send"))
            if s.source == "typed":
                item.setToolTip("Not in your directory: send to this address")
            self.model.appendRow(item)
        if self.model.rowCount():
            self.completer.complete()
            self._popup().setCurrentIndex(self.model.index(0, 0))
        else:
            self.hide_suggestions()

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # a QCompleter always has its popup
        return popup

    def hide_suggestions(self) -> None:
        self._popup().hide()

    def suggestions_visible(self) -> bool:
        return self._popup().isVisible()

    def on_completer_activated(self, index: QModelIndex) -> None:
        from app.microsoft.addresses import Address  # noqa: PLC0415

        address = str(index.data(ADDRESS_ROLE) or "")
        name = str(index.data(ADDRESS_ROLE + 1) or "")
        if address:
            self.add_address(Address(address=address, name=name))
        self.edit.clear()
        self.hide_suggestions()
        self.query_changed.emit("")

    # ------------------------------------------------------------------ typing

    def on_edit_text_edited(self, text: str) -> None:
        if any(sep in text for sep in SEPARATORS):
            self.commit_text()  # a pasted list, or a typed comma/semicolon
            return
        self.query_changed.emit(text.strip())
        if not text.strip():
            self.hide_suggestions()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.flow_host and event.type() == QEvent.Type.LayoutRequest:
            self._schedule_fit()
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
                event.modifiers() & Qt.KeyboardModifier.ControlModifier
            ):
                return self.commit_text()
            if key == Qt.Key.Key_Tab and self.edit.text().strip():
                if self.suggestions_visible():
                    index = self._popup().currentIndex()
                    if index.isValid():
                        self.on_completer_activated(index)
                        return True
                return self.commit_text()
            if key == Qt.Key.Key_Backspace and not self.edit.text() and self.chips:
                self.remove_chip(self.chips[-1])
                return True
        if (
            watched is self.edit
            and event.type() == QEvent.Type.FocusOut
            and not self.suggestions_visible()
        ):
            self.commit_text()  # leaving the field keeps what was typed, as a chip
        return super().eventFilter(watched, event)

    def mousePressEvent(self, event: object) -> None:
        self.edit.setFocus()

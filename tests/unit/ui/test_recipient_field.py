"""The To/Cc/Bcc field: chips wrap onto lines, the field grows with them up to four lines,
then scrolls, with every chip reachable and the typing line in view (thirty people)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QRect, Qt

from app.ui.widgets.recipients import RecipientField


def _people(first: int, last: int) -> str:
    return ", ".join(f"Person {i:02d} <p{i:02d}@fabrikam.example>" for i in range(first, last))


def _typing_line_in_view(field: RecipientField) -> bool:
    viewport = field.scroller.viewport()
    top_left = field.edit.mapTo(viewport, QPoint(0, 0))
    return QRect(QPoint(0, 0), viewport.size()).contains(QRect(top_left, field.edit.size()))


def test_chips_wrap_then_scroll_with_the_typing_line_in_view(qtbot: Any) -> None:
    field = RecipientField("To")
    qtbot.addWidget(field)
    field.resize(250, 40)
    field.show()
    qtbot.waitExposed(field)
    qtbot.waitUntil(lambda: field.height() < 40)  # fitted to one line
    one_line = field.height()

    field.add_text(_people(0, 3))
    qtbot.waitUntil(lambda: field.height() > one_line)  # the typing line went below
    policy = field.scroller.verticalScrollBarPolicy()
    assert policy == Qt.ScrollBarPolicy.ScrollBarAlwaysOff  # it all shows: no scroll bar
    assert field.flow_host.height() <= field.scroller.viewport().height()
    assert _typing_line_in_view(field)
    two_lines = field.height()

    field.add_text(_people(3, 30))
    qtbot.waitUntil(
        lambda: field.scroller.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOn
    )
    qtbot.waitUntil(lambda: _typing_line_in_view(field))
    assert len(field.chips) == 30
    assert two_lines < field.height() <= one_line * 5  # four lines at most
    needed = field.flow.heightForWidth(field.scroller.viewport().width())
    assert field.flow_host.height() >= needed > field.scroller.viewport().height()  # reachable

    for chip in list(field.chips)[3:]:
        field.remove_chip(chip)
    qtbot.waitUntil(lambda: field.height() == two_lines)
    assert field.scroller.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff

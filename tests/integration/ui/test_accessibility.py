"""Every control can be found by a screen reader and by keyboard, in light and in dark."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

INPUTS = (QLineEdit, QComboBox, QPlainTextEdit, QTextEdit, QAbstractItemView)


def labelled_by_form(widget: QWidget) -> bool:
    """A form row's label (with a buddy or not) names the field for screen readers."""
    parent = widget.parentWidget()
    while parent is not None:
        layout = parent.layout()
        if isinstance(layout, QFormLayout) and layout.labelForField(widget) is not None:
            return True
        parent = parent.parentWidget()
    labels = widget.window().findChildren(QLabel)
    return any(label.buddy() is widget for label in labels)


def in_a_popup_of_qt(widget: QWidget) -> bool:
    """Combo box lists, completer popups, the edit inside a spin box: Qt names those."""
    parent = widget.parentWidget()
    while parent is not None:
        # Parts of Qt's composite inputs; the input itself is what is named.
        if isinstance(parent, QComboBox | QAbstractSpinBox | QKeySequenceEdit):
            return True
        parent = parent.parentWidget()
    return bool(widget.windowFlags() & Qt.WindowType.Popup)


def unnamed(root: QWidget) -> list[str]:
    missing = []
    for w in root.findChildren(QWidget):
        if in_a_popup_of_qt(w) or isinstance(w, QHeaderView):  # headers: their column titles
            continue
        if isinstance(w, QAbstractButton):
            if not (w.text().replace("&", "").strip() or w.accessibleName()):
                missing.append(f"{type(w).__name__} {w.toolTip()!r}")
        elif isinstance(w, INPUTS) and not (w.accessibleName() or labelled_by_form(w)):
            missing.append(f"{type(w).__name__} in {type(w.parentWidget()).__name__}")
    return missing


def test_every_control_has_a_name(qtbot: Any, desktop_factory: Any) -> None:
    from app.ui.quick_record import QuickRecordWindow
    from app.ui.settings_dialog import SettingsDialog
    from app.ui.wizard import FirstRunWizard

    app = desktop_factory()
    window = app.window
    for page in (window.record, window.review, window.compose, window.sent, window.history):
        assert unnamed(page) == [], type(page).__name__
    settings = SettingsDialog(app, window)
    qtbot.addWidget(settings)
    wizard = FirstRunWizard(app, window)
    qtbot.addWidget(wizard)
    quick = QuickRecordWindow(app)
    qtbot.addWidget(quick)
    for dialog in (settings, wizard, quick):
        assert unnamed(dialog) == [], type(dialog).__name__


def test_every_menu_action_with_a_shortcut_says_it_in_its_tooltip(desktop_factory: Any) -> None:
    app = desktop_factory()
    for name, action in app.window.actions_by_name.items():
        if not action.shortcut().isEmpty():
            shown = action.shortcut().toString(action.shortcut().SequenceFormat.NativeText)
            assert shown in action.toolTip(), name


def test_the_app_follows_the_system_into_dark_and_back(qtbot: Any, desktop_factory: Any) -> None:
    app = desktop_factory()
    hints = QGuiApplication.styleHints()
    # The offscreen platform has no system scheme to switch: deliver the OS's signal.
    scheme_changed = app.theme.on_hints_color_scheme_changed
    assert hints.colorSchemeChanged.disconnect(scheme_changed)  # it is connected
    hints.colorSchemeChanged.connect(scheme_changed)
    try:
        with qtbot.waitSignal(app.theme.changed, timeout=5000):
            hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        window_colour = app.qapp.palette().color(QPalette.ColorRole.Window)
        text_colour = app.qapp.palette().color(QPalette.ColorRole.WindowText)
        assert window_colour.lightness() < 60 and text_colour.lightness() > 200
        # Icons are drawn in the new text colour.
        from app.ui import icons

        image = icons.pixmap("settings", 32).toImage()
        drawn = [image.pixelColor(x, y) for x in range(32) for y in range(32)]
        opaque = [c for c in drawn if c.alpha() > 200]
        assert opaque and min(c.lightness() for c in opaque) > 180
    finally:
        with qtbot.waitSignal(app.theme.changed, timeout=5000):
            hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert app.qapp.palette().color(QPalette.ColorRole.Window).lightness() > 200

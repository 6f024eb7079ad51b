"""Light and dark, following the OS: one palette, one accent, a short style sheet.

The Fusion style draws the same on Windows, macOS and Linux and takes the palette as it is
given, so one light and one dark palette give the app the same look everywhere. The OS's
choice is read from ``QStyleHints.colorScheme()`` and followed when it changes; icons are
drawn again in the new text colour (:mod:`app.ui.icons`).

Widgets never hard-code colours: they use the palette roles, or the named properties of
the style sheet below (``primary`` and ``danger`` buttons, ``banner`` frames, ``muted``
labels, ``card`` frames).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.ui import icons

ACCENT = "#0a66e4"
ACCENT_DARK = "#4c93ff"
RED = "#d93025"

_STYLE = """
QPushButton[primary="true"] {
    background: %(accent)s; color: white; border: none; border-radius: 6px;
    padding: 7px 18px; font-weight: 600;
}
QPushButton[primary="true"]:hover { background: %(accent_hover)s; }
QPushButton[primary="true"]:disabled { background: %(disabled)s; color: %(disabled_text)s; }
QPushButton[danger="true"] {
    background: %(red)s; color: white; border: none; border-radius: 6px;
    padding: 7px 18px; font-weight: 600;
}
QPushButton[danger="true"]:disabled { background: %(disabled)s; color: %(disabled_text)s; }
QPushButton[flat_link="true"] { border: none; color: %(accent)s; padding: 2px 4px; }
QFrame[banner] { border-radius: 6px; }
QFrame[banner="info"] { background: %(info_bg)s; border: 1px solid %(info_border)s; }
QFrame[banner="warning"] { background: %(warn_bg)s; border: 1px solid %(warn_border)s; }
QFrame[banner="error"] { background: %(error_bg)s; border: 1px solid %(error_border)s; }
QFrame[card="true"] { background: %(card)s; border: 1px solid %(border)s; border-radius: 8px; }
QLabel[muted="true"] { color: %(muted)s; }
QListWidget[nav="true"] {
    border: none; background: transparent; outline: 0; show-decoration-selected: 1;
}
QListWidget[nav="true"]::item { padding: 8px 10px; border-radius: 6px; }
QListWidget[nav="true"]::item:selected { background: %(accent)s; color: white; }
QLabel[heading="true"] { font-size: 17px; font-weight: 600; }
QLabel[step="current"] { color: %(accent)s; font-weight: 600; }
QLabel[step="done"] { color: %(text)s; }
QLabel[step="todo"] { color: %(muted)s; }
QToolButton[chip="true"] {
    border: 1px solid %(border)s; border-radius: 11px; padding: 1px 6px;
    background: %(chip)s;
}
QToolButton[chip="invalid"] {
    border: 1px solid %(red)s; border-radius: 11px; padding: 1px 6px;
    background: %(error_bg)s;
}
"""


def is_dark() -> bool:
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def _palette(dark: bool) -> QPalette:
    p = QPalette()
    if dark:
        window, base, alt, text = "#202124", "#17181a", "#2a2b2e", "#e8eaed"
        button, mid, muted, accent = "#2d2e31", "#3c4043", "#9aa0a6", ACCENT_DARK
    else:
        window, base, alt, text = "#f6f7f9", "#ffffff", "#eef0f3", "#202124"
        button, mid, muted, accent = "#ffffff", "#c8ccd2", "#5f6368", ACCENT
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: alt,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: button,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.ToolTipBase: base,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: muted,
        QPalette.ColorRole.Highlight: accent,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: accent,
        QPalette.ColorRole.Mid: mid,
        QPalette.ColorRole.Midlight: alt,
        QPalette.ColorRole.Dark: mid,
        QPalette.ColorRole.Light: base,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(muted))
    return p


def _style(dark: bool) -> str:
    if dark:
        values = {
            "accent": ACCENT_DARK, "accent_hover": "#6aa6ff", "red": "#f28b82",
            "disabled": "#3c4043", "disabled_text": "#9aa0a6", "text": "#e8eaed",
            "muted": "#9aa0a6", "border": "#3c4043", "card": "#2a2b2e", "chip": "#2d2e31",
            "info_bg": "#1c2b41", "info_border": "#2f4f7f",
            "warn_bg": "#3a3020", "warn_border": "#7a6228",
            "error_bg": "#3c2020", "error_border": "#8c3a36",
        }  # fmt: skip
    else:
        values = {
            "accent": ACCENT, "accent_hover": "#0857c3", "red": RED,
            "disabled": "#dadce0", "disabled_text": "#80868b", "text": "#202124",
            "muted": "#5f6368", "border": "#d5d9de", "card": "#ffffff", "chip": "#eef2f8",
            "info_bg": "#e8f0fe", "info_border": "#aecbfa",
            "warn_bg": "#fef7e0", "warn_border": "#f9d77e",
            "error_bg": "#fce8e6", "error_border": "#f4b8b2",
        }  # fmt: skip
    return _STYLE % values


class Theme(QObject):
    """Applies the palette for the OS's scheme and follows its changes."""

    changed = Signal()

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.dark = False
        if app.style().name().lower() != "fusion":  # often already it (Linux): 9 ms saved
            app.setStyle("Fusion")
        self.apply()
        app.styleHints().colorSchemeChanged.connect(self.on_hints_color_scheme_changed)

    def apply(self, scheme: Qt.ColorScheme | None = None) -> None:
        dark = is_dark() if scheme is None else scheme == Qt.ColorScheme.Dark
        self.dark = dark
        self.app.setPalette(_palette(dark))
        self.app.setStyleSheet(_style(dark))
        icons.clear_cache()

    def on_hints_color_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        self.apply(scheme)
        self.changed.emit()


def _dark_now() -> bool:
    """Whether the palette in use is the dark one (what the theme applied last)."""
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def accent() -> QColor:
    return QColor(ACCENT_DARK if _dark_now() else ACCENT)


def red() -> QColor:
    return QColor("#f28b82" if _dark_now() else RED)

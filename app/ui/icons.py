"""The app's icons: SVG files in ``resources/icons/``, drawn in the palette's text colour.

Each icon is rendered at every size a widget may ask for and at twice that for high-DPI
screens, so it stays sharp; glyph icons use ``currentColor``, which becomes the colour of
text in the current (light or dark) palette. Coloured icons (record, the tray states) keep
their own colours.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app import paths

SIZES = (16, 20, 24, 32, 48, 64, 128)


def icon_path(name: str) -> str:
    return str(paths.resources_dir() / "icons" / f"{name}.svg")


def _text_colour() -> str:
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return "#202124"
    return app.palette().color(QPalette.ColorRole.WindowText).name()


@cache
def _render(name: str, colour: str) -> QIcon:
    with open(icon_path(name), encoding="utf-8") as f:
        svg = f.read().replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    result = QIcon()
    for size in SIZES:
        for scale in (1, 2):
            pixmap = QPixmap(size * scale, size * scale)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter)
            painter.end()
            pixmap.setDevicePixelRatio(scale)
            result.addPixmap(pixmap)
    return result


def icon(name: str, colour: str | QColor | None = None) -> QIcon:
    """The icon ``name`` (a file in resources/icons), its glyph in ``colour`` (default: the
    palette's text colour)."""
    if isinstance(colour, QColor):
        colour = colour.name()
    return _render(name, colour or _text_colour())


def pixmap(name: str, size: int, colour: str | None = None) -> QPixmap:
    return icon(name, colour).pixmap(QSize(size, size))


def clear_cache() -> None:
    """Forget rendered icons (the palette changed: light to dark)."""
    _render.cache_clear()

"""The app's icons: SVG files in ``resources/icons/``, drawn in the palette's text colour.

An icon is drawn from its SVG at the size and screen scale a widget asks for, when it asks
(a small icon engine with a cache per size), so it is sharp at any DPI and the window
does not wait for icons it has not shown yet. Glyph icons use ``currentColor``, which
becomes the colour of text in the current (light or dark) palette; coloured icons (record,
the tray states) keep their own colours. Disabled icons are drawn faded, as the style
draws them.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QGuiApplication,
    QIcon,
    QIconEngine,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtSvg import QSvgRenderer

from app import paths


def icon_path(name: str) -> str:
    return str(paths.resources_dir() / "icons" / f"{name}.svg")


def _text_colour() -> str:
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return "#202124"
    return app.palette().color(QPalette.ColorRole.WindowText).name()


class SvgIconEngine(QIconEngine):
    """Draws one SVG at whatever size is asked, caching each size. Without a fixed
    ``colour`` the glyph takes the palette's text colour at the time it is drawn, so icons
    follow the system from light to dark without being set again."""

    def __init__(self, name: str, colour: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.colour = colour
        self._renderers: dict[str, QSvgRenderer] = {}
        self._cache: dict[tuple[int, int, int, bool, str], QPixmap] = {}

    def _render(self, width: int, height: int, scale: float, mode: QIcon.Mode) -> QPixmap:
        colour = self.colour or _text_colour()
        disabled = mode == QIcon.Mode.Disabled
        key = (width, height, round(scale * 100), disabled, colour)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        renderer = self._renderers.get(colour)
        if renderer is None:
            renderer = self._renderers[colour] = QSvgRenderer(QByteArray(_svg(self.name, colour)))
        pixmap = QPixmap(max(1, round(width * scale)), max(1, round(height * scale)))
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if disabled:
            painter.setOpacity(0.4)
        renderer.render(painter)
        painter.end()
        pixmap.setDevicePixelRatio(scale)
        self._cache[key] = pixmap
        return pixmap

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self._render(size.width(), size.height(), 1.0, mode)

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        return self._render(size.width(), size.height(), scale, mode)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        scale = painter.device().devicePixelRatioF() if painter.device() else 1.0
        pixmap = self._render(rect.width(), rect.height(), scale, mode)
        painter.drawPixmap(QPoint(rect.x(), rect.y()), pixmap)

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        return size

    def clone(self) -> QIconEngine:
        return SvgIconEngine(self.name, self.colour)


@cache
def _svg(name: str, colour: str) -> bytes:
    with open(icon_path(name), encoding="utf-8") as f:
        return f.read().replace("currentColor", colour).encode("utf-8")


def icon(name: str, colour: str | None = None) -> QIcon:
    """The icon ``name`` (a file in resources/icons), its glyph in ``colour`` (default: the
    palette's text colour, whatever it is when the icon is drawn)."""
    return QIcon(SvgIconEngine(name, colour))


def pixmap(name: str, size: int, colour: str | None = None) -> QPixmap:
    return icon(name, colour).pixmap(QSize(size, size))


def clear_cache() -> None:
    """Forget recoloured icons (the palette changed: light to dark)."""
    _svg.cache_clear()

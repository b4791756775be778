"""Small line icons drawn with QPainter in the palette's colours, so they follow light and dark.

Each icon is a drawing function on a 24×24 grid; ``painted_icon(name)`` wraps it in a QIcon whose
engine paints at the size and device-pixel ratio asked for (crisp on HiDPI) and picks its colour
from the application palette when it is painted (so a theme switch needs no icon reload).
"""

from collections.abc import Callable

from ui.qt import QtCore, QtGui, Qt

Draw = Callable[[QtGui.QPainter], None]


def _mic(p: QtGui.QPainter) -> None:
    p.drawRoundedRect(QtCore.QRectF(9, 3, 6, 11), 3, 3)
    p.drawArc(QtCore.QRectF(5.5, 6, 13, 11), 180 * 16, 180 * 16)
    p.drawLine(QtCore.QPointF(12, 17), QtCore.QPointF(12, 20.5))
    p.drawLine(QtCore.QPointF(8.5, 20.5), QtCore.QPointF(15.5, 20.5))


def _screen(p: QtGui.QPainter) -> None:
    # A selection frame's four corners around a dot: "take a picture of the screen".
    for x, y, dx, dy in ((3.5, 3.5, 1, 1), (20.5, 3.5, -1, 1), (3.5, 20.5, 1, -1), (20.5, 20.5, -1, -1)):
        p.drawPolyline([QtCore.QPointF(x, y + 5 * dy), QtCore.QPointF(x, y), QtCore.QPointF(x + 5 * dx, y)])
    p.drawEllipse(QtCore.QPointF(12, 12), 3.2, 3.2)


def _send(p: QtGui.QPainter) -> None:
    p.drawLine(QtCore.QPointF(12, 19), QtCore.QPointF(12, 5.5))
    p.drawPolyline([QtCore.QPointF(6.5, 11), QtCore.QPointF(12, 5.5), QtCore.QPointF(17.5, 11)])


def _stop(p: QtGui.QPainter) -> None:
    p.setBrush(p.pen().color())
    p.drawRoundedRect(QtCore.QRectF(7.5, 7.5, 9, 9), 1.5, 1.5)


def _close(p: QtGui.QPainter) -> None:
    p.drawLine(QtCore.QPointF(7, 7), QtCore.QPointF(17, 17))
    p.drawLine(QtCore.QPointF(17, 7), QtCore.QPointF(7, 17))


def _wave(p: QtGui.QPainter) -> None:
    for x, half in ((5, 2.5), (8.5, 5.5), (12, 8), (15.5, 4.5), (19, 2)):
        p.drawLine(QtCore.QPointF(x, 12 - half), QtCore.QPointF(x, 12 + half))


def _expand(p: QtGui.QPainter) -> None:
    # "Open in the main window": a box with an arrow leaving its corner.
    p.drawPolyline([QtCore.QPointF(11, 5), QtCore.QPointF(5, 5), QtCore.QPointF(5, 19),
                    QtCore.QPointF(19, 19), QtCore.QPointF(19, 13)])
    p.drawLine(QtCore.QPointF(11, 13), QtCore.QPointF(19, 5))
    p.drawPolyline([QtCore.QPointF(14, 5), QtCore.QPointF(19, 5), QtCore.QPointF(19, 10)])


def _chevron(p: QtGui.QPainter) -> None:
    p.drawPolyline([QtCore.QPointF(7, 10), QtCore.QPointF(12, 15), QtCore.QPointF(17, 10)])


DRAWINGS: dict[str, Draw] = {
    "mic": _mic, "screen": _screen, "send": _send, "stop": _stop, "close": _close,
    "wave": _wave, "expand": _expand, "chevron": _chevron,
}


def paint_glyph(painter: QtGui.QPainter, name: str, rect: QtCore.QRectF, colour: QtGui.QColor) -> None:
    """Draw the named glyph scaled into ``rect`` with a round pen of ``colour``."""
    painter.save()
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.translate(rect.topLeft())
    painter.scale(rect.width() / 24.0, rect.height() / 24.0)
    pen = QtGui.QPen(colour, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    DRAWINGS[name](painter)
    painter.restore()


class _GlyphEngine(QtGui.QIconEngine):
    def __init__(self, name: str, role: QtGui.QPalette.ColorRole):
        super().__init__()
        self._name, self._role = name, role

    def _colour(self, mode: QtGui.QIcon.Mode) -> QtGui.QColor:
        palette = QtGui.QGuiApplication.palette()
        group = QtGui.QPalette.ColorGroup.Disabled if mode == QtGui.QIcon.Mode.Disabled else QtGui.QPalette.ColorGroup.Active
        return palette.color(group, self._role)

    def paint(self, painter, rect, mode, state):
        paint_glyph(painter, self._name, QtCore.QRectF(rect), self._colour(mode))

    def pixmap(self, size, mode, state):
        return self.scaledPixmap(size, mode, state, 1.0)

    def scaledPixmap(self, size, mode, state, scale):
        pixmap = QtGui.QPixmap(size * scale if scale != 1.0 else size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(pixmap)
        self.paint(painter, QtCore.QRect(QtCore.QPoint(0, 0), pixmap.size()), mode, state)
        painter.end()
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def clone(self):
        return _GlyphEngine(self._name, self._role)


def painted_icon(name: str, role: QtGui.QPalette.ColorRole = QtGui.QPalette.ColorRole.ButtonText) -> QtGui.QIcon:
    """A QIcon of the named glyph in the palette colour ``role`` (greyed when disabled)."""
    if name not in DRAWINGS:
        raise KeyError(f"no painted icon called {name!r}")
    return QtGui.QIcon(_GlyphEngine(name, role))

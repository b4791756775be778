"""Drag a rectangle on the screen: a translucent overlay over every monitor.

``show_over_screens(backdrop=None)`` covers the virtual desktop (the union of all QScreen
geometries). The user drags a rectangle; letting go emits ``regionSelected(QRect)`` in physical
pixels (and ``regionSelectedLogical(QRect)`` in Qt's logical desktop coordinates). Enter takes the
whole screen under the pointer; Esc or the right mouse button emits ``cancelled()``. The overlay
hides itself before it emits, so a capture taken in the slot does not show it.

Logical to physical, per screen. Qt gives every screen a geometry whose top-left corner is the
screen's origin in the platform's desktop coordinates and whose size is in logical pixels
(physical / devicePixelRatio). A logical point p on a screen with geometry g and ratio r is the
physical point ``g.topLeft() + (p - g.topLeft()) * r``. On Windows and X11 those are the desktop's
pixel coordinates, the ones mss takes; on macOS the desktop unit is the point, and mss takes
points, so use ``regionSelectedLogical`` there. A selection belongs to the screen where the drag
began and is clipped to it: one rectangle cannot have two pixel densities.

Without a compositor (plain X11) a translucent window is drawn opaque; pass ``backdrop`` (a
screenshot of all screens together, physical pixels, as mss's monitor 0 gives it) to show a
frozen image of the desktop under the veil instead.
"""

from dataclasses import dataclass

from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal

MIN_DRAG = 4  # logical pixels: anything smaller is a click, not a selection
VEIL = QtGui.QColor(0, 0, 0, 110)


@dataclass(frozen=True)
class ScreenArea:
    """One monitor as Qt sees it: ``geometry`` like QScreen.geometry(), ``ratio`` its devicePixelRatio."""

    geometry: QtCore.QRect
    ratio: float

    def physical(self) -> QtCore.QRect:
        return logical_to_physical(self.geometry, self)


def screen_areas() -> list[ScreenArea]:
    return [ScreenArea(s.geometry(), s.devicePixelRatio()) for s in QtGui.QGuiApplication.screens()]


def logical_to_physical(rect: QtCore.QRect, area: ScreenArea) -> QtCore.QRect:
    """``rect`` (logical, on ``area``'s screen; clipped to it) in physical pixels.

    Edges are rounded, not the size, so neighbouring rectangles stay neighbours at 1.25 or 1.5.
    """
    r = rect.intersected(area.geometry)
    if r.isEmpty():
        return QtCore.QRect()
    origin = area.geometry.topLeft()

    def scale(value: int, base: int) -> int:
        return base + round((value - base) * area.ratio)

    left, top = scale(r.x(), origin.x()), scale(r.y(), origin.y())
    right, bottom = scale(r.x() + r.width(), origin.x()), scale(r.y() + r.height(), origin.y())
    return QtCore.QRect(left, top, right - left, bottom - top)


def area_at(point: QtCore.QPoint, areas: list[ScreenArea]) -> ScreenArea | None:
    """The screen holding ``point``; else the nearest one (the pointer can sit in a gap)."""
    if not areas:
        return None
    for area in areas:
        if area.geometry.contains(point):
            return area

    def distance(area: ScreenArea) -> int:
        g = area.geometry
        dx = max(g.left() - point.x(), 0, point.x() - g.right())
        dy = max(g.top() - point.y(), 0, point.y() - g.bottom())
        return dx * dx + dy * dy
    return min(areas, key=distance)


def selection_rect(anchor: QtCore.QPoint, current: QtCore.QPoint, area: ScreenArea) -> QtCore.QRect:
    """The logical rectangle between two corners (either order), clipped to ``area``.

    A drag from x=100 to x=400 is 300 wide: the pointer positions are the rectangle's edges.
    """
    left, right = sorted((anchor.x(), current.x()))
    top, bottom = sorted((anchor.y(), current.y()))
    return QtCore.QRect(left, top, right - left, bottom - top).intersected(area.geometry)


class RegionOverlay(QtWidgets.QWidget):
    regionSelected = Signal(QtCore.QRect)
    regionSelectedLogical = Signal(QtCore.QRect)
    cancelled = Signal()

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
                         | Qt.WindowType.Tool)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setWindowTitle("Select a region")
        self.setAccessibleName("Select a region of the screen")
        self.setToolTip("Drag to select · Enter: whole screen · Esc: cancel")
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._areas: list[ScreenArea] = []
        self._backdrop: QtGui.QImage | None = None
        self._anchor: QtCore.QPoint | None = None
        self._current = QtCore.QPoint()

    # Showing ------------------------------------------------------------------------------
    def show_over_screens(self, backdrop: QtGui.QImage | None = None) -> None:
        self._areas = screen_areas()
        self._backdrop = backdrop
        self._anchor = None
        self._current = QtGui.QCursor.pos()
        union = QtCore.QRect()
        for area in self._areas:
            union = union.united(area.geometry)
        self.setGeometry(union)
        self.show()
        self.raise_()
        self.activateWindow()
        self.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def selection(self) -> QtCore.QRect:
        """The logical selection so far (global coordinates); empty before a drag."""
        area = area_at(self._anchor, self._areas) if self._anchor is not None else None
        return selection_rect(self._anchor, self._current, area) if area else QtCore.QRect()

    # Finishing ----------------------------------------------------------------------------
    def _finish(self, logical: QtCore.QRect, area: ScreenArea) -> None:
        physical = logical_to_physical(logical, area)
        self.hide()
        self.regionSelectedLogical.emit(logical)
        self.regionSelected.emit(physical)

    def _cancel(self) -> None:
        self._anchor = None
        self.hide()
        self.cancelled.emit()

    # Input --------------------------------------------------------------------------------
    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self._cancel()
        elif event.button() == Qt.MouseButton.LeftButton:
            self._anchor = self._current = event.globalPosition().toPoint()
            self.update()

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        self._current = event.globalPosition().toPoint()
        self.update()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._anchor is None:
            return
        self._current = event.globalPosition().toPoint()
        area = area_at(self._anchor, self._areas)
        logical = self.selection()
        self._anchor = None
        if area is None or logical.width() < MIN_DRAG or logical.height() < MIN_DRAG:
            self.update()  # a click: stay open for a real drag
            return
        self._finish(logical, area)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._cancel()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            area = area_at(self._current, self._areas)
            if area is not None:
                self._finish(area.geometry, area)
        else:
            super().keyPressEvent(event)

    # Painting -----------------------------------------------------------------------------
    def _local(self, rect: QtCore.QRect) -> QtCore.QRect:
        return rect.translated(-self.geometry().topLeft())

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        p.setCompositionMode(QtGui.QPainter.CompositionMode.CompositionMode_Source)
        p.fillRect(self.rect(), Qt.GlobalColor.transparent)
        p.setCompositionMode(QtGui.QPainter.CompositionMode.CompositionMode_SourceOver)
        if self._backdrop is not None:
            self._paint_backdrop(p)
        selection = self.selection()
        veil = QtGui.QRegion(self.rect()).subtracted(QtGui.QRegion(self._local(selection)))
        p.setClipRegion(veil)
        p.fillRect(self.rect(), VEIL)
        p.setClipping(False)
        if selection.isEmpty():
            self._paint_hint(p)
            return
        accent = self.palette().color(QtGui.QPalette.ColorRole.Highlight)
        p.setPen(QtGui.QPen(accent, 2))
        p.drawRect(self._local(selection).adjusted(-1, -1, 0, 0))
        physical = logical_to_physical(selection, area_at(self._anchor, self._areas))
        self._paint_label(p, f"{physical.width()} × {physical.height()}", self._local(selection))

    def _paint_backdrop(self, p: QtGui.QPainter) -> None:
        """Each screen's part of the all-screens screenshot, drawn into that screen's place."""
        physical = [a.physical() for a in self._areas]
        left = min(r.left() for r in physical)
        top = min(r.top() for r in physical)
        for area, source in zip(self._areas, physical):
            p.drawImage(self._local(area.geometry), self._backdrop, source.translated(-left, -top))

    def _paint_label(self, p: QtGui.QPainter, text: str, around: QtCore.QRect) -> None:
        """The selection's size, under its bottom-left corner (inside it if there is no room)."""
        box = self._pill(p, text)
        box.moveTopLeft(around.bottomLeft() + QtCore.QPoint(0, 6))
        if not self.rect().contains(box):
            box.moveTopLeft(around.topLeft() + QtCore.QPoint(6, 6))
        self._paint_pill(p, box, text)

    def _paint_hint(self, p: QtGui.QPainter) -> None:
        area = area_at(self._current, self._areas)
        if area is None:
            return
        text = "Drag to select a region  ·  Enter: whole screen  ·  Esc: cancel"
        font = QtGui.QFont(p.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        p.setFont(font)
        box = self._pill(p, text)
        screen = self._local(area.geometry)
        box.moveCenter(QtCore.QPoint(screen.center().x(), screen.top() + 48))
        self._paint_pill(p, box, text)

    @staticmethod
    def _pill(p: QtGui.QPainter, text: str) -> QtCore.QRect:
        metrics = p.fontMetrics()
        return QtCore.QRect(0, 0, metrics.horizontalAdvance(text) + 16, metrics.height() + 10)

    @staticmethod
    def _paint_pill(p: QtGui.QPainter, box: QtCore.QRect, text: str) -> None:
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0, 190))
        p.drawRoundedRect(QtCore.QRectF(box), 6, 6)
        p.setPen(QtGui.QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

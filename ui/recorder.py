"""Hold-to-talk: the microphone button, and the strip that shows a recording as it happens.

``TalkButton`` emits ``talkPressed`` when the mouse button (or Space) goes down on it and
``talkReleased`` when it comes up, wherever the pointer is by then; it also releases if it loses
focus or is hidden mid-press, so a recording can never be left running by the widget.
``RecordingStrip`` shows a red dot, a live level meter, the elapsed time and, in the last
``COUNTDOWN_S`` seconds before the maximum length, how many seconds are left. Recording itself is
the app's business: these widgets only show what they are told.
"""

import math

from ui.painted_icons import painted_icon
from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal

COUNTDOWN_S = 10  # show "Stops in N s" from this many seconds before the maximum
RECORDING_RED = QtGui.QColor(220, 53, 69)  # the one accent for "the microphone is on"


def format_elapsed(seconds: float) -> str:
    """0:07, 1:05 — whole seconds, never negative."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def countdown_caption(elapsed_s: float, max_s: float) -> str:
    """"Stops in 4 s" near the maximum length, "" before that (or with no maximum)."""
    if max_s <= 0:
        return ""
    left = max_s - elapsed_s
    if left > COUNTDOWN_S:
        return ""
    return f"Stops in {max(0, math.ceil(left))} s"


class TalkButton(QtWidgets.QToolButton):
    """Press and hold to talk. Looks pressed (red) while ``set_recording(True)``."""

    talkPressed = Signal()
    talkReleased = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._holding = False
        self._recording = False
        self.setIcon(painted_icon("mic"))
        self.setAutoRaise(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Hold to talk")
        self.setToolTip("Hold to talk: keep the mouse button (or Space) down while you speak")

    def is_holding(self) -> bool:
        return self._holding

    def set_recording(self, recording: bool) -> None:
        self._recording = recording
        self.setAccessibleDescription("Recording" if recording else "")
        self.update()

    def _press(self) -> None:
        if not self._holding:
            self._holding = True
            self.setDown(True)
            self.talkPressed.emit()

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self.setDown(False)
            self.talkReleased.emit()

    # QAbstractButton releases when the pointer leaves the button; a talk button must not.
    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._press()
        event.accept()

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        event.accept()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._release()
        event.accept()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers():
            if not event.isAutoRepeat():
                self._press()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._release()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QtGui.QFocusEvent) -> None:
        # A popup during a mouse hold does not end it (the mouse is still down); a Tab away does.
        if event.reason() != Qt.FocusReason.PopupFocusReason and not QtWidgets.QApplication.mouseButtons():
            self._release()
        super().focusOutEvent(event)

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        self._release()
        super().hideEvent(event)

    def changeEvent(self, event: QtCore.QEvent) -> None:
        if event.type() == QtCore.QEvent.Type.EnabledChange and not self.isEnabled():
            self._release()
        super().changeEvent(event)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        if not self._recording:
            super().paintEvent(event)
            return
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(RECORDING_RED)
        side = min(self.width(), self.height()) - 2
        circle = QtCore.QRectF(0, 0, side, side)
        circle.moveCenter(QtCore.QRectF(self.rect()).center())
        p.drawEllipse(circle)
        size = self.iconSize()
        icon_rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        icon_rect.moveCenter(self.rect().center())
        painted_icon("mic", QtGui.QPalette.ColorRole.HighlightedText).paint(p, icon_rect)


class LevelMeter(QtWidgets.QWidget):
    """A slim horizontal bar: 0 is silence, 1 is full scale (drawn red from 0.9: too loud)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._level = 0.0
        self.setMinimumWidth(60)
        self.setFixedHeight(8)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Microphone level")

    def level(self) -> float:
        return self._level

    def set_level(self, level: float) -> None:
        level = 0.0 if not math.isfinite(level) else min(1.0, max(0.0, float(level)))
        if level != self._level:
            self._level = level
            self.setAccessibleDescription(f"{round(level * 100)} percent")
            self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        track = QtCore.QRectF(self.rect())
        radius = track.height() / 2
        p.setBrush(self.palette().color(QtGui.QPalette.ColorRole.Mid))
        p.drawRoundedRect(track, radius, radius)
        if self._level <= 0:
            return
        fill = QtCore.QRectF(track)
        fill.setWidth(max(track.height(), track.width() * self._level))
        loud = self._level >= 0.9
        p.setBrush(RECORDING_RED if loud else self.palette().color(QtGui.QPalette.ColorRole.Highlight))
        p.drawRoundedRect(fill, radius, radius)


class RecordingStrip(QtWidgets.QWidget):
    """● level meter  0:12   Stops in 8 s  — hidden while not recording."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        layout.setSpacing(8)
        self.dot = QtWidgets.QLabel("●", self)
        self.dot.setStyleSheet(f"color: {RECORDING_RED.name()};")
        self.caption = QtWidgets.QLabel("Listening…", self)
        self.meter = LevelMeter(self)
        self.elapsed = QtWidgets.QLabel("0:00", self)
        self.elapsed.setAccessibleName("Recording time")
        digits = QtGui.QFont(self.elapsed.font())
        digits.setFeature(QtGui.QFont.Tag("tnum"), 1)  # the time does not jitter as digits change
        self.elapsed.setFont(digits)
        self.countdown = QtWidgets.QLabel(self)
        self.countdown.setAccessibleName("Time left")
        self.countdown.setStyleSheet(f"color: {RECORDING_RED.name()}; font-weight: 600;")
        self.countdown.setVisible(False)
        for widget in (self.dot, self.caption, self.meter, self.elapsed, self.countdown):
            layout.addWidget(widget)
        self.setVisible(False)

    def set_level(self, level: float) -> None:
        self.meter.set_level(level)

    def set_state(self, recording: bool, elapsed_s: float, max_s: float) -> None:
        self.setVisible(recording)
        if not recording:
            self.meter.set_level(0.0)
            return
        self.elapsed.setText(format_elapsed(elapsed_s))
        caption = countdown_caption(elapsed_s, max_s)
        self.countdown.setText(caption)
        self.countdown.setVisible(bool(caption))

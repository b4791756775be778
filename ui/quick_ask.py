"""The quick-ask popup: a small window by the mouse pointer to ask about what is on screen.

The app calls ``show_near(cursor_pos, screenshot)`` from its hotkey; the popup appears next to the
pointer, wholly on that screen, with the screenshot as a chip and the caret in the text field, so
the user can type at once. Enter emits ``sendRequested(text)``; the app streams the answer back
with ``append_answer(piece)`` and ends it with ``set_answer_done()`` (or ``show_error(message)``).
Esc closes it (``dismissed()``); "Open in main window" emits ``openMainRequested()``; removing the
screenshot chip emits ``screenshotRemoved()``.
"""

from ui.attachments import AttachmentChip, PendingAttachment
from ui.message_edit import MessageEdit
from ui.painted_icons import painted_icon
from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal

WIDTH = 460  # logical pixels
ANSWER_MAX_HEIGHT = 260  # then the answer scrolls
GAP = QtCore.QPoint(12, 16)  # from the pointer to the popup's corner


def keep_inside(top_left: QtCore.QPoint, size: QtCore.QSize, area: QtCore.QRect) -> QtCore.QPoint:
    """``top_left`` moved just enough for a ``size`` window to lie inside ``area``.

    A window larger than the area keeps its top-left corner (and so its title and field) inside.
    """
    x = max(area.left(), min(top_left.x(), area.right() + 1 - size.width()))
    y = max(area.top(), min(top_left.y(), area.bottom() + 1 - size.height()))
    return QtCore.QPoint(x, y)


def place_near(cursor: QtCore.QPoint, size: QtCore.QSize, area: QtCore.QRect) -> QtCore.QPoint:
    """Top-left for a ``size`` window beside ``cursor``, wholly inside ``area`` if it fits.

    Below and to the right of the pointer by default; flipped to the left or above where that
    would leave the area; then pushed inside.
    """
    x, y = cursor.x() + GAP.x(), cursor.y() + GAP.y()
    if x + size.width() > area.right() + 1:
        x = cursor.x() - GAP.x() - size.width()
    if y + size.height() > area.bottom() + 1:
        y = cursor.y() - GAP.y() - size.height()
    return keep_inside(QtCore.QPoint(x, y), size, area)


class QuickAskPopup(QtWidgets.QWidget):
    sendRequested = Signal(str)
    dismissed = Signal()
    openMainRequested = Signal()
    screenshotRemoved = Signal()

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self.setObjectName("QuickAsk")
        self.setWindowTitle("Ask Seesay")
        self.setAccessibleName("Quick question")
        self.setFixedWidth(WIDTH)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "QWidget#QuickAsk { background: palette(window); }"
            "QWidget#QuickAsk QPlainTextEdit { background: transparent; border: none; padding: 0; }"
            "QTextBrowser#QuickAnswer { background: palette(base); border: 1px solid palette(mid);"
            " border-radius: 8px; padding: 4px; }"
            "QLabel#QuickHint, QLabel#QuickQuestion { color: palette(placeholder-text); }"
        )
        self._busy = False
        self._answer = ""
        self._screen_area = QtCore.QRect()
        self._chip: AttachmentChip | None = None

        self.edit = MessageEdit(self, max_lines=4)
        self.edit.setPlaceholderText("Ask about your screen…")
        self.edit.setAccessibleName("Question")
        self.edit.setToolTip("Enter asks · Shift+Enter starts a new line · Esc closes")
        self.edit.submitted.connect(self._send)

        self.question_label = QtWidgets.QLabel(self)
        self.question_label.setObjectName("QuickQuestion")
        self.question_label.setWordWrap(True)
        self.question_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.question_label.setVisible(False)

        self.answer_view = QtWidgets.QTextBrowser(self)
        self.answer_view.setObjectName("QuickAnswer")
        self.answer_view.setAccessibleName("Answer")
        self.answer_view.setOpenExternalLinks(False)
        self.answer_view.setVisible(False)

        self.hint = QtWidgets.QLabel("Enter to ask · Esc to close", self)
        self.hint.setObjectName("QuickHint")
        self.open_main_button = QtWidgets.QToolButton(self)
        self.open_main_button.setText("Open in main window")
        self.open_main_button.setIcon(painted_icon("expand"))
        self.open_main_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_main_button.setAutoRaise(True)
        self.open_main_button.setAccessibleName("Open in main window")
        self.open_main_button.setToolTip("Continue this conversation in the main window")
        self.open_main_button.clicked.connect(self._open_main)

        self._top = QtWidgets.QHBoxLayout()
        self._top.setSpacing(8)
        self._top.addWidget(self.edit, 1)
        footer = QtWidgets.QHBoxLayout()
        footer.addWidget(self.hint)
        footer.addStretch(1)
        footer.addWidget(self.open_main_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.question_label)
        layout.addWidget(self.answer_view)
        layout.addLayout(self._top)
        layout.addLayout(footer)
        self.setFocusProxy(self.edit)

    # What the app tells the popup ---------------------------------------------------------
    def show_near(self, cursor_pos: QtCore.QPoint, screenshot: QtGui.QImage | None = None) -> None:
        """Open beside ``cursor_pos`` (global, logical), on that screen, ready for typing."""
        self._reset(screenshot)
        screen = QtGui.QGuiApplication.screenAt(cursor_pos) or QtGui.QGuiApplication.primaryScreen()
        self._screen_area = screen.availableGeometry()
        if self.windowHandle() is not None:
            self.windowHandle().setScreen(screen)
        self.adjustSize()
        self.move(place_near(cursor_pos, self.size(), self._screen_area))
        self.show()
        self.raise_()
        self.activateWindow()
        self.edit.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def append_answer(self, piece: str) -> None:
        if not self._answer:
            self.answer_view.clear()
        self._answer += piece
        cursor = self.answer_view.textCursor()
        cursor.movePosition(QtGui.QTextCursor.MoveOperation.End)
        cursor.insertText(piece)
        self.answer_view.verticalScrollBar().setValue(self.answer_view.verticalScrollBar().maximum())
        self._fit_answer()

    def set_answer_done(self) -> None:
        """The answer is complete: show it formatted (Markdown) and accept a follow-up."""
        self._busy = False
        if self._answer:
            self.answer_view.setMarkdown(self._answer)
        self._fit_answer()

    def show_error(self, message: str) -> None:
        self._busy = False
        self.answer_view.setVisible(True)
        self.answer_view.setPlainText(message)
        self._fit_answer()

    def text(self) -> str:
        return self.edit.text()

    def is_busy(self) -> bool:
        return self._busy

    # Inside -------------------------------------------------------------------------------
    def _reset(self, screenshot: QtGui.QImage | None) -> None:
        self._busy, self._answer = False, ""
        self.edit.clear()
        self.edit.setPlaceholderText("Ask about your screen…" if screenshot is not None else "Ask anything…")
        self.answer_view.clear()
        self.answer_view.setVisible(False)
        self.question_label.setVisible(False)
        self._set_chip(screenshot)

    def _set_chip(self, screenshot: QtGui.QImage | None) -> None:
        if self._chip is not None:
            self._top.removeWidget(self._chip)
            self._chip.hide()
            self._chip.deleteLater()
            self._chip = None
        if screenshot is None or screenshot.isNull():
            return
        label = f"Screen {screenshot.width()}×{screenshot.height()}"
        self._chip = AttachmentChip(PendingAttachment("screenshot", "image", label, screenshot), parent=self)
        self._chip.removeRequested.connect(self._on_chip_removed)
        self._top.insertWidget(0, self._chip, 0, Qt.AlignmentFlag.AlignTop)

    def _on_chip_removed(self, _id: str) -> None:
        self._set_chip(None)
        self.edit.setFocus()
        self.screenshotRemoved.emit()

    def _send(self) -> None:
        text = self.edit.text().strip()
        if self._busy or not text:
            return
        self._busy, self._answer = True, ""
        self.sendRequested.emit(text)
        self.edit.clear()
        self.edit.setPlaceholderText("Ask a follow-up…")
        self._set_chip(None)  # the screenshot went with the question
        metrics = self.question_label.fontMetrics()
        self.question_label.setText(metrics.elidedText(text.replace("\n", " "), Qt.TextElideMode.ElideRight,
                                                       2 * (WIDTH - 30)))
        self.question_label.setVisible(True)
        self.answer_view.setVisible(True)
        self.answer_view.setPlainText("Thinking…")
        self._fit_answer()

    def _fit_answer(self) -> None:
        """Grow the answer box with its text (up to a limit), then the popup, still on screen."""
        view = self.answer_view
        self.layout().activate()  # so the box has its final width before the text is measured
        document = view.document()
        document.setTextWidth(view.viewport().width())
        chrome = view.height() - view.viewport().height()
        view.setFixedHeight(min(ANSWER_MAX_HEIGHT, int(document.size().height() + chrome + 0.99)))
        self.layout().activate()
        self.adjustSize()
        self._keep_on_screen()

    def _keep_on_screen(self) -> None:
        if self._screen_area.isValid():
            self.move(keep_inside(self.pos(), self.size(), self._screen_area))

    def _open_main(self) -> None:
        self.hide()
        self.openMainRequested.emit()

    # Keys and moving ------------------------------------------------------------------------
    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        super().closeEvent(event)
        self.dismissed.emit()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        super().paintEvent(event)
        # A clear edge against whatever is on screen behind: the palette's border colour, firmer.
        painter = QtGui.QPainter(self)
        mid = self.palette().color(QtGui.QPalette.ColorRole.Mid)
        dark = self.palette().color(QtGui.QPalette.ColorRole.Window).lightness() < 128
        painter.setPen(mid.lighter(150) if dark else mid.darker(140))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        # Frameless: dragging the background moves the popup (where the platform allows it).
        if event.button() == Qt.MouseButton.LeftButton and self.windowHandle() is not None:
            self.windowHandle().startSystemMove()
        super().mousePressEvent(event)

"""The text field for a question: Enter sends, Shift+Enter starts a new line, it grows with its text.

Pasting or dropping an image or image/audio files does not insert anything: the field emits
``imagePasted(QImage)`` or ``filesPasted(list[str])`` and the owner decides what becomes a chip.
Tab moves the focus on (it never types a tab), so the keyboard reaches the buttons beside it.
"""

from ui.attachments import attachable_files
from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal


class MessageEdit(QtWidgets.QPlainTextEdit):
    submitted = Signal()
    imagePasted = Signal(QtGui.QImage)
    filesPasted = Signal(list)
    escapePressed = Signal()

    def __init__(self, parent=None, min_lines: int = 1, max_lines: int = 8):
        super().__init__(parent)
        self._min_lines, self._max_lines = min_lines, max_lines
        self.setTabChangesFocus(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def text(self) -> str:
        return self.toPlainText()

    # Keys ---------------------------------------------------------------------------------
    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.textCursor().insertText("\n")
            elif not self.isReadOnly():
                self.submitted.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.escapePressed.emit()
            event.ignore()  # let a popup or dialog around us close as well
            return
        super().keyPressEvent(event)

    # Paste and drop -----------------------------------------------------------------------
    def canInsertFromMimeData(self, source: QtCore.QMimeData) -> bool:
        if attachable_files(source) or (source.hasImage() and not source.hasText()):
            return True
        if source.hasUrls() and not source.hasText():
            return False  # files we cannot attach: refuse them rather than paste their names
        return super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QtCore.QMimeData) -> None:
        files = attachable_files(source)
        if files:
            self.filesPasted.emit(files)
        elif source.hasImage() and not source.hasText():
            # Text wins when both are offered: office apps put a picture of copied text beside it.
            image = QtGui.QImage(source.imageData())
            if not image.isNull():
                self.imagePasted.emit(image)
        elif source.hasText():
            super().insertFromMimeData(source)

    # Size ---------------------------------------------------------------------------------
    def _line_height(self) -> float:
        """One laid-out line, which can be taller than the font's line spacing (fallback fonts)."""
        block = self.document().firstBlock()
        layout = block.layout()
        if layout is not None and layout.lineCount() > 0:
            return layout.lineAt(0).height()
        return float(self.fontMetrics().height())

    def _fit_height(self, *_):
        wanted = int(self.document().documentLayout().documentSize().height())
        lines = max(self._min_lines, min(self._max_lines, wanted))
        # No scroll bar until the field stops growing (it would flash for a frame on each new line).
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded if wanted > self._max_lines
                                        else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        margins = self.contentsMargins()
        # + 1: QPlainTextEdit counts a line as visible only if it ends above the last pixel row.
        height = (lines * self._line_height() + 2 * self.document().documentMargin() + 1
                  + margins.top() + margins.bottom() + 2 * self.frameWidth())
        self.setFixedHeight(int(height + 0.99))

    def changeEvent(self, event: QtCore.QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.Type.FontChange:
            self._fit_height()

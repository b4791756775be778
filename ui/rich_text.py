"""A read-only rich-text view that is exactly as tall as its text, for messages in a transcript.

Qt's QTextBrowser scrolls by default; in a transcript each message should grow instead and let
the transcript scroll. Links are not followed here: ``linkClicked(str)`` hands the address to
whoever shows the message.
"""

import math

from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal


class RichText(QtWidgets.QTextBrowser):
    linkClicked = Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide code lines and tables scroll sideways inside the message, never widen the window.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        # Tab moves on to the next control; inside the text, Tab would only cycle links.
        self.setTabChangesFocus(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self.horizontalScrollBar().rangeChanged.connect(lambda *_: self._fit_height())
        self.anchorClicked.connect(self._on_anchor)
        self._fit_height()

    def set_html(self, html: str, css: str = "") -> None:
        if css:
            self.document().setDefaultStyleSheet(css)
        self.setHtml(html)

    def _on_anchor(self, url: QtCore.QUrl) -> None:
        self.linkClicked.emit(url.toString())

    def _fit_height(self, *_args) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        if self.horizontalScrollBar().maximum() > 0:
            height += self.horizontalScrollBar().sizeHint().height()
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(max(height, self.fontMetrics().height() + 4))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(super().sizeHint().width(), self.height())

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        # Vertical wheel belongs to the transcript; only sideways scrolling stays here.
        if abs(event.angleDelta().x()) > abs(event.angleDelta().y()):
            super().wheelEvent(event)
        else:
            event.ignore()

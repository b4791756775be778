"""A dismissible strip above the chat for a clear message: an error (red) or a notice (blue)."""

from ui.qt import QtWidgets, Qt


class Banner(QtWidgets.QFrame):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.kind = ""
        self.text_label = QtWidgets.QLabel()
        self.text_label.setWordWrap(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QtWidgets.QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.close_button.clicked.connect(self.dismiss)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        layout.addWidget(self.text_label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_error(self, text: str) -> None:
        self._show("error", text)

    def show_notice(self, text: str) -> None:
        self._show("notice", text)

    def dismiss(self) -> None:
        self.kind = ""
        self.text_label.clear()
        self.hide()

    def text(self) -> str:
        return self.text_label.text()

    def _show(self, kind: str, text: str) -> None:
        self.kind = kind
        self.setObjectName("ErrorBanner" if kind == "error" else "NoticeBanner")
        for widget in (self, self.text_label):  # colours come from the style sheet, by object name
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.text_label.setText(text)
        self.setAccessibleName("Error" if kind == "error" else "Notice")
        self.setAccessibleDescription(text)
        self.show()

"""The bottom line of the window: model state, device, quantization, memory, last answer's speed."""

from ui.qt import QtWidgets, Qt
from ui.theme import current_theme
from ui.view_models import StatusView

READY_WORDS = ("ready",)
BUSY_WORDS = ("loading", "answering", "thinking", "downloading", "preparing", "quantiz")


def state_colour(model_state: str) -> str:
    """Green when ready, amber while busy, grey otherwise."""
    theme = current_theme()
    state = model_state.lower()
    if any(word in state for word in READY_WORDS):
        return theme.success
    if any(word in state for word in BUSY_WORDS):
        return theme.warning
    return theme.muted


class StatusLine(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("StatusLine")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.dot = QtWidgets.QLabel("●")
        self.model_state = QtWidgets.QLabel()
        self.device = QtWidgets.QLabel()
        self.quantization = QtWidgets.QLabel()
        self.memory = QtWidgets.QLabel()
        self.speed = QtWidgets.QLabel()
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(12, 4, 12, 4)
        layout.setSpacing(14)
        layout.addWidget(self.dot)
        layout.addWidget(self.model_state)
        layout.addStretch(1)
        for label in (self.device, self.quantization, self.memory, self.speed):
            layout.addWidget(label)
        self.setAccessibleName("Model status")
        self.set_status(StatusView())

    def set_status(self, status: StatusView) -> None:
        self.status = status
        self.model_state.setText(status.model_state)
        self.dot.setStyleSheet(f"color: {state_colour(status.model_state)};")
        self._show(self.device, status.device, "Device")
        self._show(self.quantization, status.quantization, "Weights")
        self._show(self.memory, status.memory_text, "Memory")
        speed = "" if status.tokens_per_second is None else f"{status.tokens_per_second:.1f} tok/s"
        self._show(self.speed, speed, "Speed of the last answer")
        parts = [status.model_state, status.device, status.quantization, status.memory_text, speed]
        self.setAccessibleDescription(", ".join(p for p in parts if p))

    @staticmethod
    def _show(label: QtWidgets.QLabel, text: str, tip: str) -> None:
        label.setText(text)
        label.setToolTip(tip)
        label.setVisible(bool(text))

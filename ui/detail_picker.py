"""The image detail picker: how many soft tokens each image of the next message may use.

The model reads an image at one of five budgets (70 … 1120 soft tokens, the same list as
``inference.media.IMAGE_DETAILS``, repeated here because ui/ never imports inference/). More
tokens read small text better and cost time and memory.
"""

from ui.painted_icons import paint_glyph
from ui.qt import QtCore, QtGui, QtWidgets, Signal

DETAIL_LEVELS: tuple[tuple[int, str], ...] = (
    (70, "Low"),
    (140, "Light"),
    (280, "Standard"),
    (560, "High"),
    (1120, "Max"),
)
DEFAULT_DETAIL = 280


def detail_label(tokens: int) -> str:
    """"Standard 280" for 280; the bare number for a budget not in the list."""
    return next((f"{name} {value}" for value, name in DETAIL_LEVELS if value == tokens), str(tokens))


def nearest_detail(tokens: int) -> int:
    """The offered budget closest to ``tokens`` (ties go to the smaller, cheaper one)."""
    return min((value for value, _ in DETAIL_LEVELS), key=lambda value: (abs(value - tokens), value))


class DetailPicker(QtWidgets.QComboBox):
    """A combo box of the five budgets; ``detailChanged(int)`` when the user picks another."""

    detailChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        for value, _ in DETAIL_LEVELS:
            self.addItem(detail_label(value), value)
        self.setAccessibleName("Image detail")
        self.setToolTip(
            "Image detail for this message, in image tokens: more detail reads small text better,"
            " but answers come slower and use more memory"
        )
        self.setStyleSheet(
            "QComboBox { background: transparent; border: 1px solid palette(mid); border-radius: 6px;"
            " padding: 2px 24px 2px 8px; }"
            "QComboBox:focus, QComboBox:hover { border-color: palette(highlight); }"
            "QComboBox::drop-down { border: none; width: 18px; }"
        )
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.set_detail(DEFAULT_DETAIL)
        self.currentIndexChanged.connect(lambda _: self.detailChanged.emit(self.detail()))

    def detail(self) -> int:
        return int(self.currentData())

    def set_detail(self, tokens: int) -> None:
        self.setCurrentIndex(self.findData(nearest_detail(tokens)))

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        super().paintEvent(event)
        # Style sheets that restyle the drop-down also drop its arrow: draw a chevron ourselves.
        painter = QtGui.QPainter(self)
        side = 14
        rect = QtCore.QRectF(self.width() - side - 6, (self.height() - side) / 2, side, side)
        group = QtGui.QPalette.ColorGroup.Active if self.isEnabled() else QtGui.QPalette.ColorGroup.Disabled
        paint_glyph(painter, "chevron", rect, self.palette().color(group, QtGui.QPalette.ColorRole.ButtonText))

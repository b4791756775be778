"""Attachment chips: the screenshots and voice clips attached to the message being written.

The app owns the files; a chip only shows one (thumbnail, label) and asks for its removal with
``removeRequested(id)``. ``attachable_files(mime)`` says which dropped or pasted files a chip could
be made of (images and audio, judged by their type), so the input bar can refuse anything else
while it is still being dragged.
"""

from dataclasses import dataclass
from pathlib import Path

from ui.painted_icons import paint_glyph, painted_icon
from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal

KINDS = ("image", "audio")
THUMB = 36  # logical pixels, square


@dataclass(frozen=True)
class PendingAttachment:
    """One chip: ``id`` is the app's token for the item, echoed back by ``attachmentRemoved``."""

    id: str
    kind: str  # "image" or "audio"
    label: str  # e.g. "Screenshot 1280×800" or "Voice 0:07"
    thumbnail: QtGui.QImage | str | Path | None = None  # an image, or the path of one

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"attachment kind must be one of {KINDS}, not {self.kind!r}")


def attachable_files(mime: QtCore.QMimeData) -> list[str]:
    """Local image and audio files named by ``mime``'s URLs, in order (others are left out)."""
    database = QtCore.QMimeDatabase()
    paths = []
    for url in mime.urls() if mime.hasUrls() else []:
        if not url.isLocalFile():
            continue
        path = url.toLocalFile()
        kind = database.mimeTypeForFile(path, QtCore.QMimeDatabase.MatchMode.MatchExtension).name()
        if kind.startswith(("image/", "audio/")):
            paths.append(path)
    return paths


def square_thumbnail(source: QtGui.QImage | str | Path | None, side: int) -> QtGui.QImage | None:
    """``source`` cropped to its centre square and scaled to ``side`` pixels; None if unreadable."""
    if source is None:
        return None
    if isinstance(source, QtGui.QImage):
        image = source
    else:
        reader = QtGui.QImageReader(str(source))
        reader.setAutoTransform(True)  # honour EXIF rotation of photos
        full = reader.size()
        if full.isValid() and max(full.width(), full.height()) > 4 * side:
            # Decode small: a 4K screenshot need not be read whole for a 36 px chip.
            reader.setScaledSize(full.scaled(4 * side, 4 * side, Qt.AspectRatioMode.KeepAspectRatioByExpanding))
        image = reader.read()
    if image.isNull():
        return None
    scaled = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                          Qt.TransformationMode.SmoothTransformation)
    return scaled.copy((scaled.width() - side) // 2, (scaled.height() - side) // 2, side, side)


class _Thumbnail(QtWidgets.QWidget):
    """A rounded square: the image's thumbnail, or a glyph for audio (or an unreadable image)."""

    def __init__(self, attachment: PendingAttachment, parent=None):
        super().__init__(parent)
        self.setFixedSize(THUMB, THUMB)
        self._glyph = "wave" if attachment.kind == "audio" else "screen"
        ratio = 2  # enough for HiDPI screens; the chip is tiny either way
        self.image = square_thumbnail(attachment.thumbnail, THUMB * ratio)
        if self.image is not None:
            self.image.setDevicePixelRatio(ratio)

    def paintEvent(self, event):
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        clip = QtGui.QPainterPath()
        clip.addRoundedRect(QtCore.QRectF(self.rect()), 6, 6)
        if self.image is not None:
            p.setClipPath(clip)
            p.drawImage(self.rect(), self.image)
            return
        accent = self.palette().color(QtGui.QPalette.ColorRole.Highlight)
        tint = QtGui.QColor(accent)
        tint.setAlpha(40)
        p.fillPath(clip, tint)
        paint_glyph(p, self._glyph, QtCore.QRectF(self.rect()).adjusted(7, 7, -7, -7), accent)


class AttachmentChip(QtWidgets.QFrame):
    """Thumbnail, label and a remove button; Delete or Backspace on the button removes it too."""

    removeRequested = Signal(str)

    def __init__(self, attachment: PendingAttachment, removable: bool = True, parent=None):
        super().__init__(parent)
        self.attachment = attachment
        self.setObjectName("PendingChip")
        kind_name = "Voice clip" if attachment.kind == "audio" else "Image"
        self.setToolTip(f"{kind_name}: {attachment.label}")
        self.setAccessibleName(f"{kind_name} attached: {attachment.label}")

        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4 if removable else 10, 4)
        layout.setSpacing(8)
        self.thumbnail = _Thumbnail(attachment, self)
        layout.addWidget(self.thumbnail)
        self.label = QtWidgets.QLabel(self)
        self.label.setText(self.label.fontMetrics().elidedText(attachment.label, Qt.TextElideMode.ElideMiddle, 150))
        layout.addWidget(self.label)

        self.remove_button = None
        if removable:
            self.remove_button = QtWidgets.QToolButton(self)
            self.remove_button.setObjectName("ChipRemove")
            self.remove_button.setIcon(painted_icon("close"))
            self.remove_button.setIconSize(QtCore.QSize(14, 14))
            self.remove_button.setAutoRaise(True)
            self.remove_button.setToolTip(f"Remove {attachment.label}")
            self.remove_button.setAccessibleName(f"Remove {attachment.label}")
            self.remove_button.clicked.connect(self._request_removal)
            self.remove_button.installEventFilter(self)
            layout.addWidget(self.remove_button)
        self.setStyleSheet(
            "QFrame#PendingChip { background: palette(alternate-base); border: 1px solid palette(mid);"
            " border-radius: 8px; }"
            "QFrame#PendingChip QLabel { background: transparent; border: none; }"
        )

    def eventFilter(self, watched, event):
        if (watched is self.remove_button and event.type() == QtCore.QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)):
            self._request_removal()
            return True
        return super().eventFilter(watched, event)

    def _request_removal(self):
        self.removeRequested.emit(self.attachment.id)


class AttachmentStrip(QtWidgets.QWidget):
    """A row of chips, hidden while empty. ``attachmentRemoved(id)`` when the user removes one."""

    attachmentRemoved = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._chips: dict[str, AttachmentChip] = {}
        self._layout = QtWidgets.QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.setVisible(False)

    def add(self, attachment: PendingAttachment) -> AttachmentChip:
        """Show a chip (replacing one with the same id)."""
        self.remove(attachment.id)
        chip = AttachmentChip(attachment, parent=self)
        chip.removeRequested.connect(self._on_remove_requested)
        self._layout.insertWidget(self._layout.count() - 1, chip)
        self._chips[attachment.id] = chip
        self.setVisible(True)
        return chip

    def remove(self, attachment_id: str) -> None:
        """Take a chip away without emitting anything (the app asked for it)."""
        chip = self._chips.pop(attachment_id, None)
        if chip is None:
            return
        self._layout.removeWidget(chip)
        chip.hide()  # Qt moves keyboard focus on to the next widget in the chain
        chip.deleteLater()
        self.setVisible(bool(self._chips))

    def clear(self) -> None:
        for attachment_id in list(self._chips):
            self.remove(attachment_id)

    def ids(self) -> list[str]:
        return list(self._chips)

    def chip(self, attachment_id: str) -> AttachmentChip:
        return self._chips[attachment_id]

    def _on_remove_requested(self, attachment_id: str) -> None:
        self.remove(attachment_id)
        self.attachmentRemoved.emit(attachment_id)

"""What a sent user message carried: screenshot thumbnails, voice-clip chips, a full-size viewer.

A thumbnail click asks for the full-size view (``openImage(path)``); a voice chip asks the app
to play the clip (``playAudio(path)``). Reading an image file to show it is the only file work.
"""

from ui.qt import QtCore, QtGui, QtWidgets, Qt, Signal
from ui.view_models import AttachmentView

THUMBNAIL_SIZE = QtCore.QSize(200, 130)


def format_duration(seconds: float) -> str:
    total = max(0, round(seconds))
    return f"{total // 60}:{total % 60:02d}"


class ImageThumbnail(QtWidgets.QToolButton):
    def __init__(self, attachment: AttachmentView, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.attachment = attachment
        pixmap = QtGui.QPixmap(attachment.thumbnail_path or "")
        if pixmap.isNull():  # no small copy: scale the image itself (a 2560x1440 PNG takes ~17 ms)
            pixmap = QtGui.QPixmap(attachment.path)
        size_text = f"{attachment.width}×{attachment.height}" if attachment.width else ""
        if pixmap.isNull():
            self.setText(f"Screenshot {size_text}\n(image file missing)".strip())
        else:
            self.setIcon(QtGui.QIcon(pixmap))
            self.setIconSize(pixmap.size().scaled(THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"Screenshot {size_text} — click to view full size".replace("  ", " "))
        self.setAccessibleName("Screenshot attachment")
        self.setAccessibleDescription("Opens the screenshot at full size")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class AudioChip(QtWidgets.QPushButton):
    def __init__(self, attachment: AttachmentView, parent: QtWidgets.QWidget | None = None):
        super().__init__(f"▶  Voice  {format_duration(attachment.seconds)}", parent)
        self.attachment = attachment
        self.setObjectName("AudioChip")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Play this voice clip")
        self.setAccessibleName(f"Play voice clip, {format_duration(attachment.seconds)}")


class AttachmentRow(QtWidgets.QWidget):
    """The attachments of one message, laid out right-aligned above the user's bubble."""

    openImage = Signal(str)
    playAudio = Signal(str)

    def __init__(self, attachments: list[AttachmentView], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addStretch(1)
        self.thumbnails: list[ImageThumbnail] = []
        self.audio_chips: list[AudioChip] = []
        for attachment in attachments:
            if attachment.kind == "image":
                thumb = ImageThumbnail(attachment, self)
                thumb.clicked.connect(lambda _=False, p=attachment.path: self.openImage.emit(p))
                self.thumbnails.append(thumb)
                layout.addWidget(thumb)
            elif attachment.kind == "audio":
                chip = AudioChip(attachment, self)
                chip.clicked.connect(lambda _=False, p=attachment.path: self.playAudio.emit(p))
                self.audio_chips.append(chip)
                layout.addWidget(chip)


class ImageViewer(QtWidgets.QDialog):
    """A screenshot at full size, scrollable; Esc or Close shuts it."""

    def __init__(self, path: str, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.path = path
        pixmap = QtGui.QPixmap(path)
        self.setWindowTitle(f"Screenshot — {pixmap.width()}×{pixmap.height()}")
        self.setAccessibleName("Screenshot viewer")
        self.image = QtWidgets.QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if pixmap.isNull():
            self.image.setText("This screenshot could not be opened; its file may have been removed.")
        else:
            self.image.setPixmap(pixmap)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.image)
        scroll.setWidgetResizable(True)
        scroll.setAccessibleName("Screenshot")
        close = QtWidgets.QPushButton("Close")
        close.setAccessibleName("Close screenshot viewer")
        close.clicked.connect(self.accept)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        screen = self.screen().availableGeometry() if self.screen() else QtCore.QRect(0, 0, 1280, 800)
        want = pixmap.size() + QtCore.QSize(40, 80) if not pixmap.isNull() else QtCore.QSize(480, 200)
        self.resize(min(want.width(), int(screen.width() * 0.9)), min(want.height(), int(screen.height() * 0.9)))

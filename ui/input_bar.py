"""The bar under the chat where a question is put together: text, screenshots, voice, detail.

It shows state and emits intent; the app does the capturing, recording and storing:

- ``sendRequested(text, detail)`` on Enter or Send (never for empty text with no attachments, nor
  while busy); the app calls ``clear()`` once it has taken the message.
- ``stopRequested()`` from the Stop button (Send turns into Stop while ``set_busy(True)``) or Esc.
- ``captureRequested(mode)`` with mode "screen" (the whole screen under the cursor), "region" or
  "window", from the capture button's menu.
- ``talkPressed()`` / ``talkReleased()`` from the hold-to-talk button; the app answers with
  ``set_recording_state(...)`` and ``set_level(...)`` while it records.
- ``imagePasted(QImage)`` for an image pasted (Ctrl+V) or dropped as data; ``filesDropped(paths)``
  for image or audio files dropped, pasted or picked with "Attach a file…". The app stores them and
  calls ``add_attachment``; ``attachmentRemoved(id)`` when the user takes a chip off again.
"""

from ui.attachments import AttachmentStrip, PendingAttachment, attachable_files
from ui.detail_picker import DEFAULT_DETAIL, DetailPicker, nearest_detail
from ui.message_edit import MessageEdit
from ui.painted_icons import painted_icon
from ui.qt import QtCore, QtGui, QtWidgets, Signal
from ui.recorder import RecordingStrip, TalkButton

CAPTURE_MODES: tuple[tuple[str, str, str], ...] = (
    ("screen", "Whole screen", "The whole screen the mouse pointer is on"),
    ("region", "Region…", "Drag a rectangle on the screen"),
    ("window", "Window…", "One window"),
)
FILE_FILTER = "Images and audio (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.wav *.flac *.ogg *.mp3 *.m4a)"

_FRAME_STYLE = """
QFrame#InputFrame { background: palette(base); border: 1px solid palette(mid); border-radius: 12px; }
QFrame#InputFrame[focused="true"] { border: 1px solid palette(highlight); }
QFrame#InputFrame QPlainTextEdit { background: transparent; border: none; padding: 0; }
QLabel#DetailLabel { color: palette(placeholder-text); }
QToolButton#SendButton { background: palette(highlight); border: none; border-radius: 16px; }
QToolButton#SendButton:disabled { background: palette(mid); }
QToolButton#SendButton:focus { border: 2px solid palette(text); }
"""


class InputBar(QtWidgets.QWidget):
    sendRequested = Signal(str, int)
    stopRequested = Signal()
    captureRequested = Signal(str)
    talkPressed = Signal()
    talkReleased = Signal()
    attachmentRemoved = Signal(str)
    imagePasted = Signal(QtGui.QImage)
    filesDropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._busy = False
        self._default_detail = DEFAULT_DETAIL
        self.setAcceptDrops(True)

        self.frame = QtWidgets.QFrame(self)
        self.frame.setObjectName("InputFrame")
        self.frame.setStyleSheet(_FRAME_STYLE)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 12)
        outer.addWidget(self.frame)

        self.attachments = AttachmentStrip(self.frame)
        self.recording = RecordingStrip(self.frame)
        self.edit = MessageEdit(self.frame)
        self.edit.setPlaceholderText("Ask about your screen, or hold the mic and speak…")
        self.edit.setAccessibleName("Message")
        self.edit.setToolTip("Enter sends · Shift+Enter starts a new line · Ctrl+V pastes an image")
        self.edit.installEventFilter(self)

        self.capture_button = self._make_capture_button()
        self.talk_button = TalkButton(self.frame)
        self.talk_button.setIconSize(QtCore.QSize(20, 20))
        self.detail_picker = DetailPicker(self.frame)
        self.send_button = QtWidgets.QToolButton(self.frame)
        self.send_button.setObjectName("SendButton")
        self.send_button.setFixedSize(32, 32)
        self.send_button.setIconSize(QtCore.QSize(18, 18))
        self.send_button.clicked.connect(self._on_send_button)

        tools = QtWidgets.QHBoxLayout()
        tools.setSpacing(4)
        tools.addWidget(self.capture_button)
        tools.addWidget(self.talk_button)
        tools.addSpacing(8)
        detail_label = QtWidgets.QLabel("Detail", self.frame)
        detail_label.setObjectName("DetailLabel")
        detail_label.setBuddy(self.detail_picker)
        tools.addWidget(detail_label)
        tools.addWidget(self.detail_picker)
        tools.addStretch(1)
        tools.addWidget(self.send_button)
        inner = QtWidgets.QVBoxLayout(self.frame)
        inner.setContentsMargins(10, 8, 8, 8)
        inner.setSpacing(6)
        inner.addWidget(self.attachments)
        inner.addWidget(self.recording)
        inner.addWidget(self.edit)
        inner.addLayout(tools)

        self.edit.submitted.connect(self._try_send)
        self.edit.escapePressed.connect(self._on_escape)
        self.edit.textChanged.connect(self._update_send_button)
        self.edit.imagePasted.connect(self.imagePasted)
        self.edit.filesPasted.connect(self.filesDropped)
        self.attachments.attachmentRemoved.connect(self._on_attachment_removed)
        self.talk_button.talkPressed.connect(self.talkPressed)
        self.talk_button.talkReleased.connect(self.talkReleased)
        self.setFocusProxy(self.edit)
        self._update_send_button()

    def _make_capture_button(self) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton(self.frame)
        button.setIcon(painted_icon("screen"))
        button.setIconSize(QtCore.QSize(20, 20))
        button.setAutoRaise(True)
        button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setAccessibleName("Capture the screen")
        button.setToolTip("Attach a picture of the screen, a region or a window")
        menu = QtWidgets.QMenu(button)
        menu.setAccessibleName("Capture")
        for mode, text, tip in CAPTURE_MODES:
            action = menu.addAction(text)
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.setData(mode)
            action.triggered.connect(lambda _=False, m=mode: self.captureRequested.emit(m))
        menu.addSeparator()
        menu.addAction("Attach a file…").triggered.connect(self._pick_files)
        menu.setToolTipsVisible(True)
        button.setMenu(menu)
        return button

    # What the app tells the bar -----------------------------------------------------------
    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)
        self.edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)

    def detail(self) -> int:
        return self.detail_picker.detail()

    def set_detail(self, tokens: int) -> None:
        """The default detail (from settings); the picker returns to it after each ``clear()``."""
        self._default_detail = nearest_detail(tokens)
        self.detail_picker.set_detail(self._default_detail)

    def add_attachment(self, attachment: PendingAttachment) -> None:
        self.attachments.add(attachment)
        self._update_send_button()

    def remove_attachment(self, attachment_id: str) -> None:
        """Take a chip away without emitting ``attachmentRemoved`` (the app did it)."""
        self.attachments.remove(attachment_id)
        self._update_send_button()

    def attachment_ids(self) -> list[str]:
        return self.attachments.ids()

    def set_level(self, level: float) -> None:
        self.recording.set_level(level)

    def set_recording_state(self, recording: bool, elapsed_s: float = 0.0, max_s: float = 0.0) -> None:
        self.recording.set_state(recording, elapsed_s, max_s)
        self.talk_button.set_recording(recording)

    def set_talk_available(self, available: bool, reason: str = "") -> None:
        """Grey the microphone out (``reason`` becomes its tooltip), e.g. with no microphone."""
        self.talk_button.setEnabled(available)
        self.talk_button.setToolTip(
            "Hold to talk: keep the mouse button (or Space) down while you speak" if available else reason
        )

    def set_busy(self, busy: bool) -> None:
        """While an answer is coming, Send becomes Stop and Enter sends nothing."""
        self._busy = busy
        self._update_send_button()

    def is_busy(self) -> bool:
        return self._busy

    def clear(self) -> None:
        self.edit.clear()
        self.attachments.clear()
        self.detail_picker.set_detail(self._default_detail)
        self._update_send_button()

    # What the user does -------------------------------------------------------------------
    def _has_content(self) -> bool:
        return bool(self.edit.text().strip()) or bool(self.attachments.ids())

    def _try_send(self) -> None:
        if self._busy or not self._has_content():
            return
        self.sendRequested.emit(self.edit.text().strip(), self.detail())

    def _on_send_button(self) -> None:
        if self._busy:
            self.stopRequested.emit()
        else:
            self._try_send()

    def _on_escape(self) -> None:
        if self._busy:
            self.stopRequested.emit()

    def _on_attachment_removed(self, attachment_id: str) -> None:
        self._update_send_button()
        self.attachmentRemoved.emit(attachment_id)

    def _pick_files(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Attach images or audio", "", FILE_FILTER)
        if paths:
            self.filesDropped.emit(paths)

    def _update_send_button(self) -> None:
        button = self.send_button
        if self._busy:
            button.setIcon(painted_icon("stop", QtGui.QPalette.ColorRole.HighlightedText))
            button.setAccessibleName("Stop")
            button.setToolTip("Stop the answer (Esc)")
            button.setEnabled(True)
        else:
            button.setIcon(painted_icon("send", QtGui.QPalette.ColorRole.HighlightedText))
            button.setAccessibleName("Send")
            button.setToolTip("Send (Enter)")
            button.setEnabled(self._has_content())

    # Focus ring and drops -----------------------------------------------------------------
    def eventFilter(self, watched, event):
        if watched is self.edit and event.type() in (QtCore.QEvent.Type.FocusIn, QtCore.QEvent.Type.FocusOut):
            self.frame.setProperty("focused", event.type() == QtCore.QEvent.Type.FocusIn)
            self.frame.style().unpolish(self.frame)
            self.frame.style().polish(self.frame)
        return super().eventFilter(watched, event)

    def _droppable(self, mime: QtCore.QMimeData) -> bool:
        return bool(attachable_files(mime)) or (mime.hasImage() and not mime.hasUrls())

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if self._droppable(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        mime = event.mimeData()
        files = attachable_files(mime)
        if files:
            self.filesDropped.emit(files)
        elif mime.hasImage():
            image = QtGui.QImage(mime.imageData())
            if image.isNull():
                event.ignore()
                return
            self.imagePasted.emit(image)
        else:
            event.ignore()
            return
        event.acceptProposedAction()

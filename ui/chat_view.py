"""The transcript: messages in order, answers streaming in as rendered Markdown.

Streaming is throttled: ``append_answer_text`` only stores the piece and arms one single-shot
timer; when it fires, only the messages that changed are rendered again (at most every
``MIN_RENDER_INTERVAL_MS``, longer if rendering itself got slow), so the GUI thread never
renders per token. ``render_count`` counts renders, for tests and for curiosity.

Intents: ``stopRequested``, ``regenerateRequested``, ``editResendRequested(new_text)``,
``playAudioRequested(path)``; ``messageCopied(message_id)`` after a copy to the clipboard;
``streamingChanged(bool)`` when an answer starts or the last one ends.
"""

import time

from ui.markdown_render import MarkdownRenderer, code_index_from_link
from ui.message_attachments import ImageViewer
from ui.message_bubble import MessageBubble
from ui.qt import QtCore, QtGui, QtWidgets, Qt, QTimer, Signal
from ui.theme import current_theme
from ui.view_models import MessageStatus, MessageView

MIN_RENDER_INTERVAL_MS = 50
TRANSCRIPT_MAX_WIDTH = 860


class ChatView(QtWidgets.QWidget):
    stopRequested = Signal()
    regenerateRequested = Signal()
    editResendRequested = Signal(str)
    playAudioRequested = Signal(str)
    messageCopied = Signal(str)
    streamingChanged = Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ChatPage")
        self.render_count = 0
        self.image_viewer: ImageViewer | None = None
        self._bubbles: dict[str, MessageBubble] = {}
        self._dirty: set[str] = set()
        self._renderer = MarkdownRenderer(current_theme())
        self._stick_to_bottom = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(MIN_RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self._render_dirty)
        self._build()

    def _build(self) -> None:
        self.transcript = QtWidgets.QWidget()
        self.transcript.setObjectName("Transcript")
        self.column = QtWidgets.QWidget()
        self.column.setMaximumWidth(TRANSCRIPT_MAX_WIDTH)
        self.messages_layout = QtWidgets.QVBoxLayout(self.column)
        self.messages_layout.setContentsMargins(24, 20, 24, 20)
        self.messages_layout.setSpacing(18)
        self.placeholder = QtWidgets.QLabel(
            "<h2>What can I help with?</h2>"
            "<p>Type a question below, add a screenshot, or speak.<br>"
            "Everything stays on this computer.</p>"
        )
        self.placeholder.setObjectName("Muted")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.messages_layout.addWidget(self.placeholder, 2)  # hidden once there are messages
        self.messages_layout.addStretch(1)
        row = QtWidgets.QHBoxLayout(self.transcript)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.column, 1)

        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.transcript)
        self.scroll.setAccessibleName("Conversation transcript")
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # The first QWidget that PySide hands back from Qt makes it build every QWidget subclass it
        # knows (~10 ms, once). Do it now, before the window shows, not in the first message bubble.
        self.scroll.viewport()
        bar = self.scroll.verticalScrollBar()
        bar.valueChanged.connect(self._remember_scroll)
        bar.rangeChanged.connect(self._keep_at_bottom)

        self.stop_button = QtWidgets.QPushButton("■  Stop")
        self.stop_button.setObjectName("StopButton")
        self.stop_button.setAccessibleName("Stop answering")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stopRequested)
        self.stop_button.hide()

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignHCenter)

    # --- messages ---

    def set_messages(self, messages: list[MessageView]) -> None:
        """Show another conversation (or the same one afresh)."""
        self.clear()
        for message in messages:
            self._add_bubble(message)
        self._update_actions()
        self._stick_to_bottom = True

    def add_message(self, message: MessageView) -> None:
        self._add_bubble(message)
        self._update_actions()
        self._stick_to_bottom = True

    def clear(self) -> None:
        self._timer.stop()
        self._dirty.clear()
        for bubble in self._bubbles.values():
            self.messages_layout.removeWidget(bubble)
            bubble.deleteLater()
        self._bubbles.clear()
        self.placeholder.show()
        self._update_actions()

    def bubble(self, message_id: str) -> MessageBubble:
        return self._bubbles[message_id]

    def message_ids(self) -> list[str]:
        return list(self._bubbles)

    def _add_bubble(self, message: MessageView) -> MessageBubble:
        if message.id in self._bubbles:
            raise ValueError(f"message {message.id!r} is already in the transcript")
        bubble = MessageBubble(message, self.column)
        bubble.copyClicked.connect(lambda b=bubble: self._copy_message(b))
        bubble.regenerateClicked.connect(self.regenerateRequested)
        bubble.editSubmitted.connect(self.editResendRequested)
        bubble.linkClicked.connect(lambda url, b=bubble: self._on_link(b, url))
        bubble.openImage.connect(self.open_image)
        bubble.playAudio.connect(self.playAudioRequested)
        self._bubbles[message.id] = bubble
        self.placeholder.hide()
        # Before the trailing stretch, so messages gather at the top.
        self.messages_layout.insertWidget(self.messages_layout.count() - 1, bubble)
        bubble.show()  # at once, not when the layout's queued show runs: callers ask what is visible
        self._render(bubble)
        return bubble

    # --- streaming ---

    def begin_answer(self, message_id: str) -> None:
        bubble = self._bubbles.get(message_id)
        if bubble is None:
            bubble = self._add_bubble(MessageView(message_id, "assistant", "", MessageStatus.STREAMING))
        else:
            bubble.text = ""
            bubble.set_stats("")
            bubble.set_status(MessageStatus.STREAMING)
            self._render(bubble)
        bubble.set_status(MessageStatus.STREAMING)
        self._stick_to_bottom = True
        self._update_actions()

    def append_answer_text(self, message_id: str, piece: str) -> None:
        if message_id not in self._bubbles:
            self.begin_answer(message_id)  # forgiving: a piece never gets lost
        bubble = self._bubbles[message_id]
        bubble.text += piece
        self._dirty.add(message_id)
        if not self._timer.isActive():
            self._timer.start()

    def finish_answer(self, message_id: str, status: MessageStatus | str = MessageStatus.DONE,
                      stats_text: str = "", note: str = "") -> None:
        if message_id not in self._bubbles:
            self.begin_answer(message_id)  # e.g. an error before the first piece
        bubble = self._bubbles[message_id]
        self._dirty.discard(message_id)
        bubble.set_status(status, note)
        bubble.set_stats(stats_text)
        self._render(bubble)
        self._update_actions()

    def is_streaming(self) -> bool:
        return any(b.status == MessageStatus.STREAMING for b in self._bubbles.values())

    def _render_dirty(self) -> None:
        started = time.perf_counter()
        for message_id in list(self._dirty):
            if message_id in self._bubbles:
                self._render(self._bubbles[message_id])
        self._dirty.clear()
        # If rendering gets slow (a very long answer), render less often so typing stays smooth.
        spent_ms = (time.perf_counter() - started) * 1000
        self._timer.setInterval(max(MIN_RENDER_INTERVAL_MS, int(3 * spent_ms)))

    def _render(self, bubble: MessageBubble) -> None:
        bubble.render(self._renderer)
        self.render_count += 1

    def refresh_theme(self) -> None:
        """Render every message again in the current light or dark colours."""
        self._renderer = MarkdownRenderer(current_theme())
        for bubble in self._bubbles.values():
            self._render(bubble)

    # --- actions ---

    def _update_actions(self) -> None:
        busy = self.is_streaming()
        if busy != self.stop_button.isVisibleTo(self):
            self.stop_button.setVisible(busy)
            self.streamingChanged.emit(busy)
        last_user = next((i for i, b in reversed(self._bubbles.items()) if b.is_user), None)
        last_answer = next((i for i, b in reversed(self._bubbles.items()) if not b.is_user), None)
        for message_id, bubble in self._bubbles.items():
            bubble.set_actions(can_edit=not busy and message_id == last_user,
                               can_regenerate=not busy and message_id == last_answer)

    def edit_last_question(self) -> bool:
        """Open the last question for editing; False when there is none or an answer is running."""
        last_user = next((b for b in reversed(self._bubbles.values()) if b.is_user), None)
        if last_user is None or self.is_streaming():
            return False
        last_user.start_edit()
        return True

    def _copy_message(self, bubble: MessageBubble) -> None:
        QtGui.QGuiApplication.clipboard().setText(bubble.text)
        self.messageCopied.emit(bubble.message_id)
        button = bubble.copy_button
        button.setText("Copied")
        QTimer.singleShot(1500, button, lambda: button.setText("Copy"))

    def _on_link(self, bubble: MessageBubble, url: str) -> None:
        index = code_index_from_link(url)
        if index is not None:
            if index < len(bubble.code_blocks):
                QtGui.QGuiApplication.clipboard().setText(bubble.code_blocks[index])
            return
        if url.startswith(("http://", "https://", "mailto:")):
            QtGui.QDesktopServices.openUrl(QtCore.QUrl(url))  # the user's click opens their browser

    def open_image(self, path: str) -> None:
        if self.image_viewer is not None:
            self.image_viewer.close()
        self.image_viewer = ImageViewer(path, self)
        self.image_viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.image_viewer.show()

    # --- scrolling ---

    def _remember_scroll(self, value: int) -> None:
        self._stick_to_bottom = value >= self.scroll.verticalScrollBar().maximum() - 8

    def _keep_at_bottom(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.scroll.verticalScrollBar().setValue(maximum)

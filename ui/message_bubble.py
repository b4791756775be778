"""One message in the transcript: the user's question (a bubble) or an answer (rendered Markdown).

A bubble shows text, attachments, a visible mark on a stopped, cut-short or failed answer, the
answer's stats, and the actions that apply to it (Copy always; Edit on the last question and
Regenerate on the last answer). It renders only when asked, so the chat view decides how often.
"""

from ui.markdown_render import MarkdownRenderer, RenderedMarkdown, document_css, plain_text_html
from ui.message_attachments import AttachmentRow
from ui.qt import QtGui, QtWidgets, Qt, Signal
from ui.rich_text import RichText
from ui.view_models import MessageStatus, MessageView

STATUS_NOTES = {
    MessageStatus.STOPPED: "Stopped — this answer is incomplete.",
    MessageStatus.TRUNCATED: "Cut short at the maximum answer length (see Settings).",
    MessageStatus.ERROR: "This answer failed.",
}
BUBBLE_PADDING = 12


def _tool_button(text: str, accessible: str, tip: str) -> QtWidgets.QToolButton:
    button = QtWidgets.QToolButton()
    button.setText(text)
    button.setAccessibleName(accessible)
    button.setToolTip(tip)
    button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class MessageBubble(QtWidgets.QWidget):
    copyClicked = Signal()
    regenerateClicked = Signal()
    editSubmitted = Signal(str)
    linkClicked = Signal(str)
    openImage = Signal(str)
    playAudio = Signal(str)

    def __init__(self, message: MessageView, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.message_id = message.id
        self.role = message.role
        self.text = message.text
        self.status = MessageStatus(message.status)
        self.code_blocks: tuple[str, ...] = ()
        self.attachments: AttachmentRow | None = None

        self.body = RichText()
        self.body.setAccessibleName("Your message" if self.is_user else "Answer")
        self.body.linkClicked.connect(self.linkClicked)
        self.thinking = QtWidgets.QLabel("Thinking…")
        self.thinking.setObjectName("Muted")
        self.note = QtWidgets.QLabel()
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats = QtWidgets.QLabel(message.stats_text)
        self.stats.setObjectName("StatsLabel")
        self.copy_button = _tool_button("Copy", "Copy message", "Copy this message to the clipboard")
        self.copy_button.clicked.connect(self.copyClicked)
        self.regenerate_button = _tool_button("Regenerate", "Regenerate answer", "Answer the last question again")
        self.regenerate_button.clicked.connect(self.regenerateClicked)
        self.edit_button = _tool_button("Edit", "Edit and resend question", "Change the last question and ask again")
        self.edit_button.clicked.connect(self.start_edit)
        self.editor_row: QtWidgets.QWidget | None = None  # built on the first Edit: most are never edited

        if self.is_user:
            self._build_user(message)
        else:
            self._build_answer()
        self.set_stats(message.stats_text)
        self.set_status(self.status, message.note)
        self.set_actions(can_edit=False, can_regenerate=False)

    @property
    def is_user(self) -> bool:
        return self.role == "user"

    # --- layout ---

    def _build_user(self, message: MessageView) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        if message.attachments:
            self.attachments = AttachmentRow(message.attachments)
            self.attachments.openImage.connect(self.openImage)
            self.attachments.playAudio.connect(self.playAudio)
            outer.addWidget(self.attachments)
        self.frame = QtWidgets.QFrame()
        self.frame.setObjectName("UserBubble")
        inner = QtWidgets.QVBoxLayout(self.frame)
        inner.setContentsMargins(BUBBLE_PADDING, BUBBLE_PADDING - 4, BUBBLE_PADDING, BUBBLE_PADDING - 4)
        inner.addWidget(self.body)
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.frame, 4)
        outer.addLayout(row)
        outer.addLayout(self._footer(self.edit_button, right_aligned=True))

    def _build_answer(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        role = QtWidgets.QLabel("Seesay")
        role.setObjectName("RoleLabel")
        outer.addWidget(role)
        outer.addWidget(self.body)
        outer.addWidget(self.thinking)
        outer.addWidget(self.note)
        outer.addLayout(self._footer(self.regenerate_button, right_aligned=False))

    def _footer(self, action: QtWidgets.QToolButton, right_aligned: bool) -> QtWidgets.QHBoxLayout:
        footer = QtWidgets.QHBoxLayout()
        footer.setSpacing(2)
        if right_aligned:
            footer.addStretch(1)
        footer.addWidget(self.stats)
        if not right_aligned:
            footer.addStretch(1)
        footer.addWidget(self.copy_button)
        footer.addWidget(action)
        return footer

    def _build_editor(self) -> None:
        """The Edit box under the bubble: a text editor with Send and Cancel (Ctrl+Return sends)."""
        self.editor = QtWidgets.QPlainTextEdit()
        self.editor.setAccessibleName("Edit question")
        self.editor.setTabChangesFocus(True)
        self.send_edit_button = QtWidgets.QPushButton("Send")
        self.send_edit_button.setObjectName("PrimaryButton")
        self.send_edit_button.setAccessibleName("Send edited question")
        self.send_edit_button.clicked.connect(self._submit_edit)
        self.cancel_edit_button = QtWidgets.QPushButton("Cancel")
        self.cancel_edit_button.setAccessibleName("Cancel editing")
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Return"), self.editor, self._submit_edit,
                        Qt.ShortcutContext.WidgetShortcut)
        box = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_edit_button)
        buttons.addWidget(self.send_edit_button)
        layout.addLayout(buttons)
        outer = self.layout()
        outer.insertWidget(outer.count() - 1, box)  # between the bubble and its footer
        self.editor_row = box

    # --- state ---

    def render(self, renderer: MarkdownRenderer) -> None:
        """Show the current text; answers as Markdown, questions exactly as typed."""
        if self.is_user:
            self.body.set_html(plain_text_html(self.text))
            self._hug_text()
            return
        rendered: RenderedMarkdown = renderer.render(self.text)
        self.code_blocks = rendered.code_blocks
        self.body.set_html(rendered.html, document_css(renderer.theme))
        self._update_thinking()

    def set_status(self, status: MessageStatus | str, note: str = "") -> None:
        self.status = MessageStatus(status)
        text = STATUS_NOTES.get(self.status, "")
        if note:
            text = f"{text} {note}".strip()
        self.note.setObjectName("ErrorNote" if self.status == MessageStatus.ERROR else "StatusNote")
        self.note.style().unpolish(self.note)  # the style sheet picks colours by object name
        self.note.style().polish(self.note)
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self._update_thinking()

    def set_stats(self, text: str) -> None:
        self.stats.setText(text)
        self.stats.setVisible(bool(text))

    def set_actions(self, can_edit: bool, can_regenerate: bool) -> None:
        streaming = self.status == MessageStatus.STREAMING
        self.copy_button.setVisible(not streaming)
        self.edit_button.setVisible(self.is_user and can_edit)
        self.regenerate_button.setVisible(not self.is_user and can_regenerate)

    def _update_thinking(self) -> None:
        waiting = self.status == MessageStatus.STREAMING and not self.text
        self.thinking.setVisible(waiting)
        self.body.setVisible(not waiting)

    def _hug_text(self) -> None:
        """A short question gets a small bubble; a long one wraps at four fifths of the width."""
        metrics = QtGui.QFontMetrics(self.body.font())
        widest = max((metrics.horizontalAdvance(line) for line in self.text.split("\n")), default=0)
        self.frame.setMaximumWidth(widest + 2 * BUBBLE_PADDING + 16)

    # --- edit and resend ---

    def start_edit(self) -> None:
        if not self.is_user:
            return
        if self.editor_row is None:
            self._build_editor()
        self.editor.setPlainText(self.text)
        self.frame.hide()
        self.editor_row.show()
        self.edit_button.hide()
        self.editor.setFocus()
        self.editor.selectAll()

    def cancel_edit(self) -> None:
        if self.editor_row is not None:
            self.editor_row.hide()
        self.frame.show()
        self.edit_button.show()

    def _submit_edit(self) -> None:
        new_text = self.editor.toPlainText().strip()
        if not new_text:
            return
        self.cancel_edit()
        self.editSubmitted.emit(new_text)

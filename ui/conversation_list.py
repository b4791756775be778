"""The list of past conversations: pick one, start a new one, rename, delete, search.

The app owns the conversations: it answers ``searchChanged(text)`` (sent a moment after typing
stops) by calling ``set_conversations`` with the matches, and ``renameRequested(id, title)`` /
``deleteRequested(id)`` (sent once the user confirmed) by changing its store and calling
``set_conversations`` again.
"""

from ui.qt import QtGui, QtWidgets, Qt, QTimer, Signal
from ui.view_models import ConversationView

SEARCH_DELAY_MS = 150
ID_ROLE = Qt.ItemDataRole.UserRole


class ConversationList(QtWidgets.QWidget):
    newRequested = Signal()
    conversationSelected = Signal(str)
    renameRequested = Signal(str, str)
    deleteRequested = Signal(str)
    searchChanged = Signal(str)
    exportRequested = Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._titles: dict[str, str] = {}

        self.new_button = QtWidgets.QPushButton("+  New chat")
        self.new_button.setObjectName("PrimaryButton")
        self.new_button.setAccessibleName("New conversation")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.newRequested)

        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search conversations")
        self.search.setToolTip("Search by text (Ctrl+F)")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._emit_search)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self._emit_search)

        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("ConversationList")
        self.list.setAccessibleName("Conversations")
        self.list.setUniformItemSizes(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._show_menu)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemChanged.connect(self._on_item_edited)
        QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Delete, self.list, self.delete_current,
                        Qt.ShortcutContext.WidgetShortcut)

        self.empty_label = QtWidgets.QLabel("No conversations yet.")
        self.empty_label.setObjectName("Muted")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)

        self.rename_button = QtWidgets.QToolButton()
        self.rename_button.setText("Rename")
        self.rename_button.setAccessibleName("Rename conversation")
        self.rename_button.setToolTip("Rename the selected conversation (F2)")
        self.rename_button.clicked.connect(self.rename_current)
        self.delete_button = QtWidgets.QToolButton()
        self.delete_button.setText("Delete")
        self.delete_button.setAccessibleName("Delete conversation")
        self.delete_button.setToolTip("Delete the selected conversation (Del)")
        self.delete_button.clicked.connect(self.delete_current)
        self.export_button = QtWidgets.QToolButton()
        self.export_button.setText("Export")
        self.export_button.setAccessibleName("Export conversation")
        self.export_button.setToolTip("Save the selected conversation as Markdown with its images")
        self.export_button.clicked.connect(self.export_current)
        for button in (self.rename_button, self.delete_button, self.export_button):
            button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        actions = QtWidgets.QHBoxLayout()
        actions.addWidget(self.rename_button)
        actions.addWidget(self.delete_button)
        actions.addWidget(self.export_button)
        actions.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label)
        layout.addLayout(actions)
        self._update_enabled()

    # --- data in ---

    def set_conversations(self, conversations: list[ConversationView]) -> None:
        """Show these conversations, newest first as given; the selection stays where it can."""
        keep = self.current_id()
        self.list.blockSignals(True)
        self.list.clear()
        self._titles = {}
        for conversation in conversations:
            item = QtWidgets.QListWidgetItem(conversation.title or "Untitled")
            item.setData(ID_ROLE, conversation.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            if conversation.updated is not None:
                item.setToolTip(f"{conversation.title}\nUpdated {conversation.updated:%Y-%m-%d %H:%M}")
            self.list.addItem(item)
            self._titles[conversation.id] = item.text()
        self.list.blockSignals(False)
        self.set_current(keep)
        searching = bool(self.search.text().strip())
        self.empty_label.setText("No conversations match." if searching else "No conversations yet.")
        self._update_enabled()

    def set_current(self, conversation_id: str | None) -> None:
        """Select a conversation without announcing it (the app already knows)."""
        self.list.blockSignals(True)
        self.list.setCurrentItem(self._item(conversation_id))  # None clears the selection
        self.list.blockSignals(False)
        self._update_enabled()

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    # --- intents ---

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def rename_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.setFocus()
            self.list.editItem(item)

    def delete_current(self) -> None:
        """Ask first: deleting takes the conversation's screenshots and recordings with it."""
        conversation_id, item = self.current_id(), self.list.currentItem()
        if conversation_id is None or item is None:
            return
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Question, "Delete conversation",
            f"Delete \u201c{item.text()}\u201d with its screenshots and recordings? This cannot be undone.",
            parent=self)
        delete = box.addButton("Delete", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel))
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: box.clickedButton() is delete
                             and self.deleteRequested.emit(conversation_id))
        self.confirm_delete = box  # the open question, for keyboard users' screen readers and tests
        box.open()

    def export_current(self) -> None:
        conversation_id = self.current_id()
        if conversation_id is not None:
            self.exportRequested.emit(conversation_id)

    def _emit_search(self) -> None:
        self._search_timer.stop()
        self.searchChanged.emit(self.search.text().strip())

    def _on_current_changed(self, current, _previous) -> None:
        self._update_enabled()
        if current is not None:
            self.conversationSelected.emit(current.data(ID_ROLE))

    def _on_item_edited(self, item: QtWidgets.QListWidgetItem) -> None:
        conversation_id = item.data(ID_ROLE)
        old, new = self._titles.get(conversation_id, ""), item.text().strip()
        if not new or new == old:
            self.list.blockSignals(True)
            item.setText(old)  # an empty title is not a rename
            self.list.blockSignals(False)
            return
        self._titles[conversation_id] = new
        self.renameRequested.emit(conversation_id, new)

    def _show_menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QtWidgets.QMenu(self)
        menu.setAccessibleName("Conversation actions")
        menu.addAction("Rename", self.rename_current)
        menu.addAction("Delete", self.delete_current)
        menu.popup(self.list.viewport().mapToGlobal(position))

    def _item(self, conversation_id: str | None) -> QtWidgets.QListWidgetItem | None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == conversation_id:
                return self.list.item(row)
        return None

    def _update_enabled(self) -> None:
        has_current = self.list.currentItem() is not None
        self.rename_button.setEnabled(has_current)
        self.delete_button.setEnabled(has_current)
        self.export_button.setEnabled(has_current)
        self.empty_label.setVisible(self.list.count() == 0)

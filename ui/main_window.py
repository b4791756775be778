"""The main window: conversations on the left, the transcript and input bar in the middle, the
status line at the bottom, and the setup page in place of the chat until a model is configured.

The window only arranges its parts; the app connects to their signals directly
(``window.conversations``, ``window.chat``, ``window.setup``) and to ``settingsRequested`` and
``hiddenToTray`` here. The input bar is built elsewhere and handed in.
Shortcuts: Ctrl+N new conversation, Ctrl+F search, Esc stop an answer (only while one streams).
"""

from ui.banner import Banner
from ui.chat_view import ChatView
from ui.conversation_list import ConversationList
from ui.qt import QtGui, QtWidgets, Qt, Signal
from ui.setup_page import SetupPage
from ui.status_line import StatusLine
from ui.theme import apply_theme
from ui.view_models import ConversationView, StatusView

SIDEBAR_WIDTH = 260


class MainWindow(QtWidgets.QMainWindow):
    settingsRequested = Signal()
    hiddenToTray = Signal()

    def __init__(self, input_bar: QtWidgets.QWidget, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Seesay")
        self.setAccessibleName("Seesay")
        self.close_to_tray = False
        self.input_bar = input_bar
        self.conversations = ConversationList()
        self.chat = ChatView()
        self.setup = SetupPage()
        self.status_line = StatusLine()
        self.banner = Banner()

        self.settings_button = QtWidgets.QPushButton("⚙  Settings")
        self.settings_button.setAccessibleName("Settings")
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        self.settings_button.clicked.connect(self.settingsRequested)

        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.setup)
        self.stack.addWidget(self._chat_page())
        right = QtWidgets.QWidget()
        right.setObjectName("ChatPage")
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        banner_box = QtWidgets.QHBoxLayout()
        banner_box.setContentsMargins(16, 10, 16, 0)
        banner_box.addWidget(self.banner)
        right_layout.addLayout(banner_box)
        right_layout.addWidget(self.stack, 1)

        splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(1)
        splitter.addWidget(self._sidebar())
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([SIDEBAR_WIDTH, 1000])
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_line)
        self.setCentralWidget(central)

        self._add_shortcuts()
        self.chat.streamingChanged.connect(self.stop_shortcut.setEnabled)
        QtGui.QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_color_scheme_changed)
        self.resize(1120, 740)
        self.setMinimumSize(720, 480)
        self.show_chat()

    def _sidebar(self) -> QtWidgets.QWidget:
        sidebar = QtWidgets.QWidget()
        sidebar.setObjectName("Sidebar")
        sidebar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        sidebar.setMinimumWidth(200)
        sidebar.setMaximumWidth(420)
        brand = QtWidgets.QLabel("Seesay")
        brand.setObjectName("PageTitle")
        layout = QtWidgets.QVBoxLayout(sidebar)
        layout.setContentsMargins(12, 14, 12, 12)
        layout.setSpacing(10)
        layout.addWidget(brand)
        layout.addWidget(self.conversations, 1)
        layout.addWidget(self.settings_button)
        return sidebar

    def _chat_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        page.setObjectName("ChatPage")
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.chat, 1)
        bar_box = QtWidgets.QWidget()
        bar_box.setMaximumWidth(880)  # lines up with the transcript's column
        bar_layout = QtWidgets.QVBoxLayout(bar_box)
        bar_layout.setContentsMargins(24, 8, 24, 14)
        bar_layout.addWidget(self.input_bar)
        bar_row = QtWidgets.QHBoxLayout()
        bar_row.addStretch(1)
        bar_row.addWidget(bar_box, 100)
        bar_row.addStretch(1)
        layout.addLayout(bar_row)
        self.chat_page = page
        return page

    def _add_shortcuts(self) -> None:
        def shortcut(keys, slot) -> QtGui.QShortcut:
            return QtGui.QShortcut(QtGui.QKeySequence(keys), self, slot, Qt.ShortcutContext.WindowShortcut)

        self.new_shortcut = shortcut("Ctrl+N", self.conversations.newRequested.emit)
        self.search_shortcut = shortcut("Ctrl+F", self.conversations.focus_search)
        self.settings_shortcut = shortcut("Ctrl+,", self.settingsRequested.emit)
        self.stop_shortcut = shortcut("Escape", self.chat.stopRequested.emit)
        self.stop_shortcut.setEnabled(False)  # Esc belongs to other widgets unless an answer streams

    # --- what the app calls ---

    def set_conversations(self, conversations: list[ConversationView]) -> None:
        self.conversations.set_conversations(conversations)

    def set_status(self, status: StatusView) -> None:
        self.status_line.set_status(status)

    def show_setup(self) -> None:
        """Show the setup page instead of the chat (no model is configured)."""
        self.stack.setCurrentWidget(self.setup)

    def show_chat(self) -> None:
        self.stack.setCurrentWidget(self.chat_page)

    def is_setup_shown(self) -> bool:
        return self.stack.currentWidget() is self.setup

    def show_error(self, text: str) -> None:
        self.banner.show_error(text)

    def show_notice(self, text: str) -> None:
        self.banner.show_notice(text)

    def set_close_to_tray(self, enabled: bool) -> None:
        self.close_to_tray = enabled

    # --- events ---

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self.close_to_tray:
            event.ignore()
            self.hide()
            self.hiddenToTray.emit()
            return
        super().closeEvent(event)

    def _on_color_scheme_changed(self, _scheme) -> None:
        app = QtWidgets.QApplication.instance()
        if isinstance(app, QtWidgets.QApplication):
            apply_theme(app)
        self.status_line.set_status(self.status_line.status)
        self.chat.refresh_theme()

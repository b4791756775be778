"""Light and dark colours that follow the system (Qt 6 ``QStyleHints.colorScheme``).

``apply_theme(app)`` picks light or dark from the system and sets the Qt palette and the one
application style sheet; ``current_theme()`` says which of the two applies now. Widgets that paint HTML (the chat transcript) ask
``current_theme()`` when they render and re-render on ``QStyleHints.colorSchemeChanged``.
"""

from dataclasses import dataclass

from ui.qt import QtGui, QtWidgets, Qt


@dataclass(frozen=True)
class Theme:
    dark: bool
    window: str  # main background (the transcript)
    sidebar: str
    surface: str  # cards, inputs
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    user_bubble: str
    user_text: str
    code_bg: str
    code_header: str
    error_bg: str
    error_text: str
    notice_bg: str
    notice_text: str
    warning: str
    success: str
    pygments_style: str


LIGHT = Theme(
    dark=False,
    window="#ffffff",
    sidebar="#f3f4f6",
    surface="#ffffff",
    text="#1f2328",
    muted="#6b7280",
    border="#e0e2e7",
    accent="#2f6fed",
    accent_text="#ffffff",
    user_bubble="#eaf1fe",
    user_text="#1f2328",
    code_bg="#f6f8fa",
    code_header="#eceff3",
    error_bg="#fdecea",
    error_text="#a61b1b",
    notice_bg="#eaf1fe",
    notice_text="#1d4ed8",
    warning="#b54708",
    success="#067647",
    pygments_style="default",
)

DARK = Theme(
    dark=True,
    window="#1e1f22",
    sidebar="#18191b",
    surface="#2b2d31",
    text="#e6e7e9",
    muted="#9aa0a6",
    border="#3a3c42",
    accent="#5b8cff",
    accent_text="#0b1020",
    user_bubble="#2c3650",
    user_text="#e6e7e9",
    code_bg="#0d1117",
    code_header="#161b22",
    error_bg="#3b1d1d",
    error_text="#ffb4ab",
    notice_bg="#1d2a45",
    notice_text="#a8c4ff",
    warning="#f5b14c",
    success="#6ccf8e",
    pygments_style="github-dark",
)


def _palette_is_dark() -> bool:
    window = QtGui.QGuiApplication.palette().color(QtGui.QPalette.ColorRole.Window)
    return window.lightness() < 128


def system_is_dark() -> bool:
    """True when the system asks for dark colours (falls back to the palette's lightness)."""
    if QtGui.QGuiApplication.instance() is None:
        return False
    scheme = QtGui.QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return _palette_is_dark()


def current_theme() -> Theme:
    """The theme the application shows now: whatever ``apply_theme`` chose, read off the palette."""
    if QtGui.QGuiApplication.instance() is None:
        return LIGHT
    return DARK if _palette_is_dark() else LIGHT


def palette_for(theme: Theme) -> QtGui.QPalette:
    role = QtGui.QPalette.ColorRole
    colours = {
        role.Window: theme.window,
        role.WindowText: theme.text,
        role.Base: theme.surface,
        role.AlternateBase: theme.sidebar,
        role.Text: theme.text,
        role.Button: theme.surface,
        role.ButtonText: theme.text,
        role.Highlight: theme.accent,
        role.HighlightedText: theme.accent_text,
        role.ToolTipBase: theme.surface,
        role.ToolTipText: theme.text,
        role.PlaceholderText: theme.muted,
        role.Link: theme.accent,
        role.Mid: theme.border,
    }
    palette = QtGui.QPalette()
    for r, colour in colours.items():
        palette.setColor(r, QtGui.QColor(colour))
    disabled = QtGui.QPalette.ColorGroup.Disabled
    for r in (role.Text, role.WindowText, role.ButtonText):
        palette.setColor(disabled, r, QtGui.QColor(theme.muted))
    return palette


def stylesheet(t: Theme) -> str:
    """The application style sheet; widgets are addressed by object name."""
    return f"""
QWidget#Sidebar {{ background: {t.sidebar}; border-right: 1px solid {t.border}; }}
QListView#ConversationList {{ background: transparent; border: none; outline: 0; }}
QListView#ConversationList::item {{ padding: 7px 8px; border-radius: 6px; color: {t.text}; }}
QListView#ConversationList::item:selected {{ background: {t.border}; color: {t.text}; }}
QListView#ConversationList::item:hover:!selected {{ background: {t.border}; }}
QLineEdit, QPlainTextEdit, QSpinBox, QDoubleSpinBox {{
    background: {t.surface}; border: 1px solid {t.border}; border-radius: 6px; padding: 4px 6px;
    color: {t.text}; selection-background-color: {t.accent}; selection-color: {t.accent_text};
}}
QLineEdit:focus, QPlainTextEdit:focus {{ border: 1px solid {t.accent}; }}
QPushButton {{
    background: {t.surface}; border: 1px solid {t.border}; border-radius: 6px;
    padding: 5px 12px; color: {t.text};
}}
QPushButton:hover {{ border-color: {t.accent}; }}
QPushButton:focus {{ border: 1px solid {t.accent}; }}
QPushButton:disabled {{ color: {t.muted}; }}
QPushButton#PrimaryButton {{ background: {t.accent}; color: {t.accent_text}; border: none; }}
QToolButton {{ border: none; border-radius: 5px; padding: 3px 6px; color: {t.muted}; }}
QToolButton:hover, QToolButton:focus {{ background: {t.border}; color: {t.text}; }}
QWidget#ChatPage, QWidget#Transcript {{ background: {t.window}; }}
QFrame#UserBubble {{ background: {t.user_bubble}; border-radius: 12px; }}
QFrame#AttachmentChip {{ background: {t.sidebar}; border: 1px solid {t.border}; border-radius: 8px; }}
QLabel#RoleLabel {{ color: {t.text}; font-weight: 600; }}
QLabel#Muted, QLabel#StatsLabel {{ color: {t.muted}; }}
QLabel#StatusNote {{ color: {t.warning}; }}
QLabel#ErrorNote {{ color: {t.error_text}; }}
QLabel#Problem {{ color: {t.error_text}; }}
QLabel#PageTitle {{ font-size: 20px; font-weight: 600; color: {t.text}; }}
QLabel#CardTitle {{ font-size: 15px; font-weight: 600; color: {t.text}; }}
QFrame#Card {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 10px; }}
QFrame#ErrorBanner {{ background: {t.error_bg}; border-radius: 8px; }}
QFrame#ErrorBanner QLabel {{ color: {t.error_text}; }}
QFrame#NoticeBanner {{ background: {t.notice_bg}; border-radius: 8px; }}
QFrame#NoticeBanner QLabel {{ color: {t.notice_text}; }}
QWidget#StatusLine {{ background: {t.sidebar}; border-top: 1px solid {t.border}; }}
QWidget#StatusLine QLabel {{ color: {t.muted}; }}
QPushButton#StopButton {{ border-radius: 14px; padding: 5px 16px; }}
/* Combo boxes keep Fusion's own drawing: restyling the drop-down drops its arrow. */
QComboBox {{ padding: 3px 8px; }}
QProgressBar {{
    border: 1px solid {t.border}; border-radius: 6px; background: {t.sidebar};
    text-align: center; color: {t.text}; min-height: 14px;
}}
QProgressBar::chunk {{ background: {t.accent}; border-radius: 5px; }}
QScrollArea {{ border: none; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 0px; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 0px; }}
QScrollBar::handle {{ background: {t.border}; border-radius: 3px; margin: 2px; }}
QScrollBar::handle:hover {{ background: {t.muted}; }}
QScrollBar::handle:vertical {{ min-height: 32px; }}
QScrollBar::handle:horizontal {{ min-width: 32px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0px; height: 0px; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
"""


def apply_theme(app: QtWidgets.QApplication, dark: bool | None = None) -> Theme:
    """Colour the whole application: dark or light as the system says, unless ``dark`` is given."""
    theme = DARK if (system_is_dark() if dark is None else dark) else LIGHT
    app.setStyle("Fusion")  # the same look everywhere; native styles ignore parts of the sheet
    app.setPalette(palette_for(theme))
    app.setStyleSheet(stylesheet(theme))
    return theme

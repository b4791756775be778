"""The main window: arrangement, shortcuts, setup page, messages, accessibility, a screenshot."""

from pathlib import Path

import pytest

from tests.ui import samples
from ui.crash_dialog import CrashDialog
from ui.main_window import MainWindow
from ui.qt import QtGui, QtWidgets, Qt
from ui.settings_dialog import SettingsDialog
from ui.view_models import SettingsChoices

INTERACTIVE = (QtWidgets.QAbstractButton, QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox,
               QtWidgets.QComboBox, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit,
               QtWidgets.QAbstractItemView, QtWidgets.QAbstractSlider)
# Parts Qt builds inside a composite control; the control itself carries the name.
COMPOSITES = (QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox, QtWidgets.QLineEdit, QtWidgets.QTabBar,
              QtWidgets.QAbstractScrollArea)


@pytest.fixture
def window(qtbot, tmp_path):
    input_bar = QtWidgets.QLineEdit()
    input_bar.setAccessibleName("Message")
    win = MainWindow(input_bar)
    qtbot.addWidget(win)
    win.set_conversations(samples.conversations())
    win.conversations.set_current("c1")
    win.chat.set_messages(samples.messages(samples.write_image(tmp_path / "shot.png")))
    win.set_status(samples.status())
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    return win


def unnamed_controls(root: QtWidgets.QWidget) -> list[str]:
    missing = []
    for widget in root.findChildren(QtWidgets.QWidget):
        if not isinstance(widget, INTERACTIVE) or isinstance(widget, QtWidgets.QScrollBar):
            continue
        if _inside_composite(widget, root) or widget.accessibleName().strip():
            continue
        missing.append(f"{type(widget).__name__} {widget.objectName()!r} {getattr(widget, 'text', lambda: '')()!r}")
    return missing


def _inside_composite(widget: QtWidgets.QWidget, root: QtWidgets.QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent, COMPOSITES) and not isinstance(parent, QtWidgets.QScrollArea):
            return True
        if isinstance(parent, QtWidgets.QScrollArea) and widget is parent.viewport():
            return True
        parent = parent.parentWidget()
    return False


def test_title_and_parts(window):
    assert window.windowTitle().startswith("Seesay")
    assert window.chat.isVisible() and window.conversations.isVisible() and window.input_bar.isVisible()
    assert window.status_line.model_state.text() == "Ready"
    assert window.status_line.speed.text() == "12.8 tok/s"
    assert window.status_line.memory.text() == "9.8 GB in use"


def test_setup_page_replaces_the_chat_until_a_model_is_configured(window):
    window.show_setup()
    assert window.is_setup_shown() and window.setup.isVisible()
    assert not window.chat.isVisible() and not window.input_bar.isVisible()
    window.show_chat()
    assert not window.is_setup_shown() and window.chat.isVisible()


def test_error_and_notice_banner(window, qtbot):
    window.show_error("The model folder is missing config.json; choose the folder with the model.")
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert "config.json" in window.banner.text()
    window.show_notice("Settings saved.")
    assert window.banner.kind == "notice" and window.banner.text() == "Settings saved."
    qtbot.mouseClick(window.banner.close_button, Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()


def test_ctrl_n_asks_for_a_new_conversation(window, qtbot):
    with qtbot.waitSignal(window.conversations.newRequested):
        qtbot.keyClick(window.input_bar, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_f_focuses_search(window, qtbot):
    window.input_bar.setFocus()
    qtbot.keyClick(window.input_bar, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(window.conversations.search.hasFocus)


def test_escape_stops_only_while_an_answer_streams(window, qtbot):
    with qtbot.assertNotEmitted(window.chat.stopRequested):
        qtbot.keyClick(window.input_bar, Qt.Key.Key_Escape)
    window.chat.begin_answer("a5")
    with qtbot.waitSignal(window.chat.stopRequested):
        qtbot.keyClick(window.input_bar, Qt.Key.Key_Escape)
    window.chat.finish_answer("a5", "stopped")
    assert not window.stop_shortcut.isEnabled()


def test_settings_button_and_shortcut(window, qtbot):
    with qtbot.waitSignal(window.settingsRequested):
        qtbot.mouseClick(window.settings_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.settingsRequested):
        qtbot.keyClick(window.input_bar, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)


def test_close_to_tray_hides_instead_of_closing(window, qtbot):
    window.set_close_to_tray(True)
    with qtbot.waitSignal(window.hiddenToTray):
        window.close()
    assert not window.isVisible()
    window.set_close_to_tray(False)
    window.show()
    assert window.close()


def test_every_control_has_an_accessible_name(window, qtbot):
    window.chat.begin_answer("a5")  # the stop button too
    window.chat.append_answer_text("a5", "```python\nx = 1\n```")
    window.show_error("Something to dismiss.")
    assert unnamed_controls(window) == []
    window.show_setup()
    window.setup.set_download_state("running")
    assert unnamed_controls(window) == []
    settings = SettingsDialog({}, SettingsChoices(microphones=["USB"]))
    crash = CrashDialog("report")
    for dialog in (settings, crash):
        qtbot.addWidget(dialog)
        assert unnamed_controls(dialog) == []


def test_keyboard_reaches_the_main_controls(window):
    reachable = set()
    widget = window.conversations.new_button
    widget.setFocus()
    for _ in range(200):
        reachable.add(widget)
        widget = widget.nextInFocusChain()
        if widget is window.conversations.new_button:
            break
    wanted = [window.conversations.new_button, window.conversations.search, window.conversations.list,
              window.settings_button, window.input_bar, window.chat.bubble("m2").copy_button,
              window.chat.bubble("m4").regenerate_button, window.chat.bubble("m3").edit_button,
              window.chat.bubble("m1").attachments.thumbnails[0]]
    for control in wanted:
        assert control in reachable and control.focusPolicy() & Qt.FocusPolicy.TabFocus, control


@pytest.fixture
def keep_app_look(qapp):
    """Theme tests change the application's palette and style sheet; put them back."""
    palette, sheet = qapp.palette(), qapp.styleSheet()
    yield
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)


def test_theme_change_re_renders_the_transcript(window, keep_app_look):
    before = window.chat.render_count
    QtGui.QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert window.chat.render_count == before + len(window.chat.message_ids())


def test_screenshot_of_the_main_window(window, tmp_path):
    window.resize(1120, 740)
    window.show_notice("The model is ready. Answers stay on this computer.")
    image = window.grab().toImage()
    path = Path(tmp_path / "main_window.png")
    assert image.save(str(path)) and path.stat().st_size > 10_000
    assert image.width() == 1120
    # Something was drawn: the transcript's text makes the picture far from one flat colour.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20

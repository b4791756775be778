"""The quick-ask popup: placement on screen, caret ready for typing, Enter asks, Esc closes."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ui.qt import QtCore, QtGui, QtWidgets, Qt
from ui.quick_ask import GAP, QuickAskPopup, keep_inside, place_near

ROOT = Path(__file__).resolve().parents[2]
AREA = QtCore.QRect(0, 0, 1920, 1080)
SIZE = QtCore.QSize(460, 200)


def test_place_near_prefers_below_right_of_the_pointer():
    assert place_near(QtCore.QPoint(100, 100), SIZE, AREA) == QtCore.QPoint(100, 100) + GAP


def test_place_near_flips_at_the_right_and_bottom_edges():
    top_left = place_near(QtCore.QPoint(1900, 1070), SIZE, AREA)
    assert top_left == QtCore.QPoint(1900 - GAP.x() - 460, 1070 - GAP.y() - 200)
    assert AREA.contains(QtCore.QRect(top_left, SIZE))


def test_place_near_on_a_second_screen_at_an_offset():
    right_screen = QtCore.QRect(1920, -200, 1280, 1024)
    top_left = place_near(QtCore.QPoint(1925, -195), SIZE, right_screen)
    assert right_screen.contains(QtCore.QRect(top_left, SIZE))


def test_keep_inside_keeps_the_corner_of_a_window_larger_than_the_area():
    assert keep_inside(QtCore.QPoint(50, 50), QtCore.QSize(3000, 2000), AREA) == QtCore.QPoint(0, 0)


def screenshot() -> QtGui.QImage:
    image = QtGui.QImage(320, 200, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("teal"))
    return image


@pytest.fixture
def popup(qtbot):
    widget = QuickAskPopup()
    qtbot.addWidget(widget)
    return widget


def test_show_near_puts_the_caret_in_the_field_and_shows_the_screenshot(qtbot, popup):
    popup.show_near(QtCore.QPoint(50, 40), screenshot())
    qtbot.waitUntil(lambda: popup.edit.hasFocus())
    assert popup.isVisible() and popup._chip is not None and popup._chip.isVisible()
    assert popup.geometry().topLeft() == QtCore.QPoint(50, 40) + GAP
    qtbot.keyClicks(QtGui.QGuiApplication.focusObject(), "typed at once")
    assert popup.text() == "typed at once"


def test_show_near_keeps_the_popup_on_screen_at_a_corner(qtbot, popup):
    area = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    popup.show_near(area.bottomRight() - QtCore.QPoint(2, 2), None)
    qtbot.waitExposed(popup)
    assert area.contains(popup.frameGeometry())
    assert popup._chip is None


def test_enter_sends_and_the_answer_streams_in(qtbot, popup):
    popup.show_near(QtCore.QPoint(10, 10), screenshot())
    qtbot.waitUntil(lambda: popup.edit.hasFocus())
    qtbot.keyClicks(popup.edit, "what is this")
    with qtbot.waitSignal(popup.sendRequested) as sent:
        qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
    assert sent.args == ["what is this"]
    assert popup.is_busy() and popup.question_label.text() == "what is this"
    assert popup._chip is None  # the screenshot went with the question
    with qtbot.assertNotEmitted(popup.sendRequested):  # one question at a time
        qtbot.keyClicks(popup.edit, "more")
        qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
    height = popup.height()
    popup.append_answer("It is a **teal** rectangle.")
    popup.append_answer("\n\nNothing else.\n\nReally nothing.")
    popup.set_answer_done()
    assert not popup.is_busy()
    assert popup.answer_view.toPlainText().startswith("It is a teal rectangle.")
    assert popup.height() > height
    area = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    assert area.contains(popup.frameGeometry())


def test_empty_question_is_not_sent(qtbot, popup):
    popup.show_near(QtCore.QPoint(10, 10), None)
    with qtbot.assertNotEmitted(popup.sendRequested):
        qtbot.keyClick(popup.edit, Qt.Key.Key_Return)


def test_escape_closes_and_says_so(qtbot, popup):
    popup.show_near(QtCore.QPoint(10, 10), screenshot())
    qtbot.waitUntil(lambda: popup.edit.hasFocus())
    qtbot.keyClicks(popup.edit, "never mind")
    with qtbot.waitSignal(popup.dismissed):
        qtbot.keyClick(popup.edit, Qt.Key.Key_Escape)
    assert not popup.isVisible()
    popup.show_near(QtCore.QPoint(10, 10), None)  # opening again starts afresh
    assert popup.text() == "" and not popup.answer_view.isVisible()


def test_open_in_main_window_and_removing_the_screenshot(qtbot, popup):
    popup.show_near(QtCore.QPoint(10, 10), screenshot())
    with qtbot.waitSignal(popup.screenshotRemoved):
        qtbot.mouseClick(popup._chip.remove_button, Qt.MouseButton.LeftButton)
    assert popup._chip is None
    with qtbot.waitSignal(popup.openMainRequested), qtbot.assertNotEmitted(popup.dismissed):
        qtbot.mouseClick(popup.open_main_button, Qt.MouseButton.LeftButton)
    assert not popup.isVisible()


def test_error_is_shown_in_the_answer_box(qtbot, popup):
    popup.show_near(QtCore.QPoint(10, 10), None)
    qtbot.keyClicks(popup.edit, "q")
    qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
    popup.show_error("The model is not loaded yet: wait for it, or open the main window.")
    assert not popup.is_busy() and "not loaded" in popup.answer_view.toPlainText()


# A real X server: no click, no window manager; xdotool types into whatever has the X focus.
_REAL_X_SCRIPT = textwrap.dedent("""
    import sys
    from ui.qt import QtCore, QtGui, QtWidgets, QTimer
    from ui.quick_ask import QuickAskPopup

    app = QtWidgets.QApplication(sys.argv)
    popup = QuickAskPopup()
    image = QtGui.QImage(200, 120, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("navy"))
    popup.show_near(QtCore.QPoint(300, 200), image)
    popup.edit.textChanged.connect(lambda: print("TEXT", repr(popup.text()), flush=True))
    popup.sendRequested.connect(lambda text: (print("SENT", repr(text), flush=True), app.quit()))

    def report_ready():
        if popup.edit.hasFocus():
            print("READY", popup.winId(), flush=True)
        else:
            QTimer.singleShot(20, report_ready)
    report_ready()
    QTimer.singleShot(20000, app.quit)  # never hang a test run
    app.exec()
""")


@pytest.mark.x11
def test_typing_goes_straight_into_the_popup_on_real_x(x11, xdotool):
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=x11, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", _REAL_X_SCRIPT], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = child.stdout.readline()  # blocks until the caret is in the field (or the child dies)
        assert first.startswith("READY"), first + child.stderr.read()
        xdotool("type", "--delay", "20", "hello seesay")
        xdotool("key", "Return")
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert "SENT 'hello seesay'" in out, out + err
    assert "TEXT 'hello seesay'" in out


def test_tab_reaches_every_control_and_all_are_named(qtbot, popup):
    popup.show_near(QtCore.QPoint(10, 10), screenshot())
    qtbot.waitUntil(lambda: popup.edit.hasFocus())
    seen = set()
    for _ in range(4):
        widget = QtWidgets.QApplication.focusWidget()
        seen.add(widget)
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    for widget in (popup.edit, popup._chip.remove_button, popup.open_main_button):
        assert widget in seen, widget
        assert widget.accessibleName() and widget.toolTip()

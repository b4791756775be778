"""The crash dialog shows a read-only report that can be copied; nothing is sent."""

from ui.crash_dialog import CrashDialog
from ui.qt import QtGui, QtWidgets, Qt

REPORT = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\nSeesay 0.1.0"


def test_report_is_read_only_and_copies_to_the_clipboard(qtbot):
    dialog = CrashDialog(REPORT)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.report.isReadOnly() and dialog.report.toPlainText() == REPORT
    words = " ".join(label.text() for label in dialog.findChildren(QtWidgets.QLabel))
    assert "Nothing has been sent anywhere" in words
    QtGui.QGuiApplication.clipboard().clear()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QtGui.QGuiApplication.clipboard().text() == REPORT
    assert dialog.copy_button.text() == "Copied"


def test_close_button_closes(qtbot):
    dialog = CrashDialog(REPORT)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()

"""The Qt binding itself: a release that miscounts references would abort Seesay mid-session.

PySide6 6.12.0 on Python 3.11 dropped a reference to None on every call of many void methods
(QLabel.setText, QWidget.update, QTimer.start...): None is not immortal before Python 3.12, so
after a few thousand such calls, a few minutes of streaming answers, the process aborted with
"Fatal Python error: none_dealloc". pyproject.toml keeps that release out; this keeps it out.
"""

import gc
import sys

from ui.qt import QtWidgets, QTimer


def test_void_calls_leave_the_reference_counts_of_none_and_bools_alone(qapp):
    label, widget, timer = QtWidgets.QLabel(), QtWidgets.QWidget(), QTimer()
    check = QtWidgets.QCheckBox()
    gc.disable()  # a collection freeing objects that point at None would move the count too
    try:
        before = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True), ("False", False))}
        for _ in range(500):
            label.setText("streaming")
            widget.update()
            timer.start(1000)
            check.setChecked(check.isChecked())
        timer.stop()
        after = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True), ("False", False))}
    finally:
        gc.enable()
    drift = {name: after[name] - before[name] for name in before}
    assert all(abs(d) < 100 for d in drift.values()), drift  # 6.12.0: None -1500

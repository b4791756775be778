"""Shown when something went wrong that Seesay did not expect: a report the user can copy.

Nothing is sent anywhere. The app's exception hook builds the report text (traceback, versions,
log location) and shows this dialog; the user may copy it into a bug report themselves.
"""

from ui.qt import QtGui, QtWidgets, Qt, QTimer


class CrashDialog(QtWidgets.QDialog):
    def __init__(self, report: str, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Seesay ran into a problem")
        self.setAccessibleName("Problem report")
        heading = QtWidgets.QLabel("Something went wrong inside Seesay.")
        heading.setObjectName("CardTitle")
        explanation = QtWidgets.QLabel(
            "Your conversations are saved. If this keeps happening, copy the report below into a "
            "bug report. Nothing has been sent anywhere; Seesay does not send reports by itself."
        )
        explanation.setWordWrap(True)
        self.report = QtWidgets.QPlainTextEdit(report)
        self.report.setReadOnly(True)
        self.report.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.report.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.report.setAccessibleName("Problem report text")
        self.report.setTabChangesFocus(True)
        self.copy_button = QtWidgets.QPushButton("Copy report")
        self.copy_button.setAccessibleName("Copy report")
        self.copy_button.clicked.connect(self.copy_report)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.setObjectName("PrimaryButton")
        self.close_button.setAccessibleName("Close")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.accept)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(explanation)
        layout.addWidget(self.report, 1)
        layout.addLayout(buttons)
        self.resize(640, 420)

    def copy_report(self) -> None:
        QtGui.QGuiApplication.clipboard().setText(self.report.toPlainText())
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy report"))

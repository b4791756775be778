"""The one place Seesay imports Qt from, so a binding switch or a workaround has one home."""

from PySide6 import QtCore, QtGui, QtNetwork, QtWidgets  # noqa: F401
from PySide6.QtCore import Qt, QObject, QThread, QTimer, Signal, Slot  # noqa: F401

"""Fixtures shared by the widget tests."""

import pytest


@pytest.fixture
def app(qapp):
    """The QApplication; theme tests change its palette and style sheet, so both are put back."""
    palette, sheet = qapp.palette(), qapp.styleSheet()
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)

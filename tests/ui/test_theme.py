"""Light and dark themes: chosen from the system, applied to the whole app, read back by widgets."""

import pytest

from ui.qt import QtGui
from ui.theme import DARK, LIGHT, apply_theme, current_theme, palette_for, stylesheet


@pytest.mark.parametrize("dark, expected", [(True, DARK), (False, LIGHT)])
def test_apply_theme_sets_palette_and_sheet_and_widgets_read_it_back(app, dark, expected):
    # qt_log_level_fail makes a style sheet Qt cannot parse fail this test.
    assert apply_theme(app, dark=dark) is expected
    assert current_theme() is expected
    assert app.palette().color(QtGui.QPalette.ColorRole.Window).name() == expected.window
    assert app.styleSheet() == stylesheet(expected)


def test_system_choice_follows_the_colour_scheme(app):
    expected = DARK if QtGui.QGuiApplication.styleHints().colorScheme() == QtGui.Qt.ColorScheme.Dark else LIGHT
    assert apply_theme(app) is expected


def test_palettes_differ_where_it_matters():
    role = QtGui.QPalette.ColorRole
    assert palette_for(DARK).color(role.Window).lightness() < 80
    assert palette_for(LIGHT).color(role.Window).lightness() > 200

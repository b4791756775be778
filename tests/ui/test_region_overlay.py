"""Region selection: logical→physical per screen (HiDPI, offsets), and the overlay's drag and keys."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ui.qt import QtCore, QtGui, Qt
from ui.region_overlay import (RegionOverlay, ScreenArea, area_at, logical_to_physical,
                               screen_areas, selection_rect)

ROOT = Path(__file__).resolve().parents[2]
R = QtCore.QRect
# A 1920×1080 monitor at 100 %, and to its right a 4K monitor at 200 % (1920×1080 logical), set
# 100 px lower. Qt keeps each screen's origin in desktop pixels: the second one starts at x=1920.
LEFT = ScreenArea(R(0, 0, 1920, 1080), 1.0)
RIGHT_2X = ScreenArea(R(1920, 100, 1920, 1080), 2.0)


def test_same_rect_at_100_percent():
    assert logical_to_physical(R(10, 20, 300, 200), LEFT) == R(10, 20, 300, 200)


def test_2x_screen_at_an_offset_scales_from_its_origin():
    # 100 logical px into the right screen = 200 physical px past its origin.
    assert logical_to_physical(R(2020, 150, 400, 300), RIGHT_2X) == R(2120, 200, 800, 600)
    assert RIGHT_2X.physical() == R(1920, 100, 3840, 2160)


def test_fractional_ratio_rounds_edges_so_neighbours_stay_neighbours():
    area = ScreenArea(R(0, 0, 1536, 864), 1.25)  # 1920×1080 at 125 %
    a = logical_to_physical(R(0, 0, 3, 3), area)
    b = logical_to_physical(R(3, 0, 3, 3), area)
    assert a.x() + a.width() == b.x()  # no gap, no overlap
    assert logical_to_physical(area.geometry, area) == R(0, 0, 1920, 1080)


def test_negative_origin_screen_left_of_the_primary():
    area = ScreenArea(R(-1280, 0, 1280, 720), 1.5)
    assert logical_to_physical(R(-1280, 0, 1280, 720), area) == R(-1280, 0, 1920, 1080)
    assert logical_to_physical(R(-1180, 10, 100, 100), area) == R(-1130, 15, 150, 150)


def test_parts_outside_the_screen_are_clipped():
    assert logical_to_physical(R(1900, 90, 100, 100), RIGHT_2X) == R(1920, 100, 2 * 80, 2 * 90)
    assert logical_to_physical(R(5000, 5000, 10, 10), RIGHT_2X).isEmpty()


def test_area_at_finds_the_screen_or_the_nearest():
    areas = [LEFT, RIGHT_2X]
    assert area_at(QtCore.QPoint(2000, 500), areas) is RIGHT_2X
    assert area_at(QtCore.QPoint(1919, 0), areas) is LEFT
    assert area_at(QtCore.QPoint(2500, 50), areas) is RIGHT_2X  # above the right screen's top
    assert area_at(QtCore.QPoint(0, 0), []) is None


def test_selection_is_normalised_and_clipped_to_the_start_screen():
    # Dragged up-left, from the right screen across into the left one.
    rect = selection_rect(QtCore.QPoint(2100, 400), QtCore.QPoint(1800, 300), RIGHT_2X)
    assert rect == R(1920, 300, 180, 100)


@pytest.fixture
def overlay(qtbot):
    widget = RegionOverlay()
    qtbot.addWidget(widget)
    widget.show_over_screens()
    qtbot.waitExposed(widget)
    return widget


def drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint) -> None:
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(widget, (start + end) / 2)
    qtbot.mouseMove(widget, end)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def test_overlay_spans_every_screen(overlay):
    union = R()
    for area in screen_areas():
        union = union.united(area.geometry)
    assert overlay.geometry() == union


def test_drag_emits_the_physical_and_logical_rect(qtbot, overlay):
    offset = overlay.geometry().topLeft()
    with qtbot.waitSignal(overlay.regionSelected) as physical, \
            qtbot.waitSignal(overlay.regionSelectedLogical) as logical:
        drag(qtbot, overlay, QtCore.QPoint(300, 250), QtCore.QPoint(100, 50))  # up and to the left
    expected = R(offset + QtCore.QPoint(100, 50), QtCore.QSize(200, 200))
    assert logical.args == [expected]
    assert physical.args == [logical_to_physical(expected, area_at(expected.center(), screen_areas()))]
    assert not overlay.isVisible()  # hidden before anyone captures the screen


def test_the_selection_and_its_size_are_drawn(qtbot, overlay):
    qtbot.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QtCore.QPoint(100, 100))
    qtbot.mouseMove(overlay, QtCore.QPoint(300, 200))
    assert overlay.selection().size() == QtCore.QSize(200, 100)
    image = overlay.grab().toImage()
    inside, outside = image.pixelColor(200, 150), image.pixelColor(50, 50)
    assert inside.alpha() == 0 and outside.alpha() > 0  # the veil spares the selection
    assert image.pixelColor(200, 99) == overlay.palette().color(QtGui.QPalette.ColorRole.Highlight)


def test_a_click_is_not_a_selection(qtbot, overlay):
    with qtbot.assertNotEmitted(overlay.regionSelected), qtbot.assertNotEmitted(overlay.cancelled):
        drag(qtbot, overlay, QtCore.QPoint(100, 100), QtCore.QPoint(102, 101))
    assert overlay.isVisible()


def test_escape_and_right_click_cancel(qtbot, overlay):
    with qtbot.waitSignal(overlay.cancelled), qtbot.assertNotEmitted(overlay.regionSelected):
        qtbot.keyClick(overlay, Qt.Key.Key_Escape)
    assert not overlay.isVisible()
    overlay.show_over_screens()
    with qtbot.waitSignal(overlay.cancelled):
        qtbot.mousePress(overlay, Qt.MouseButton.RightButton, pos=QtCore.QPoint(10, 10))


def test_enter_takes_the_whole_screen_under_the_pointer(qtbot, overlay):
    qtbot.mouseMove(overlay, QtCore.QPoint(20, 20))
    area = area_at(overlay.geometry().topLeft() + QtCore.QPoint(20, 20), screen_areas())
    with qtbot.waitSignal(overlay.regionSelected) as selected:
        qtbot.keyClick(overlay, Qt.Key.Key_Return)
    assert selected.args == [area.physical()]


def test_backdrop_is_drawn_under_the_veil(qtbot, overlay):
    physical = R()
    for area in screen_areas():
        physical = physical.united(area.physical())
    backdrop = QtGui.QImage(physical.size(), QtGui.QImage.Format.Format_RGB32)
    backdrop.fill(QtGui.QColor(0, 200, 0))
    overlay.show_over_screens(backdrop)
    pixel = overlay.grab().toImage().pixelColor(30, 30)
    assert pixel.alpha() == 255 and pixel.green() > 100 and pixel.red() < 30


# Two screens, the second at 2x and offset, through Qt's offscreen platform's screen configuration
# (the session's QApplication has one screen, so this runs in its own process).
_TWO_SCREENS = {"screens": [
    {"name": "left", "x": 0, "y": 0, "width": 1000, "height": 700, "logicalDpi": 96, "dpr": 1},
    {"name": "right", "x": 1000, "y": 100, "width": 1600, "height": 1000, "logicalDpi": 96, "dpr": 2},
]}
_DRAG_SCRIPT = textwrap.dedent("""
    from PySide6.QtTest import QTest
    from ui.qt import QtCore, QtWidgets, Qt
    from ui.region_overlay import RegionOverlay

    app = QtWidgets.QApplication([])
    print("SCREENS", [(s.geometry().getRect(), s.devicePixelRatio()) for s in app.screens()])
    overlay = RegionOverlay()
    overlay.regionSelected.connect(lambda r: print("PHYSICAL", r.getRect()))
    overlay.regionSelectedLogical.connect(lambda r: print("LOGICAL", r.getRect()))
    overlay.show_over_screens()
    print("OVERLAY", overlay.geometry().getRect())
    start, end = QtCore.QPoint(1100, 200), QtCore.QPoint(1500, 500)  # on the right screen
    QTest.mousePress(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(overlay, end)
    QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
""")


def test_drag_on_a_2x_screen_at_an_offset_gives_physical_pixels(tmp_path):
    import json
    config = tmp_path / "screens.json"
    config.write_text(json.dumps(_TWO_SCREENS))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", _DRAG_SCRIPT], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=60)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "SCREENS [((0, 0, 1000, 700), 1.0), ((1000, 100, 1600, 1000), 2.0)]" in out, out
    assert "OVERLAY (0, 0, 2600, 1100)" in out
    assert "LOGICAL (1100, 200, 400, 300)" in out
    # 100 logical px into the 2x screen whose origin is (1000, 100): 200 physical px past it.
    assert "PHYSICAL (1200, 300, 800, 600)" in out

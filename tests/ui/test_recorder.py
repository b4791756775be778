"""Hold-to-talk widgets: time captions, the countdown near the maximum, the level meter."""

import math

import pytest

from ui.recorder import COUNTDOWN_S, LevelMeter, RecordingStrip, TalkButton, countdown_caption, format_elapsed
from ui.qt import QtCore, Qt


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (7.9, "0:07"), (65, "1:05"), (-3, "0:00")])
def test_format_elapsed(seconds, text):
    assert format_elapsed(seconds) == text


def test_countdown_appears_only_near_the_maximum():
    assert countdown_caption(5, 30) == ""
    assert countdown_caption(30 - COUNTDOWN_S - 0.1, 30) == ""
    assert countdown_caption(30 - COUNTDOWN_S, 30) == f"Stops in {COUNTDOWN_S} s"
    assert countdown_caption(27.2, 30) == "Stops in 3 s"  # rounds up: never says 0 too early
    assert countdown_caption(31, 30) == "Stops in 0 s"
    assert countdown_caption(500, 0) == ""  # no maximum, no countdown


def test_level_meter_clamps_and_ignores_nonsense(qtbot):
    meter = LevelMeter()
    qtbot.addWidget(meter)
    meter.set_level(0.25)
    assert meter.level() == 0.25 and meter.accessibleDescription() == "25 percent"
    meter.set_level(3.0)
    assert meter.level() == 1.0
    meter.set_level(-1)
    assert meter.level() == 0.0
    meter.set_level(math.nan)
    assert meter.level() == 0.0


def test_level_meter_paints_its_fill(qtbot):
    meter = LevelMeter()
    qtbot.addWidget(meter)
    meter.resize(200, 8)
    meter.set_level(0.5)
    image = meter.grab().toImage()
    highlight = meter.palette().color(meter.palette().ColorRole.Highlight)
    assert image.pixelColor(50, 4) == highlight
    assert image.pixelColor(150, 4) != highlight
    meter.set_level(0.95)  # too loud: red
    image = meter.grab().toImage()
    assert image.pixelColor(150, 4).red() > 200 and image.pixelColor(150, 4).green() < 100


def test_strip_hides_the_countdown_again_after_a_new_recording(qtbot):
    strip = RecordingStrip()
    qtbot.addWidget(strip)
    strip.show()
    strip.set_state(True, 28, 30)
    assert strip.countdown.isVisible()
    strip.set_state(False, 0, 30)
    strip.set_state(True, 1, 30)
    assert strip.isVisible() and not strip.countdown.isVisible() and strip.elapsed.text() == "0:01"


def test_talk_button_releases_when_hidden_mid_press(qtbot):
    button = TalkButton()
    qtbot.addWidget(button)
    button.show()
    qtbot.waitExposed(button)
    with qtbot.waitSignal(button.talkPressed):
        qtbot.mousePress(button, Qt.MouseButton.LeftButton, pos=QtCore.QPoint(5, 5))
    with qtbot.waitSignal(button.talkReleased):
        button.hide()
    with qtbot.assertNotEmitted(button.talkReleased):
        qtbot.mouseRelease(button, Qt.MouseButton.LeftButton, pos=QtCore.QPoint(5, 5))


def test_right_button_does_not_talk(qtbot):
    button = TalkButton()
    qtbot.addWidget(button)
    button.show()
    with qtbot.assertNotEmitted(button.talkPressed):
        qtbot.mousePress(button, Qt.MouseButton.RightButton)
        qtbot.mouseRelease(button, Qt.MouseButton.RightButton)

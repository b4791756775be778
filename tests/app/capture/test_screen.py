"""Screen capture with the real mss on a private X server, and the errors a user can meet."""

import os
import subprocess
import sys
import time
from pathlib import Path

import mss
import pytest
from PIL import Image

from app.capture import screen
from app.capture.screen import ScreenCaptureError, grab_all, grab_region, grab_screen_at, monitor_at
from tests.desktop import Xvfb
from tests.real_parts import need_tool

REPO = Path(__file__).resolve().parents[3]
LEFT_COLOUR, RIGHT_COLOUR = (200, 40, 90), (30, 160, 220)  # distinct channels catch a BGR mix-up
WINDOW = (100, 150, 200, 100)  # left, top, width, height

_WINDOW_SCRIPT = f"""
from ui.qt import QtGui, QtWidgets, Qt

class Halves(QtWidgets.QWidget):
    painted = False

    def paintEvent(self, event):
        painter = QtGui.QPainter(self)
        half = self.width() // 2
        painter.fillRect(0, 0, half, self.height(), QtGui.QColor(*{LEFT_COLOUR}))
        painter.fillRect(half, 0, self.width() - half, self.height(), QtGui.QColor(*{RIGHT_COLOUR}))
        painter.end()
        if not self.painted:
            self.painted = True
            print("ready", flush=True)

app = QtWidgets.QApplication([])
window = Halves()
window.setWindowFlags(Qt.FramelessWindowHint)
window.setGeometry(*{WINDOW})
window.show()
app.exec()
"""


@pytest.fixture
def coloured_window(x11):
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": x11}
    proc = subprocess.Popen([sys.executable, "-c", _WINDOW_SCRIPT], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", \
            "the Qt test window did not start (xcb libraries missing? see packaging/bootstrap.sh)"
        yield WINDOW
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for_pixels(region, expected_left, deadline_s=10):
    """The window's first paint reaches the X server shortly after 'ready': poll until it shows."""
    end = time.monotonic() + deadline_s
    while True:
        image = grab_region(*region)
        if image.getpixel((5, 5)) == expected_left or time.monotonic() > end:
            return image


def test_region_grab_sees_the_window_in_rgb(coloured_window):
    left, top, width, height = coloured_window
    image = _wait_for_pixels(coloured_window, LEFT_COLOUR)
    assert image.mode == "RGB" and image.size == (width, height)
    assert image.getpixel((5, 5)) == LEFT_COLOUR
    assert image.getpixel((width - 5, height - 5)) == RIGHT_COLOUR
    whole = grab_all()
    assert whole.size == (1280, 800)
    assert whole.getpixel((left + 5, top + 5)) == LEFT_COLOUR
    assert whole.getpixel((left + width - 5, top + 5)) == RIGHT_COLOUR
    assert grab_screen_at(left + 5, top + 5).tobytes() == whole.tobytes()


def test_point_outside_every_monitor_falls_back_to_the_primary(x11):
    assert grab_screen_at(-5000, 99999).size == (1280, 800)


def test_monitor_at_picks_the_monitor_under_the_point():
    left = {"left": 0, "top": 0, "width": 1920, "height": 1080}
    right = {"left": 1920, "top": -200, "width": 2560, "height": 1440, "is_primary": True}
    assert monitor_at([left, right], 10, 10) is left
    assert monitor_at([left, right], 1920, 0) is right
    assert monitor_at([left, right], 1919, 1079) is left
    assert monitor_at([left, right], 99999, 5) is right  # nowhere: the primary
    assert monitor_at([left], -1, -1) is left
    with pytest.raises(ScreenCaptureError, match="No screen"):
        monitor_at([], 0, 0)


def test_an_8k_screen_is_captured_whole(monkeypatch):
    need_tool("Xvfb")
    big = Xvfb("7680x4320x24")
    try:
        monkeypatch.setenv("DISPLAY", big.display)
        image = grab_all()
        assert image.size == (7680, 4320) and image.mode == "RGB"
        assert grab_region(7000, 4000, 680, 320).size == (680, 320)
    finally:
        big.stop()


def test_empty_region_is_refused_clearly(x11):
    with pytest.raises(ScreenCaptureError, match="empty"):
        grab_region(0, 0, 0, 10)


def test_no_display_says_so(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    with pytest.raises(ScreenCaptureError, match="no display was found"):
        grab_all()


def test_wayland_failure_explains_the_ways_out(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":4321")  # no such server, as under Wayland without XWayland
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    with pytest.raises(ScreenCaptureError) as caught:
        grab_region(0, 0, 10, 10)
    message = str(caught.value)
    assert "Wayland" in message and "xdg-desktop-portal" in message and "XWayland" in message


class _BlackScreen:
    """Stands in for mss where capture rights are missing: it returns black pixels."""

    monitors = [{"left": 0, "top": 0, "width": 40, "height": 30}] * 2

    def grab(self, monitor):
        return mss.ScreenShot(bytearray(monitor["width"] * monitor["height"] * 4), monitor)

    def close(self):
        pass


def test_black_capture_on_macos_points_to_the_privacy_setting(monkeypatch):
    monkeypatch.setattr(mss, "MSS", _BlackScreen)
    monkeypatch.setattr(screen.sys, "platform", "darwin")
    monkeypatch.setattr(screen, "_macos_capture_allowed", lambda: True)
    with pytest.raises(ScreenCaptureError, match="Privacy & Security > Screen"):
        grab_all()


def test_macos_refusal_is_caught_before_grabbing(monkeypatch):
    monkeypatch.setattr(mss, "MSS", _BlackScreen)
    monkeypatch.setattr(screen.sys, "platform", "darwin")
    monkeypatch.setattr(screen, "_macos_capture_allowed", lambda: False)
    with pytest.raises(ScreenCaptureError, match="Screen & System Audio Recording"):
        grab_screen_at(1, 1)


def test_black_capture_elsewhere_is_a_black_screen_not_an_error(monkeypatch):
    monkeypatch.setattr(mss, "MSS", _BlackScreen)
    monkeypatch.setattr(screen.sys, "platform", "linux")
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    assert grab_all().getextrema() == ((0, 0), (0, 0), (0, 0))


def test_looks_blocked():
    assert screen.looks_blocked(Image.new("RGB", (8, 8)))
    assert not screen.looks_blocked(Image.new("RGB", (8, 8), (0, 0, 1)))

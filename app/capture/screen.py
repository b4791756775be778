"""Screenshots as PIL RGB images (mss), with errors that tell the user what to do.

Coordinates are the ones mss reports for the monitors: physical pixels on Windows and X11, points on
macOS. The caller passes the cursor position (Qt's ``QCursor.pos()`` in the app); with display
scaling that position may be in another unit, so a point outside every monitor falls back to the
primary one instead of failing. Any size works, 8K included: the engine resizes.

Each call opens its own mss session, so the functions can be called from any thread.
"""

import os
import sys
from contextlib import contextmanager

import mss
from PIL import Image

from inference.errors import SeesayError

_MACOS_PERMISSION = (
    "macOS is not letting Seesay see the screen. Open System Settings > Privacy & Security > "
    "Screen & System Audio Recording, turn Seesay on, then quit and reopen Seesay."
)
_WAYLAND = (
    "Seesay cannot capture the screen in this Wayland session ({detail}). Log in with an "
    "\"on Xorg\" session, or run Seesay under XWayland (DISPLAY set), or attach a screenshot taken "
    "with your desktop's screenshot tool (it uses the xdg-desktop-portal)."
)


class ScreenCaptureError(SeesayError):
    """The screen could not be captured."""


def grab_all() -> Image.Image:
    """Every monitor together, as one image spanning their bounding box."""
    with _session() as session:
        return _grab(session, session.monitors[0])


def grab_screen_at(x: int, y: int) -> Image.Image:
    """The monitor under the point (x, y), or the primary monitor if no monitor holds it."""
    with _session() as session:
        return _grab(session, monitor_at(session.monitors[1:], x, y))


def grab_region(left: int, top: int, width: int, height: int) -> Image.Image:
    """A rectangle of the screen in physical pixels."""
    if width <= 0 or height <= 0:
        raise ScreenCaptureError(f"The region to capture is empty ({width}×{height}); select a larger area.")
    with _session() as session:
        return _grab(session, {"left": left, "top": top, "width": width, "height": height})


def monitor_at(monitors: list[dict], x: int, y: int) -> dict:
    """The monitor that holds (x, y); else the primary one; else the first."""
    if not monitors:
        raise ScreenCaptureError("No screen was found to capture; check that a display is connected.")
    for monitor in monitors:
        if (monitor["left"] <= x < monitor["left"] + monitor["width"]
                and monitor["top"] <= y < monitor["top"] + monitor["height"]):
            return monitor
    return next((m for m in monitors if m.get("is_primary")), monitors[0])


def looks_blocked(image: Image.Image) -> bool:
    """All black: what macOS (and some Wayland compositors) give an app without capture rights."""
    extrema = image.getextrema()  # ((min, max), ...) per channel
    return all(high == 0 for _, high in extrema)


def _grab(session, monitor: dict) -> Image.Image:
    if sys.platform == "darwin" and not _macos_capture_allowed():
        raise ScreenCaptureError(_MACOS_PERMISSION)
    try:
        shot = session.grab(monitor)
    except mss.ScreenShotError as error:
        raise _explain(error) from error
    image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
    if _capture_may_be_denied() and looks_blocked(image):
        raise ScreenCaptureError(_MACOS_PERMISSION if sys.platform == "darwin"
                                 else _WAYLAND.format(detail="the capture came back black"))
    return image


def _macos_capture_allowed() -> bool:
    """Ask CoreGraphics (macOS 10.15+); the first refusal also shows macOS's own permission prompt."""
    import ctypes
    import ctypes.util

    library = ctypes.util.find_library("CoreGraphics")
    try:
        core_graphics = ctypes.cdll.LoadLibrary(library) if library else None
        preflight = core_graphics.CGPreflightScreenCaptureAccess
        request = core_graphics.CGRequestScreenCaptureAccess
    except (OSError, AttributeError):
        return True  # older macOS: the all-black check below still catches a refusal
    preflight.restype = request.restype = ctypes.c_bool
    if preflight():
        return True
    request()
    return False


def _capture_may_be_denied() -> bool:
    return sys.platform == "darwin" or _is_wayland()


def _is_wayland() -> bool:
    return sys.platform.startswith("linux") and os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"


@contextmanager
def _session():
    try:
        session = mss.MSS()
    except mss.ScreenShotError as error:
        raise _explain(error) from error
    try:
        yield session
    except mss.ScreenShotError as error:
        raise _explain(error) from error
    finally:
        session.close()


def _explain(error: Exception) -> ScreenCaptureError:
    """The mss failure in words a user can act on."""
    detail = str(error).strip().rstrip(".") or type(error).__name__
    if _is_wayland():
        return ScreenCaptureError(_WAYLAND.format(detail=detail))
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        return ScreenCaptureError("Seesay cannot see the screen because no display was found "
                                  "(DISPLAY is not set); start Seesay from your desktop session.")
    if sys.platform == "darwin":
        return ScreenCaptureError(f"Seesay could not capture the screen ({detail}). {_MACOS_PERMISSION}")
    return ScreenCaptureError(f"Seesay could not capture the screen ({detail}); try again, "
                              "or attach a screenshot file instead.")

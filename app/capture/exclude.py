"""Keep Seesay's own windows out of screen captures where the system offers that.

Windows: ``SetWindowDisplayAffinity(hwnd, WDA_EXCLUDEFROMCAPTURE)`` (Windows 10 2004 and later).
macOS: ``NSWindow.sharingType = NSWindowSharingNone`` through the Objective-C runtime.
X11 and Wayland have no such switch: the capture code hides the windows for the grab instead
(app/capture_controller.py), which every platform also does.
"""

import ctypes
import logging
import sys

log = logging.getLogger(__name__)
WDA_EXCLUDEFROMCAPTURE = 0x11
NS_WINDOW_SHARING_NONE = 0


def exclude_from_capture(win_id: int) -> bool:
    """``win_id`` is ``QWidget.winId()``: an HWND on Windows, an NSView* on macOS."""
    try:
        if sys.platform == "win32":
            return bool(ctypes.windll.user32.SetWindowDisplayAffinity(ctypes.c_void_p(win_id),
                                                                     WDA_EXCLUDEFROMCAPTURE))
        if sys.platform == "darwin":
            return _macos_sharing_none(win_id)
    except (OSError, AttributeError) as error:
        log.info("cannot exclude a window from capture: %s", error)
    return False


def _macos_sharing_none(view: int) -> bool:
    objc = ctypes.cdll.LoadLibrary("/usr/lib/libobjc.dylib")
    objc.sel_registerName.restype = ctypes.c_void_p
    objc.sel_registerName.argtypes = [ctypes.c_char_p]
    send = objc.objc_msgSend
    send.restype = ctypes.c_void_p
    send.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    window = send(ctypes.c_void_p(view), objc.sel_registerName(b"window"))
    if not window:
        return False
    set_sharing = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong)(
        ctypes.cast(objc.objc_msgSend, ctypes.c_void_p).value)
    set_sharing(window, objc.sel_registerName(b"setSharingType:"), NS_WINDOW_SHARING_NONE)
    return True

"""Global hotkeys through pynput (X11, Windows, macOS): one keyboard listener for both combos.

pynput calls back on its own thread; this module knows nothing of Qt and just calls the given
functions there (the manager turns them into queued signals). One plain ``Listener`` serves both
the press-once combo and push-to-talk, which needs key-up as well as key-down: a combo is
"down" when all its keys are down and "up" again as soon as any of them is released.

pynput is imported only when a listener starts: on Linux importing ``pynput.keyboard`` needs a
display, and it reads ``DISPLAY`` at import time.
"""

import logging
import sys
import threading
from collections.abc import Callable

from app.hotkeys_combo import Combo, HotkeysUnavailable

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 5.0

MAC_PERMISSIONS = (
    "macOS has not allowed Seesay to watch the keyboard yet: open System Settings › Privacy & "
    "Security, allow Seesay under Accessibility and under Input Monitoring, then restart Seesay."
)


class ComboState:
    """Tracks which of a combo's keys are held; says when the whole combo goes down or up."""

    def __init__(self, combo: Combo):
        self.keys = frozenset(combo.keys)
        self.held: set[str] = set()

    @property
    def down(self) -> bool:
        return self.held == self.keys

    def press(self, names: set[str]) -> bool:
        """A key went down (``names``: every name it answers to). True: the combo just completed."""
        was_down = self.down
        self.held |= names & self.keys
        return self.down and not was_down

    def release(self, names: set[str]) -> bool:
        """A key went up. True: the combo was complete and is not any more."""
        was_down = self.down
        self.held -= names
        return was_down and not self.down


class PynputHotkeys:
    """Listens for ``ask`` (fires once per press) and ``talk`` (held: pressed, then released)."""

    def __init__(self, ask: Combo | None, talk: Combo | None, on_ask: Callable[[], None],
                 on_talk_pressed: Callable[[], None], on_talk_released: Callable[[], None]):
        self._ask = ComboState(ask) if ask else None
        self._talk = ComboState(talk) if talk else None
        self._on_ask, self._on_talk_pressed, self._on_talk_released = (
            on_ask, on_talk_pressed, on_talk_released)
        self._listener = None
        self._keyboard = None
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        """Start listening; return once keys are being watched. Raises HotkeysUnavailable."""
        try:
            from pynput import keyboard
        except Exception as error:  # ImportError without a display, or a broken backend
            raise HotkeysUnavailable(
                f"The keyboard cannot be watched here (pynput: {error}).") from error
        self._keyboard = keyboard
        listener = keyboard.Listener(on_press=self._pressed, on_release=self._released)
        listener.start()
        # Listener.wait() never returns when the listener dies before it is ready (no X RECORD
        # extension, for one), so wait for it in a throw-away thread with a bound.
        waiter = threading.Thread(target=listener.wait, daemon=True, name="pynput-ready")
        waiter.start()
        waiter.join(READY_TIMEOUT_S)
        if waiter.is_alive() or not listener.is_alive():
            _stop_in_background(listener)
            raise HotkeysUnavailable("The keyboard listener did not start (is the display still "
                                     "there?).")
        if sys.platform == "darwin" and not getattr(listener, "IS_TRUSTED", True):
            _stop_in_background(listener)
            raise HotkeysUnavailable(MAC_PERMISSIONS)
        self._listener = listener

    def stop(self) -> None:
        """Stop calling back at once. The thread is a daemon and never keeps the process alive."""
        with self._lock:
            self._stopped = True
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.stop()
        _wake_xorg_listener(listener)

    def _pressed(self, key) -> None:
        names = self._names(key)
        with self._lock:
            if self._stopped:
                return
            ask = self._ask is not None and self._ask.press(names)
            talk = self._talk is not None and self._talk.press(names)
        if ask:
            self._on_ask()
        if talk:
            self._on_talk_pressed()

    def _released(self, key) -> None:
        names = self._names(key)
        with self._lock:
            if self._stopped:
                return
            if self._ask is not None:
                self._ask.release(names)
            talk = self._talk is not None and self._talk.release(names)
        if talk:
            self._on_talk_released()

    def _names(self, key) -> set[str]:
        """Every combo name a pynput key event answers to: Control_L is "ctrl" and "ctrl_l"."""
        Key, KeyCode = self._keyboard.Key, self._keyboard.KeyCode
        names: set[str] = set()
        if isinstance(key, Key):
            # On X11 Key.ctrl and Key.ctrl_l share one keysym, and events report either.
            names |= {k.name for k in Key if k.value == key.value}
            key = key.value
        for name in list(names):
            if name.endswith(("_l", "_r")) and name[:-2] in ("ctrl", "shift", "alt", "cmd"):
                names.add(name[:-2])
        if isinstance(key, KeyCode):
            char = key.char
            if char:
                if ord(char) < 32 and char not in "\t\r\n":  # Windows reports Ctrl+A as "\x01"
                    char = chr(ord(char) + 96)
                names.add(char.lower())
            if sys.platform == "win32" and key.vk is not None and (
                    0x30 <= key.vk <= 0x39 or 0x41 <= key.vk <= 0x5A):
                names.add(chr(key.vk).lower())  # letter and digit virtual keys, whatever the layout
        return names


def _stop_in_background(listener) -> None:
    """Listener.stop() waits for readiness that a listener which failed to start never reaches."""
    if listener.is_alive():
        threading.Thread(target=listener.stop, daemon=True, name="pynput-stop").start()


def _wake_xorg_listener(listener) -> None:
    """On X11, Listener.stop() queues its "disable" without sending it, so the thread would only
    end at the next key event. Sending the disable over a fresh connection ends it now."""
    context = getattr(listener, "_context", None)
    if context is None or not listener.is_alive() or "xorg" not in type(listener).__module__:
        return
    try:
        import Xlib.display

        display = Xlib.display.Display()
        try:
            display.record_disable_context(context)
            display.sync()
        finally:
            display.close()
    except Exception:  # the thread is a daemon: at worst it lingers until the next key
        log.debug("could not wake the X11 key listener", exc_info=True)

"""Global hotkeys: "ask about the screen" (press once) and push-to-talk (hold), as Qt signals.

``HotkeyManager`` picks a backend for the desktop it runs on: pynput on X11, Windows and macOS;
the xdg-desktop-portal GlobalShortcuts interface on Wayland (app/hotkeys_portal.py). Backends call
back on their own threads; the manager re-emits on the GUI thread through queued signals. Where no
backend works, ``status_text`` says why, and the same actions stay reachable as the commands
``seesay --ask-screen`` and ``seesay --talk`` (app/single_instance.py), which any desktop's own
keyboard settings can bind.
"""

import logging
import os
import sys
from dataclasses import dataclass

from app.hotkeys_combo import Combo, HotkeysUnavailable, InvalidHotkey, parse_combo
from app.hotkeys_pynput import MAC_PERMISSIONS, PynputHotkeys
from ui.qt import QObject, Qt, QTimer, Signal

log = logging.getLogger(__name__)

# X11 auto-repeat turns a held key into release+press pairs; a release followed by a press this
# soon is one continuous hold, not the end of push-to-talk.
RELEASE_GRACE_MS = 40

COMMANDS_HINT = ("bind `seesay --ask-screen` and `seesay --talk` in your desktop's keyboard "
                 "settings instead")


@dataclass(frozen=True)
class HotkeyBindings:
    """What the user chose: each combo in pynput's syntax, and whether it is on."""

    ask_combo: str = "<ctrl>+<shift>+<space>"
    ask_enabled: bool = True
    talk_combo: str = "<ctrl>+<alt>+<space>"
    talk_enabled: bool = True

    @classmethod
    def from_settings(cls, settings) -> "HotkeyBindings":
        """From app.settings.Settings (its ``hotkey_*`` fields)."""
        return cls(settings.hotkey_ask_screen, settings.hotkey_ask_screen_enabled,
                   settings.hotkey_push_to_talk, settings.hotkey_push_to_talk_enabled)

    def combos(self) -> tuple[Combo | None, Combo | None]:
        """The enabled combos, checked (None where off). Raises InvalidHotkey."""
        ask = parse_combo(self.ask_combo, "ask-about-screen hotkey") if self.ask_enabled else None
        talk = parse_combo(self.talk_combo, "push-to-talk hotkey") if self.talk_enabled else None
        if ask and talk and (set(ask.keys) <= set(talk.keys) or set(talk.keys) <= set(ask.keys)):
            raise InvalidHotkey(f"The ask-about-screen hotkey {ask} and the push-to-talk hotkey "
                                f"{talk} overlap, so one would set off the other: choose keys "
                                f"that differ.")
        return ask, talk


def choose_backend(platform: str = sys.platform, env=os.environ) -> str:
    """"pynput", "portal" (Wayland) or "none" for this desktop."""
    if platform in ("win32", "darwin"):
        return "pynput"
    # Under Wayland, X11 key listeners (through XWayland) only see keys typed into X11 windows.
    if env.get("XDG_SESSION_TYPE") == "wayland" or (env.get("WAYLAND_DISPLAY")
                                                     and not env.get("DISPLAY")):
        return "portal"
    return "pynput" if env.get("DISPLAY") else "none"


class HotkeyManager(QObject):
    """Owns the running backend; its public signals are always emitted on the GUI thread."""

    askScreen = Signal()
    talkPressed = Signal()
    talkReleased = Signal()
    unavailable = Signal(str)  # why hotkeys cannot work here, fit for a status line

    # Emitted on a backend's thread, delivered queued to the manager's own (GUI) thread:
    # (which apply() started that backend, "ask" | "down" | "up" | "failed", failure reason).
    _backendEvent = Signal(int, str, str)

    def __init__(self, parent: QObject | None = None, backend: str | None = None):
        super().__init__(parent)
        self.backend_name = backend or choose_backend()
        self._backend = None
        self._generation = 0  # counts apply() calls: late events of an old backend are dropped
        self._talk_down = False
        self._status = "Global hotkeys are not set up yet."
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.setInterval(RELEASE_GRACE_MS)
        self._release_timer.timeout.connect(self._confirm_release)
        self._backendEvent.connect(self._on_backend_event, Qt.ConnectionType.QueuedConnection)

    @property
    def status_text(self) -> str:
        """Which backend is listening for what, or why none is."""
        return self._status

    @property
    def active(self) -> bool:
        return self._backend is not None

    def apply(self, bindings: HotkeyBindings) -> None:
        """(Re)start listening for ``bindings``. Raises InvalidHotkey, changing nothing, for a
        combo that cannot be used; a desktop where hotkeys cannot work emits ``unavailable``."""
        if not isinstance(bindings, HotkeyBindings):
            bindings = HotkeyBindings.from_settings(bindings)
        ask, talk = bindings.combos()
        self.stop()
        self._generation += 1
        if ask is None and talk is None:
            self._status = ("Global hotkeys are off. `seesay --ask-screen` and `seesay --talk` "
                            "do the same from a terminal or your desktop's keyboard settings.")
            return
        try:
            self._backend = self._start_backend(ask, talk)
        except HotkeysUnavailable as error:
            self._report_unavailable(str(error))
            return
        self._status = _describe(self.backend_name, ask, talk)

    def stop(self) -> None:
        """Stop listening; returns promptly. A held push-to-talk is released first."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.stop()
        if self._talk_down:
            self._release_timer.stop()
            self._confirm_release()
        self._status = "Global hotkeys are stopped."

    def _start_backend(self, ask: Combo | None, talk: Combo | None):
        emit, generation = self._backendEvent.emit, self._generation
        callbacks = (lambda: emit(generation, "ask", ""), lambda: emit(generation, "down", ""),
                     lambda: emit(generation, "up", ""))
        if self.backend_name == "pynput":
            backend = PynputHotkeys(ask, talk, *callbacks)
        elif self.backend_name == "portal":
            from app.hotkeys_portal import PortalHotkeys

            backend = PortalHotkeys(ask, talk, *callbacks,
                                    on_failure=lambda reason: emit(generation, "failed", reason))
        else:
            raise HotkeysUnavailable("No X11 display or Wayland session was found.")
        backend.start()
        return backend

    def _report_unavailable(self, reason: str) -> None:
        self._status = f"Global hotkeys are not available. {reason} Please {COMMANDS_HINT}."
        log.info("%s", self._status)
        self.unavailable.emit(self._status)

    def _on_backend_event(self, generation: int, kind: str, reason: str) -> None:
        if generation != self._generation or self._backend is None:
            return  # queued before that backend was stopped
        if kind == "ask":
            self.askScreen.emit()
        elif kind == "down":
            self._on_talk_down()
        elif kind == "up":
            self._on_talk_up()
        elif kind == "failed":  # gave up after starting (the user declined the portal's dialog)
            self.stop()
            self._report_unavailable(reason)

    def _on_talk_down(self) -> None:
        if self._release_timer.isActive():  # auto-repeat: the hold goes on
            self._release_timer.stop()
            return
        if not self._talk_down:
            self._talk_down = True
            self.talkPressed.emit()

    def _on_talk_up(self) -> None:
        if self._talk_down:
            self._release_timer.start()

    def _confirm_release(self) -> None:
        if self._talk_down:
            self._talk_down = False
            self.talkReleased.emit()


def _describe(backend: str, ask: Combo | None, talk: Combo | None) -> str:
    where = {"portal": "through your desktop's global-shortcuts portal",
             "pynput": {"darwin": "on macOS", "win32": "on Windows"}.get(sys.platform, "on X11")}
    parts = []
    if ask:
        parts.append(f"{ask} asks about the screen")
    if talk:
        parts.append(f"hold {talk} to talk")
    text = f"Global hotkeys are on {where[backend]}: {'; '.join(parts)}."
    if backend == "pynput" and sys.platform == "darwin":
        text += (" macOS asks once for permission: allow Seesay under Accessibility and Input "
                 "Monitoring in System Settings › Privacy & Security.")
    if backend == "portal":
        text += " Your desktop may have asked you to confirm or change these keys."
    return text


__all__ = ["HotkeyBindings", "HotkeyManager", "InvalidHotkey", "MAC_PERMISSIONS",
           "choose_backend", "parse_combo"]

"""Hotkey combinations as the user writes them, checked before any listener starts (and the two
errors every hotkey backend shares).

A combo is keys joined by ``+``. The saved form is pynput's (``<ctrl>+<shift>+<space>``, single
characters bare: ``<ctrl>+<alt>+a``); the forms people type or Qt's key-sequence editor produces
(``Ctrl+Shift+Space``, ``ctrl + alt + a``) are accepted too and normalised. Nothing here imports
pynput (which cannot even be imported without a display) or Qt.
"""

from dataclasses import dataclass

from inference.errors import SeesayError

MODIFIERS = {
    "ctrl", "ctrl_l", "ctrl_r", "shift", "shift_l", "shift_r",
    "alt", "alt_l", "alt_r", "alt_gr", "cmd", "cmd_l", "cmd_r",
}
# Keys that type or move the cursor: a combo made only of these would fire while the user types.
TYPING_KEYS = {
    "space", "enter", "tab", "backspace", "delete", "esc",
    "up", "down", "left", "right", "home", "end", "page_up", "page_down",
}
OTHER_KEYS = {
    "caps_lock", "insert", "menu", "num_lock", "pause", "print_screen", "scroll_lock",
    "media_play_pause", "media_volume_mute", "media_volume_down", "media_volume_up",
    "media_previous", "media_next",
} | {f"f{n}" for n in range(1, 21)}
KEY_NAMES = MODIFIERS | TYPING_KEYS | OTHER_KEYS

ALIASES = {
    "control": "ctrl", "option": "alt", "opt": "alt", "altgr": "alt_gr",
    "super": "cmd", "win": "cmd", "windows": "cmd", "meta": "cmd", "command": "cmd", "logo": "cmd",
    "return": "enter", "escape": "esc", "del": "delete", "ins": "insert",
    "pgup": "page_up", "pageup": "page_up", "pgdown": "page_down", "pagedown": "page_down",
    "capslock": "caps_lock", "print": "print_screen", "prtsc": "print_screen",
    "numlock": "num_lock", "scrolllock": "scroll_lock", "backtab": "tab",
}

# For the Wayland portal: XDG shortcut triggers name modifiers in capitals and keys by xkb keysym.
_PORTAL_MODIFIERS = {"ctrl": "CTRL", "shift": "SHIFT", "alt": "ALT", "cmd": "LOGO"}
_PORTAL_KEYS = {
    "space": "space", "enter": "Return", "tab": "Tab", "backspace": "BackSpace",
    "delete": "Delete", "esc": "Escape", "up": "Up", "down": "Down", "left": "Left",
    "right": "Right", "home": "Home", "end": "End", "page_up": "Page_Up",
    "page_down": "Page_Down", "caps_lock": "Caps_Lock", "insert": "Insert", "menu": "Menu",
    "num_lock": "Num_Lock", "pause": "Pause", "print_screen": "Print",
    "scroll_lock": "Scroll_Lock", "alt_gr": "ISO_Level3_Shift",
    "media_play_pause": "XF86AudioPlay", "media_volume_mute": "XF86AudioMute",
    "media_volume_down": "XF86AudioLowerVolume", "media_volume_up": "XF86AudioRaiseVolume",
    "media_previous": "XF86AudioPrev", "media_next": "XF86AudioNext",
    ",": "comma", ".": "period", "/": "slash", ";": "semicolon", "'": "apostrophe",
    "[": "bracketleft", "]": "bracketright", "\\": "backslash", "-": "minus", "=": "equal",
    "`": "grave",
}

EXAMPLES = "for example <ctrl>+<shift>+<space> or <ctrl>+<alt>+a"


class InvalidHotkey(SeesayError):
    """A hotkey setting that cannot be used; the message says what to write instead."""


class HotkeysUnavailable(Exception):
    """A backend cannot listen on this desktop; the message (a sentence) says why. The manager
    turns it into its status line, never into a crash."""


@dataclass(frozen=True)
class Combo:
    """Keys pressed together, by pynput name ("ctrl", "space", "f9") or as one character ("a")."""

    keys: tuple[str, ...]

    def __str__(self) -> str:
        return "+".join(k if len(k) == 1 else f"<{k}>" for k in self.keys)

    def portal_trigger(self) -> str:
        """The combo as an XDG shortcut trigger (``CTRL+SHIFT+space``): a hint for the desktop."""
        parts = []
        for key in self.keys:
            base = key.removesuffix("_l").removesuffix("_r") if key in MODIFIERS else key
            if base in _PORTAL_MODIFIERS:
                parts.append(_PORTAL_MODIFIERS[base])
            elif base.startswith("f") and base[1:].isdigit():
                parts.append(base.upper())
            else:
                parts.append(_PORTAL_KEYS.get(base, base))
        return "+".join(parts)


def parse_combo(text: str, what: str = "hotkey") -> Combo:
    """Read a combo; raise InvalidHotkey with a message naming ``what`` and the fix."""
    shown = (text or "").strip()
    if not shown:
        raise InvalidHotkey(f"The {what} is empty: type a key combination, {EXAMPLES}.")
    parts = [p.strip() for p in shown.split("+")]
    if any(not p for p in parts):
        raise InvalidHotkey(f"The {what} '{shown}' has an empty part between '+' signs: "
                            f"write keys joined by '+', {EXAMPLES}.")
    keys = tuple(_key_name(part, shown, what) for part in parts)
    if len(set(keys)) != len(keys):
        raise InvalidHotkey(f"The {what} '{shown}' names a key twice: name each key once, "
                            f"{EXAMPLES}.")
    if all(len(k) == 1 or k in TYPING_KEYS or k.startswith("shift") for k in keys):
        raise InvalidHotkey(f"The {what} '{shown}' would fire while you type: add a modifier "
                            f"such as <ctrl> or <alt>, or use a key like <f9>.")
    return Combo(keys)


def _key_name(part: str, shown: str, what: str) -> str:
    inner = part[1:-1].strip() if len(part) > 2 and part[0] == "<" and part[-1] == ">" else part
    if len(inner) == 1 and inner.isprintable() and not inner.isspace():
        return inner.lower()
    name = inner.lower().replace(" ", "_").replace("-", "_")
    name = ALIASES.get(name.replace("_", ""), ALIASES.get(name, name))
    if name in KEY_NAMES:
        return name
    raise InvalidHotkey(f"The {what} '{shown}' names a key Seesay does not know, '{part}': use "
                        f"<ctrl>, <shift>, <alt>, <cmd>, <space>, <f1>…<f20> and the like, or "
                        f"a single character, {EXAMPLES}.")

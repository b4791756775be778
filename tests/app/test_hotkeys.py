"""Global hotkeys: combo checking, backend choice, and real key presses on a private X server."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.hotkeys import HotkeyBindings, HotkeyManager, InvalidHotkey, choose_backend
from app.hotkeys_combo import parse_combo

REPO = Path(__file__).resolve().parents[2]
ASK, TALK = "ctrl+shift+space", "ctrl+alt+space"  # xdotool's names for the default combos


# --- combos ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, saved", [
    ("<ctrl>+<shift>+<space>", "<ctrl>+<shift>+<space>"),
    ("Ctrl+Shift+Space", "<ctrl>+<shift>+<space>"),   # Qt's key-sequence style
    (" ctrl + alt + A ", "<ctrl>+<alt>+a"),
    ("<super>+<Page Up>", "<cmd>+<page_up>"),
    ("<f9>", "<f9>"),
    ("<ctrl_r>", "<ctrl_r>"),
])
def test_combos_are_normalised_to_the_saved_form(text, saved):
    assert str(parse_combo(text)) == saved


@pytest.mark.parametrize("text, says", [
    ("", "is empty"),
    ("ctrl++a", "empty part"),
    ("<ctrl>+<shift>+", "empty part"),
    ("<ctrl>+<hyper>", "does not know, '<hyper>'"),
    ("ctrl+banana", "does not know, 'banana'"),
    ("<ctrl>+a+<control>", "names a key twice"),
    ("a", "would fire while you type"),
    ("<space>", "would fire while you type"),
    ("<shift>+a", "would fire while you type"),
])
def test_invalid_combos_get_a_message_that_says_what_is_wrong(text, says):
    with pytest.raises(InvalidHotkey) as caught:
        parse_combo(text, "push-to-talk hotkey")
    message = str(caught.value)
    assert says in message
    assert "push-to-talk hotkey" in message
    assert message.endswith(".")


def test_overlapping_combos_are_refused_only_when_both_are_on():
    overlapping = HotkeyBindings("<ctrl>+<shift>+<space>", True, "<ctrl>+<space>", True)
    with pytest.raises(InvalidHotkey, match="overlap"):
        overlapping.combos()
    ask, talk = HotkeyBindings("<ctrl>+<shift>+<space>", True, "<ctrl>+<space>", False).combos()
    assert str(ask) == "<ctrl>+<shift>+<space>" and talk is None


def test_a_disabled_hotkey_is_not_checked():
    assert HotkeyBindings("nonsense", False, "<f9>", True).combos()[0] is None


def test_portal_triggers_use_xdg_names():
    assert parse_combo("<ctrl>+<shift>+<space>").portal_trigger() == "CTRL+SHIFT+space"
    assert parse_combo("<cmd_l>+<alt>+<f5>").portal_trigger() == "LOGO+ALT+F5"
    assert parse_combo("<ctrl>+<enter>").portal_trigger() == "CTRL+Return"


def test_bindings_come_from_the_settings():
    from app.settings import Settings

    settings = Settings(hotkey_ask_screen="<f8>", hotkey_push_to_talk_enabled=False)
    assert HotkeyBindings.from_settings(settings) == HotkeyBindings(
        "<f8>", True, settings.hotkey_push_to_talk, False)


# --- backend choice -------------------------------------------------------------------------

@pytest.mark.parametrize("platform, env, backend", [
    ("win32", {}, "pynput"),
    ("darwin", {}, "pynput"),
    ("linux", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "pynput"),
    ("linux", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "w"}, "portal"),
    ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, "portal"),
    ("linux", {}, "none"),
])
def test_backend_follows_the_desktop(platform, env, backend):
    assert choose_backend(platform, env) == backend


def test_no_desktop_means_unavailable_with_the_commands_to_bind(qtbot):
    manager = HotkeyManager(backend="none")
    with qtbot.waitSignal(manager.unavailable) as reported:
        manager.apply(HotkeyBindings())
    assert not manager.active
    assert "seesay --ask-screen" in reported.args[0] and "seesay --talk" in reported.args[0]
    assert manager.status_text == reported.args[0]


def test_all_hotkeys_off_starts_nothing_and_says_so(qtbot):
    manager = HotkeyManager(backend="pynput")
    with qtbot.assertNotEmitted(manager.unavailable):
        manager.apply(HotkeyBindings(ask_enabled=False, talk_enabled=False))
    assert not manager.active
    assert "off" in manager.status_text and "seesay --talk" in manager.status_text


def test_pynput_without_a_display_reports_instead_of_crashing():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    script = ("from PySide6.QtCore import QCoreApplication\n"
              "from app.hotkeys import HotkeyManager, HotkeyBindings\n"
              "app = QCoreApplication([])\n"
              "m = HotkeyManager(backend='pynput')\n"
              "m.apply(HotkeyBindings())\n"
              "print(m.active, m.status_text)\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("False Global hotkeys are not available. The keyboard cannot be "
                                  "watched here (pynput:")
    assert "seesay --ask-screen" in out.stdout


# --- push-to-talk release grace (X11 auto-repeat) -------------------------------------------

class FakeBackend:
    """Stands in for pynput in the manager-only tests below."""

    def stop(self) -> None:
        pass


def test_auto_repeat_release_and_press_pairs_are_one_hold(qtbot):
    manager = HotkeyManager(backend="none")
    manager._backend, manager._generation = FakeBackend(), 1
    pressed, released = [], []
    manager.talkPressed.connect(lambda: pressed.append(1))
    manager.talkReleased.connect(lambda: released.append(1))
    with qtbot.waitSignal(manager.talkPressed):
        manager._backendEvent.emit(1, "down", "")
    for _ in range(3):  # what a held, auto-repeating key sends; both land in one event-loop turn
        manager._backendEvent.emit(1, "up", "")
        manager._backendEvent.emit(1, "down", "")
    with qtbot.waitSignal(manager.talkReleased):
        manager._backendEvent.emit(1, "up", "")
    assert (len(pressed), len(released)) == (1, 1)


def test_events_queued_by_a_replaced_backend_are_dropped(qtbot):
    manager = HotkeyManager(backend="none")
    manager._backend, manager._generation = FakeBackend(), 2
    with qtbot.assertNotEmitted(manager.askScreen):
        manager._backendEvent.emit(1, "ask", "")  # from the backend of the previous apply()
        with qtbot.waitSignal(manager.talkPressed):
            manager._backendEvent.emit(2, "down", "")


# --- real keys on the private X server ------------------------------------------------------

@pytest.fixture(scope="session")
def desktop_client():
    """Stands for the clients a real desktop always has. Xvfb (without -noreset) resets when its
    last client leaves and drops connections while it does, so stopping a listener that was the
    only client made the next xdotool or listener fail at random. Held for the whole session."""
    import Xlib.display
    import Xlib.error

    for attempt in range(50):  # the server may be resetting after an earlier test's last client
        try:
            display = Xlib.display.Display()
            break
        except (Xlib.error.DisplayError, ConnectionError):
            if attempt == 49:
                raise
            time.sleep(0.1)
    yield display
    display.close()


@pytest.fixture
def hotkeys(qtbot, x11, desktop_client):
    manager = HotkeyManager(backend="pynput")
    yield manager
    manager.stop()


def start(manager, **choices) -> None:
    manager.apply(HotkeyBindings(**choices))
    assert manager.active, manager.status_text


@pytest.mark.x11
def test_ask_combo_fires_once_per_press(qtbot, hotkeys, xdotool):
    start(hotkeys)
    asked = []
    hotkeys.askScreen.connect(lambda: asked.append(1))
    with qtbot.waitSignal(hotkeys.askScreen, timeout=5000):
        xdotool("key", ASK)
    with qtbot.waitSignal(hotkeys.talkPressed, timeout=5000):  # later keys: nothing else pending
        xdotool("keydown", TALK)
    xdotool("keyup", TALK)
    assert asked == [1]
    assert "<ctrl>+<shift>+<space> asks about the screen" in hotkeys.status_text


@pytest.mark.x11
def test_push_to_talk_gives_pressed_then_released(qtbot, hotkeys, xdotool):
    start(hotkeys)
    order = []
    hotkeys.talkPressed.connect(lambda: order.append("pressed"))
    hotkeys.talkReleased.connect(lambda: order.append("released"))
    with qtbot.waitSignal(hotkeys.talkPressed, timeout=5000):
        xdotool("keydown", TALK)
    assert order == ["pressed"]
    with qtbot.waitSignal(hotkeys.talkReleased, timeout=5000):
        xdotool("keyup", "space")  # letting go of any one key of the combo ends the talk
    xdotool("keyup", "ctrl+alt")
    assert order == ["pressed", "released"]


@pytest.mark.x11
def test_a_disabled_hotkey_does_not_fire(qtbot, hotkeys, xdotool):
    start(hotkeys, ask_enabled=False)
    with qtbot.assertNotEmitted(hotkeys.askScreen):
        xdotool("key", ASK)
        # Keys are handled in order, so once the later combo arrives the earlier one is done.
        with qtbot.waitSignal(hotkeys.talkPressed, timeout=5000):
            xdotool("keydown", TALK)
        with qtbot.waitSignal(hotkeys.talkReleased, timeout=5000):
            xdotool("keyup", TALK)


@pytest.mark.x11
def test_apply_switches_to_new_combos(qtbot, hotkeys, xdotool):
    start(hotkeys)
    start(hotkeys, ask_combo="<ctrl>+<alt>+a", talk_combo="<f9>")
    with qtbot.assertNotEmitted(hotkeys.askScreen):
        xdotool("key", ASK)
        with qtbot.waitSignal(hotkeys.talkPressed, timeout=5000):
            xdotool("keydown", "F9")
        with qtbot.waitSignal(hotkeys.talkReleased, timeout=5000):
            xdotool("keyup", "F9")
    with qtbot.waitSignal(hotkeys.askScreen, timeout=5000):
        xdotool("key", "ctrl+alt+a")


@pytest.mark.x11
def test_an_invalid_combo_is_refused_and_the_old_hotkeys_keep_working(qtbot, hotkeys, xdotool):
    start(hotkeys)
    with pytest.raises(InvalidHotkey, match="does not know, '<hyperspace>'"):
        hotkeys.apply(HotkeyBindings(ask_combo="<ctrl>+<hyperspace>"))
    assert hotkeys.active
    with qtbot.waitSignal(hotkeys.askScreen, timeout=5000):
        xdotool("key", ASK)


@pytest.mark.x11
def test_stop_releases_a_held_talk_and_ends_the_listener_thread(qtbot, hotkeys, xdotool):
    before = set(threading.enumerate())
    start(hotkeys)
    listeners = [t for t in set(threading.enumerate()) - before if "pynput" in type(t).__module__]
    assert len(listeners) == 1 and listeners[0].daemon
    with qtbot.waitSignal(hotkeys.talkPressed, timeout=5000):
        xdotool("keydown", TALK)
    try:
        with qtbot.waitSignal(hotkeys.talkReleased, timeout=1000):
            hotkeys.stop()
    finally:
        xdotool("keyup", TALK)
    assert not hotkeys.active
    qtbot.waitUntil(lambda: not listeners[0].is_alive(), timeout=5000)  # no key event needed

"""The Wayland backend against a stand-in portal on a private D-Bus session bus."""

import pytest

from app.hotkeys import HotkeyBindings, HotkeyManager
from tests.real_parts import need_tool


@pytest.fixture
def bus(monkeypatch):
    need_tool("dbus-daemon")
    from tests.app.hotkeys_fake_portal import SessionBus

    session_bus = SessionBus()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus.address)
    yield session_bus
    session_bus.stop()


@pytest.fixture
def portal_for(bus):
    from tests.app.hotkeys_fake_portal import FakePortal

    portals = []

    def make(**behaviour) -> FakePortal:
        portals.append(FakePortal(bus.address, **behaviour))
        return portals[-1]
    yield make
    for portal in portals:
        portal.close()


@pytest.fixture
def manager(qtbot, bus):  # stopped before the bus goes away
    hotkeys = HotkeyManager(backend="portal")
    yield hotkeys
    hotkeys.stop()


def test_shortcuts_are_bound_with_the_users_keys_and_fire(qtbot, manager, portal_for):
    portal = portal_for()
    manager.apply(HotkeyBindings(ask_combo="<ctrl>+<shift>+<space>", talk_combo="<cmd>+<f9>"))
    assert manager.active
    assert portal.bound_event.wait(10)
    assert portal.bound == {
        "ask-screen": {"description": ("s", "Ask Seesay about the screen"),
                       "preferred_trigger": ("s", "CTRL+SHIFT+space")},
        "push-to-talk": {"description": ("s", "Talk to Seesay (hold)"),
                         "preferred_trigger": ("s", "LOGO+F9")},
    }
    assert "portal" in manager.status_text

    with qtbot.waitSignal(manager.askScreen, timeout=5000):
        portal.activate("ask-screen")
    order = []
    manager.talkPressed.connect(lambda: order.append("pressed"))
    manager.talkReleased.connect(lambda: order.append("released"))
    with qtbot.waitSignal(manager.talkPressed, timeout=5000):
        portal.activate("push-to-talk")
    with qtbot.waitSignal(manager.talkReleased, timeout=5000):
        portal.deactivate("push-to-talk")
    assert order == ["pressed", "released"]


def test_a_disabled_hotkey_is_not_bound(qtbot, manager, portal_for):
    portal = portal_for()
    manager.apply(HotkeyBindings(ask_enabled=False))
    assert portal.bound_event.wait(10)
    assert list(portal.bound) == ["push-to-talk"]
    with qtbot.assertNotEmitted(manager.askScreen):
        portal.activate("ask-screen")  # not ours any more: ignored
        with qtbot.waitSignal(manager.talkPressed, timeout=5000):  # later signal: earlier done
            portal.activate("push-to-talk")


def test_a_desktop_without_global_shortcuts_says_what_to_bind(qtbot, manager, portal_for):
    portal_for(has_shortcuts=False)
    with qtbot.waitSignal(manager.unavailable) as reported:
        manager.apply(HotkeyBindings())
    assert not manager.active
    message = reported.args[0]
    assert "Global shortcuts are not available on this Wayland desktop" in message
    assert "`seesay --ask-screen`" in message and "`seesay --talk`" in message


def test_declining_in_the_desktops_dialog_is_reported(qtbot, manager, portal_for):
    portal_for(declines=True)
    with qtbot.waitSignal(manager.unavailable, timeout=10000) as reported:
        manager.apply(HotkeyBindings())
    assert "declined" in reported.args[0]
    assert not manager.active


def test_no_session_bus_is_reported(qtbot, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    hotkeys = HotkeyManager(backend="portal")
    with qtbot.waitSignal(hotkeys.unavailable) as reported:
        hotkeys.apply(HotkeyBindings())
    assert "no D-Bus session bus" in reported.args[0]


def test_stop_ends_the_portal_thread(qtbot, manager, portal_for):
    import threading

    portal = portal_for()
    manager.apply(HotkeyBindings())
    assert portal.bound_event.wait(10)
    [thread] = [t for t in threading.enumerate() if t.name == "portal-shortcuts"]
    with qtbot.assertNotEmitted(manager.unavailable):
        manager.stop()
        qtbot.waitUntil(lambda: not thread.is_alive(), timeout=5000)

"""Global hotkeys on Wayland through the xdg-desktop-portal GlobalShortcuts interface (D-Bus).

Wayland gives no application the keyboard of other windows; the desktop itself binds shortcuts
for an app that asks through the portal, may show the user a dialog to confirm or change the
keys, and then signals ``Activated`` (key down) and ``Deactivated`` (key up) for each.

QtDBus cannot send the ``a(sa{sv})`` argument BindShortcuts takes (that needs a C++ type
registered with Qt), so this speaks D-Bus with jeepney, in a daemon thread of its own that blocks
on the bus socket; ``stop()`` shuts that socket down, which ends the thread and, as the portal
closes a session whose client left the bus, the session too. The calls back come on that thread.

Portal reference: https://flatpak.github.io/xdg-desktop-portal/docs/doc-org.freedesktop.portal.GlobalShortcuts.html
"""

import logging
import secrets
import socket
import threading
from collections.abc import Callable

from app.hotkeys_combo import Combo, HotkeysUnavailable

log = logging.getLogger(__name__)

PORTAL_BUS_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS_INTERFACE = "org.freedesktop.portal.GlobalShortcuts"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
ASK_ID, TALK_ID = "ask-screen", "push-to-talk"
CALL_TIMEOUT_S = 10.0

NOT_AVAILABLE = "Global shortcuts are not available on this Wayland desktop"


class PortalHotkeys:
    """Binds ``ask`` and ``talk`` through the portal and calls back on its own thread."""

    def __init__(self, ask: Combo | None, talk: Combo | None, on_ask: Callable[[], None],
                 on_talk_pressed: Callable[[], None], on_talk_released: Callable[[], None],
                 on_failure: Callable[[str], None] = lambda reason: None):
        self._shortcuts = [(id_, description, combo) for id_, description, combo in (
            (ASK_ID, "Ask Seesay about the screen", ask),
            (TALK_ID, "Talk to Seesay (hold)", talk)) if combo is not None]
        self._on_ask, self._on_talk_pressed, self._on_talk_released = (
            on_ask, on_talk_pressed, on_talk_released)
        self._on_failure = on_failure
        self._connection = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Check that the portal is there, then bind in the background. Raises
        HotkeysUnavailable; a refusal that comes later (the user declined) goes to on_failure."""
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError as error:
            raise _unavailable("the jeepney package is missing") from error
        try:
            connection = open_dbus_connection(bus="SESSION")
        except Exception as error:  # no bus address, a refused socket, failed authentication
            raise _unavailable(f"no D-Bus session bus: {error}") from error
        try:
            version = _portal_version(connection)
        except Exception:
            connection.close()
            raise
        if version is None:
            connection.close()
            raise _unavailable("its desktop portal has no GlobalShortcuts")
        self._connection = connection
        self._thread = threading.Thread(target=self._run, daemon=True, name="portal-shortcuts")
        self._thread.start()

    def stop(self) -> None:
        """Stop calling back at once; the thread ends as its socket closes."""
        self._stopping.set()
        if self._connection is not None:
            try:
                self._connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the thread

    def _run(self) -> None:
        from jeepney import MatchRule

        connection = self._connection
        # Listen before binding: the first Activated may follow the bind's answer at once.
        rule = MatchRule(type="signal", interface=SHORTCUTS_INTERFACE, path=PORTAL_PATH)
        try:
            connection.bus_proxy.AddMatch(rule)
            with connection.filter(rule, bufsize=64) as signals:
                session = self._create_session(connection)
                self._bind(connection, session)
                self._listen(connection, session, signals)
        except Exception as error:
            if not self._stopping.is_set():
                log.warning("the global-shortcuts portal failed", exc_info=True)
                self._on_failure(str(error) if isinstance(error, HotkeysUnavailable)
                                 else str(_unavailable(str(error))))
        finally:
            connection.close()

    def _create_session(self, connection) -> str:
        from jeepney import new_method_call

        token = _token()
        options = {"handle_token": ("s", token), "session_handle_token": ("s", _token())}
        call = new_method_call(_portal(), "CreateSession", "a{sv}", (options,))
        results = _request(connection, token, call, CALL_TIMEOUT_S, "create a shortcuts session")
        return str(results["session_handle"][1])

    def _bind(self, connection, session: str) -> None:
        from jeepney import new_method_call

        token = _token()
        shortcuts = [(id_, {"description": ("s", text),
                            "preferred_trigger": ("s", combo.portal_trigger())})
                     for id_, text, combo in self._shortcuts]
        call = new_method_call(_portal(), "BindShortcuts", "oa(sa{sv})sa{sv}",
                               (session, shortcuts, "", {"handle_token": ("s", token)}))
        # No time limit: the desktop may be showing the user a dialog about these keys.
        results = _request(connection, token, call, None, "bind the shortcuts")
        for id_, props in results.get("shortcuts", ("", []))[1]:
            log.info("portal shortcut %s: %s", id_, props.get("trigger_description", ("", "?"))[1])

    def _listen(self, connection, session: str, signals) -> None:
        while not self._stopping.is_set():
            message = connection.recv_until_filtered(signals)
            if self._stopping.is_set():
                return
            self._dispatch(message, session)

    def _dispatch(self, message, session: str) -> None:
        from jeepney import HeaderFields

        member = message.header.fields.get(HeaderFields.member)
        if member not in ("Activated", "Deactivated") or message.body[0] != session:
            return
        shortcut = message.body[1]
        if shortcut not in (id_ for id_, _, _ in self._shortcuts):
            return  # bound by an earlier apply() with other choices
        if shortcut == ASK_ID and member == "Activated":
            self._on_ask()
        elif shortcut == TALK_ID:
            (self._on_talk_pressed if member == "Activated" else self._on_talk_released)()


def _portal():
    from jeepney import DBusAddress

    return DBusAddress(PORTAL_PATH, bus_name=PORTAL_BUS_NAME, interface=SHORTCUTS_INTERFACE)


def _portal_version(connection) -> int | None:
    """The GlobalShortcuts interface version, or None where the desktop's portal lacks it."""
    from jeepney import Properties

    try:
        reply = connection.send_and_get_reply(Properties(_portal()).get("version"),
                                              timeout=CALL_TIMEOUT_S)
    except TimeoutError as error:
        raise _unavailable("the desktop portal does not answer") from error
    if reply.header.message_type.name == "error":
        log.info("no GlobalShortcuts portal: %s", reply.body)
        return None
    try:
        return int(reply.body[0][1])
    except (IndexError, TypeError, ValueError):
        return None


def _request(connection, token: str, call, timeout: float | None, doing: str) -> dict:
    """Make a portal call that answers through a Request object's Response signal."""
    from jeepney import MatchRule

    sender = connection.unique_name.lstrip(":").replace(".", "_")
    path = f"{PORTAL_PATH}/request/{sender}/{token}"
    rule = MatchRule(type="signal", interface=REQUEST_INTERFACE, member="Response", path=path)
    connection.bus_proxy.AddMatch(rule)
    try:
        with connection.filter(rule) as responses:  # before the call: the answer can be quick
            reply = connection.send_and_get_reply(call, timeout=CALL_TIMEOUT_S)
            if reply.header.message_type.name == "error":
                raise _unavailable(f"the portal could not {doing}: "
                                   f"{reply.body[0] if reply.body else 'error'}")
            if reply.body[0] != path:
                raise _unavailable("the portal is too old")
            code, results = connection.recv_until_filtered(responses, timeout=timeout).body
    except TimeoutError as error:
        raise _unavailable(f"the portal did not {doing} in time") from error
    connection.bus_proxy.RemoveMatch(rule)
    if code == 1:
        raise HotkeysUnavailable("The global shortcuts were declined in your desktop's dialog.")
    if code != 0:
        raise _unavailable(f"the portal could not {doing}")
    return results


def _unavailable(detail: str) -> HotkeysUnavailable:
    return HotkeysUnavailable(f"{NOT_AVAILABLE} ({detail}).")


def _token() -> str:
    return "seesay_" + secrets.token_hex(6)

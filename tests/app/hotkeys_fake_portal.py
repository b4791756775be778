"""A private D-Bus session bus and a stand-in for xdg-desktop-portal's GlobalShortcuts, for tests.

The stand-in speaks the real protocol over a real dbus-daemon (Request objects answering with a
Response signal, Activated/Deactivated signals), so the client code under test is the one a
Wayland desktop would talk to. It only exists here: the app never starts it.
"""

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.io.blocking import open_dbus_connection

from app.hotkeys_portal import PORTAL_BUS_NAME, PORTAL_PATH, REQUEST_INTERFACE, SHORTCUTS_INTERFACE


class SessionBus:
    """A dbus-daemon of our own, so a test never reaches the machine's real session bus."""

    def __init__(self):
        self.folder = tempfile.TemporaryDirectory(prefix="seesay-bus-")
        self.address = f"unix:path={Path(self.folder.name) / 'bus'}"
        self.proc = subprocess.Popen(
            [shutil.which("dbus-daemon"), "--session", "--nofork", "--nopidfile",
             f"--address={self.address}", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if not self.proc.stdout.readline().strip():  # printed once it listens
            self.proc.kill()
            raise RuntimeError("dbus-daemon did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.folder.cleanup()


class FakePortal:
    """Answers GlobalShortcuts calls; ``declines`` plays a user who says no in the dialog."""

    def __init__(self, bus_address: str, *, has_shortcuts: bool = True, declines: bool = False):
        self.has_shortcuts, self.declines = has_shortcuts, declines
        self.connection = open_dbus_connection(bus=bus_address)
        reply = self.connection.bus_proxy.RequestName(PORTAL_BUS_NAME, 4)  # 4: do not queue
        assert reply == (1,), reply
        self.bound: dict[str, dict] = {}  # shortcut id -> properties the client sent
        self.session: str | None = None
        self.bound_event = threading.Event()
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-portal")
        self._thread.start()

    def activate(self, shortcut: str) -> None:
        self._emit_shortcut("Activated", shortcut)

    def deactivate(self, shortcut: str) -> None:
        self._emit_shortcut("Deactivated", shortcut)

    def close(self) -> None:
        self.connection.close()

    def _send(self, message) -> None:
        with self._send_lock:
            self.connection.send(message)

    def _emit_shortcut(self, member: str, shortcut: str) -> None:
        address = DBusAddress(PORTAL_PATH, interface=SHORTCUTS_INTERFACE)
        self._send(new_signal(address, member, "osta{sv}", (self.session, shortcut, 0, {})))

    def _serve(self) -> None:
        while True:
            try:
                message = self.connection.receive()
            except (OSError, EOFError, ValueError):
                return
            if message.header.message_type == MessageType.method_call:
                self._answer(message)

    def _answer(self, call) -> None:
        member = call.header.fields.get(HeaderFields.member)
        sender = call.header.fields[HeaderFields.sender].lstrip(":").replace(".", "_")
        if member == "Get" and call.body == (SHORTCUTS_INTERFACE, "version") and self.has_shortcuts:
            self._send(new_method_return(call, "v", (("u", 1),)))
        elif member == "CreateSession" and self.has_shortcuts:
            options = call.body[0]
            request = self._request_path(sender, options)
            self.session = f"{PORTAL_PATH}/session/{sender}/{options['session_handle_token'][1]}"
            self._send(new_method_return(call, "o", (request,)))
            self._respond(request, 0, {"session_handle": ("o", self.session)})
        elif member == "BindShortcuts" and self.has_shortcuts:
            session, shortcuts, _parent, options = call.body
            assert session == self.session, "bound on a session that was never created"
            request = self._request_path(sender, options)
            self._send(new_method_return(call, "o", (request,)))
            if self.declines:
                self._respond(request, 1, {})
            else:
                self.bound = dict(shortcuts)
                listed = [(id_, {"description": props["description"],
                                 "trigger_description": props["preferred_trigger"]})
                          for id_, props in shortcuts]
                self._respond(request, 0, {"shortcuts": ("a(sa{sv})", listed)})
            self.bound_event.set()
        else:
            self._send(new_error(call, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                 (f"no {member} here",)))

    @staticmethod
    def _request_path(sender: str, options: dict) -> str:
        return f"{PORTAL_PATH}/request/{sender}/{options['handle_token'][1]}"

    def _respond(self, request: str, code: int, results: dict) -> None:
        address = DBusAddress(request, interface=REQUEST_INTERFACE)
        self._send(new_signal(address, "Response", "ua{sv}", (code, results)))

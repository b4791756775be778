"""One Seesay per user: the first launch owns a local socket, later launches send it a command.

A plain second ``seesay`` asks the running one to ``show`` itself; ``seesay --ask-screen`` and
``seesay --talk`` send ``ask-screen`` and ``talk`` (the commands a desktop's own keyboard settings
can bind where global hotkeys are not available, e.g. on Wayland).

Who is primary is decided by a lock file (QLockFile: a lock left by a killed process is stale
once its PID is gone), not by ``listen()``: with ``UserAccessOption`` a second ``listen()`` on the
same name succeeds and silently steals the socket, and two launches a few milliseconds apart (a
double-click on the icon) would both see "nobody is listening". The new primary still connects
first (a live primary whose lock file a temp cleaner removed must not be displaced), then removes
the socket file a ``kill -9`` leaves behind, then listens.

Wire format: one UTF-8 command per line; the primary reads until the sender disconnects.
"""

import getpass
import hashlib
import logging
import os

from app.paths import HOME_VARIABLE
from ui.qt import QObject, QtCore, QtNetwork, Signal

log = logging.getLogger(__name__)

#: What a secondary launch can ask the running Seesay to do.
COMMANDS = (
    "show",        # bring the window to the front
    "ask-screen",  # ask about the screen (what the "ask about screen" hotkey does)
    "talk-start",  # start push-to-talk recording
    "talk-stop",   # stop recording and ask
    "talk",        # toggle recording (for desktops that can bind a key press but not a release)
)


def default_name() -> str:
    """A socket name per user and per SEESAY_HOME, so a test run never reaches a real Seesay."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name (containers without a passwd entry)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    home = os.environ.get(HOME_VARIABLE, "").strip()
    home = os.path.abspath(os.path.expanduser(home)) if home else ""
    digest = hashlib.sha256(f"{user}\0{home}".encode()).hexdigest()[:12]
    safe_user = "".join(c for c in user if c.isalnum())[:16] or "user"
    return f"seesay-{safe_user}-{digest}"


class SingleInstance(QObject):
    """Decides whether this process is the primary Seesay, and carries commands to it."""

    #: On the primary: a secondary launch sent one of COMMANDS.
    commandReceived = Signal(str)

    def __init__(self, name: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.name = name or default_name()
        self._lock = QtCore.QLockFile(os.path.join(QtCore.QDir.tempPath(), self.name + ".lock"))
        self._lock.setStaleLockTime(0)  # stale only when the owning process is gone
        self._server: QtNetwork.QLocalServer | None = None

    @property
    def is_primary(self) -> bool:
        return self._server is not None

    def try_become_primary(self) -> bool:
        """True: this process now receives commands. False: another Seesay is running."""
        if self._server is not None:
            return True
        if not self._lock.tryLock(0):
            return False
        if self._primary_answers():  # its lock file was deleted under it (a /tmp cleaner)
            self._lock.unlock()
            return False
        # We hold the lock and nobody answers: the socket there was left by a primary that died.
        QtNetwork.QLocalServer.removeServer(self.name)
        server = QtNetwork.QLocalServer(self)
        server.setSocketOptions(QtNetwork.QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("cannot listen on %s: %s", self.name, server.errorString())
            self._lock.unlock()
            return False
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def send_command(self, cmd: str, timeout_ms: int = 2000) -> bool:
        """From a secondary launch: hand ``cmd`` to the primary. False when none answers."""
        if cmd not in COMMANDS:
            raise ValueError(f"unknown command {cmd!r}; expected one of {', '.join(COMMANDS)}")
        socket = QtNetwork.QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write((cmd + "\n").encode())
        delivered = socket.waitForBytesWritten(timeout_ms) or socket.bytesToWrite() == 0
        socket.disconnectFromServer()
        if socket.state() != QtNetwork.QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        return delivered

    def _primary_answers(self) -> bool:
        socket = QtNetwork.QLocalSocket()
        socket.connectToServer(self.name)
        answered = socket.waitForConnected(500)
        socket.abort()
        return answered

    def close(self) -> None:
        """Stop being the primary (the next launch takes over)."""
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
            self._lock.unlock()

    def _accept(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(self._read_lines)
            socket.disconnected.connect(self._read_rest)
            if socket.canReadLine():
                self._dispatch_lines(socket)

    # The slots find their socket with sender(): a lambda holding the socket would tie it and
    # this object into a reference cycle, and a collected cycle can run a slot mid-destruction.
    def _read_lines(self) -> None:
        socket = self.sender()
        if isinstance(socket, QtNetwork.QLocalSocket):
            self._dispatch_lines(socket)

    def _read_rest(self) -> None:
        socket = self.sender()
        if isinstance(socket, QtNetwork.QLocalSocket):
            self._dispatch_lines(socket)
            self._dispatch(bytes(socket.readAll()))  # a last command sent without a newline
            socket.deleteLater()

    def _dispatch_lines(self, socket: QtNetwork.QLocalSocket) -> None:
        while socket.canReadLine():
            self._dispatch(bytes(socket.readLine()))

    def _dispatch(self, line: bytes) -> None:
        cmd = line.decode("utf-8", "replace").strip()
        if cmd in COMMANDS:
            self.commandReceived.emit(cmd)
        elif cmd:
            log.warning("ignored an unknown command from another Seesay launch: %r", cmd[:80])

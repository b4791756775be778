"""Shared pieces for the tests of the app's wiring: the tiny model's settings, a Desktop on a private
history, asking a question and waiting for the answer, and running Seesay as a real process."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
ANSWER_TIMEOUT_MS = 60_000


def tiny_settings(tiny, **changes):
    """Settings for the tiny random model: int4, short greedy answers (a random model that samples may
    stop at any token; greedy is the same every run), no hotkeys fighting other tests."""
    from app.settings import Settings

    values = dict(model_dir=str(tiny.model_dir), quantization="int4", max_answer_tokens=8, temperature=0.0,
                  include_screen_with_voice=False, hotkey_ask_screen_enabled=False,
                  hotkey_push_to_talk_enabled=False)
    values.update(changes)
    return Settings(**values)


@contextmanager
def own_home(folder: Path):
    """SEESAY_HOME=folder while the block runs, so the settings the app saves stay out of other tests;
    the session's quantized model copies are shared (no quantizing again)."""
    import pytest

    from app import paths

    shared_cache = paths.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache").symlink_to(shared_cache, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEESAY_HOME", str(folder))
        yield folder


def open_store(folder: Path):
    from app.store import HistoryStore

    return HistoryStore(folder / "history.sqlite3", folder / "attachments")


def make_desktop(app, settings, folder: Path, model_override: str | None = None):
    """A Desktop on the history in ``folder``; the model starts loading, nothing else (no hotkeys, tray)."""
    from app.desktop import Desktop

    hook = sys.excepthook  # Desktop installs its crash dialog; pytest-qt's own hook must stay
    try:
        desktop = Desktop(app, model_override=model_override, settings=settings, store=open_store(folder))
    finally:
        sys.excepthook = hook
    desktop.window.show()
    return desktop


@contextmanager
def running_desktop(app, tiny, folder: Path):
    """A Desktop with the tiny model loading, in its own home under ``folder``; closed afterwards."""
    with own_home(folder / "home"):
        desktop = make_desktop(app, tiny_settings(tiny), folder)
        desktop.models.start()
        try:
            yield desktop
        finally:
            desktop.shutdown()
            desktop.window.close()
            desktop.popup.close()


def wait_ready(qtbot, desktop) -> None:
    if desktop.models.info is None:
        with qtbot.waitSignal(desktop.models.ready, timeout=ANSWER_TIMEOUT_MS):
            pass


def ask(qtbot, desktop, text: str, image: Image.Image | None = None) -> tuple[str, list[str]]:
    """Send ``text`` (with ``image``) through the chat controller; (finish reason, pieces) once done."""
    pieces: list[str] = []
    desktop.chat.answerPiece.connect(pieces.append)
    try:
        if image is not None:
            desktop.chat.attach_image(image)
        with qtbot.waitSignal(desktop.chat.answerDone, timeout=ANSWER_TIMEOUT_MS) as done:
            assert desktop.chat.send(text), desktop.window.banner.text()
    finally:
        desktop.chat.answerPiece.disconnect(pieces.append)
    return done.args[0], pieces


@contextmanager
def engine_held_at_first_piece(bridge):
    """Hold the engine when it hands over its first piece of an answer, until the block ends.

    The tiny model's whole answer takes about a second, so a test that stops or reloads mid-answer
    could otherwise find it already finished (CI saw that). The relay's receiving thread is held as
    it hands the piece on; the engine's process waits for each piece to be taken before it goes on
    (app/engine_process.py), so the answer cannot end meanwhile. Generation may run on; the answer
    is only reported after the block, so a stop inside it always lands while answering."""
    release = threading.Event()
    hold = lambda *_: release.wait(ANSWER_TIMEOUT_MS / 1000)  # noqa: E731 - runs on the relay's thread
    from ui.qt import Qt

    bridge._relay.piece.connect(hold, Qt.ConnectionType.DirectConnection)
    try:
        yield release
    finally:
        release.set()
        bridge._relay.piece.disconnect(hold)


def picture(text: str = "Seesay test", size=(320, 200)) -> Image.Image:
    image = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, size[0] - 20, 80), fill=(30, 90, 200))
    draw.text((30, 40), text, fill=(255, 255, 255))
    return image


def copy_model(tiny, dest: Path) -> Path:
    """A private copy of the tiny model, to damage."""
    folder = dest / tiny.model_dir.name
    shutil.copytree(tiny.model_dir, folder)
    return folder


def truncate_a_shard(model_dir: Path) -> Path:
    shard = sorted(model_dir.glob("*.safetensors"))[-1]
    with open(shard, "r+b") as f:
        f.truncate(shard.stat().st_size // 2)
    return shard


# -- Seesay as a process -----------------------------------------------------------------------

def app_env(home: Path, **extra: str) -> dict:
    """The environment for a Seesay process: its own SEESAY_HOME (so its own single-instance socket)."""
    env = {**os.environ, "SEESAY_HOME": str(home), "PYTHONPATH": str(REPO),
           "SEESAY_NO_CRASH_DIALOG": "1", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def offline_prefix() -> list[str]:
    """`unshare -n`: the command runs with no network at all (needs root); [] where that is impossible."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    return ["unshare", "-n"] if probe.returncode == 0 else []


def seesay(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.main", *args]


def poll(condition, timeout_s: float, what: str, process: subprocess.Popen | None = None):
    """Wait for ``condition()`` to return something truthy (checked every 50 ms); fail after ``timeout_s``
    or as soon as ``process`` ends. This waits on state; nothing is timed."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class SeesayProcess:
    """Seesay (or its CLI) as a real process; its stdout lines are read on a thread, to wait on."""

    def __init__(self, args: list[str], env: dict, stdin=subprocess.DEVNULL):
        import queue
        import threading

        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.lines: queue.Queue = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, into: list[str], queued: bool) -> None:
        for line in stream:
            into.append(line)
            if queued:
                self.lines.put(line)
        if queued:
            self.lines.put(None)  # end of output

    def wait_for_line(self, text: str, timeout_s: float = 120) -> str:
        """The first stdout line (from now on) that contains ``text``; fails if the process ends first."""
        import queue

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout_s} s; stderr:\n{self.err()}") from None
            if line is None:
                self.proc.wait(10)
                raise AssertionError(f"the process ended (exit {self.proc.returncode}) before printing {text!r};"
                                     f" stderr:\n{self.err()}")
            if text in line:
                return line

    def finish(self, timeout_s: float = 120) -> int:
        """Wait for the process to exit by itself; its exit code, with all output read."""
        code = self.proc.wait(timeout_s)
        for reader in self._readers:
            reader.join(10)
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.finish()

    def out(self) -> str:
        return "".join(self.stdout)

    def err(self) -> str:
        return "".join(self.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.stop(signal.SIGKILL)


def close_window(name: str) -> None:
    """Ask the visible X window titled ``name`` to close, as a window manager's close button does
    (WM_DELETE_WINDOW); the test X server has no window manager to do it."""
    from Xlib import X, display, protocol

    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{name}$"], capture_output=True,
                           text=True, check=True).stdout.split()
    assert len(found) == 1, f"expected one visible window called {name!r}, found {found}"
    screen = display.Display()
    try:
        window = screen.create_resource_object("window", int(found[0]))
        protocols, delete = screen.intern_atom("WM_PROTOCOLS"), screen.intern_atom("WM_DELETE_WINDOW")
        window.send_event(protocol.event.ClientMessage(window=window, client_type=protocols,
                                                       data=(32, [delete, X.CurrentTime, 0, 0, 0])),
                          event_mask=X.NoEventMask)
        screen.sync()
    finally:
        screen.close()


def inet_sockets(pid: int) -> list[str]:
    """The IPv4/IPv6 sockets (TCP, UDP, raw) the process holds, read from /proc in its own network
    namespace; Unix sockets (X11, PulseAudio, the single-instance channel) are not counted."""
    proc = Path(f"/proc/{pid}")
    inodes = set()
    for fd in (proc / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        lines = (proc / "net" / table).read_text().splitlines()[1:]
        found += [f"{table} {line.split()[1]}" for line in lines if line.split()[9] in inodes]
    return found

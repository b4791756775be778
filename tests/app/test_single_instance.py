"""The single-instance channel, with real local sockets and real second processes."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app.single_instance import COMMANDS, SingleInstance, default_name

REPO = Path(__file__).resolve().parents[2]

PRIMARY_SCRIPT = """
import sys
from PySide6.QtCore import QCoreApplication
from app.single_instance import SingleInstance
app = QCoreApplication([])
instance = SingleInstance(sys.argv[1])
print("primary" if instance.try_become_primary() else "secondary", flush=True)
instance.commandReceived.connect(lambda cmd: print("got", cmd, flush=True))
app.exec()
"""

SEND_SCRIPT = """
import sys
from app.single_instance import SingleInstance
sys.exit(0 if SingleInstance(sys.argv[1]).send_command(sys.argv[2]) else 1)
"""


@pytest.fixture
def name():
    """A fresh channel name per test, so tests never see each other's primaries."""
    return f"seesay-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def primary(qapp, name):
    instance = SingleInstance(name)
    assert instance.try_become_primary()
    yield instance
    instance.close()


def python(script: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, text=True, **kwargs)


def test_second_object_is_not_primary_and_its_commands_reach_the_primary(qtbot, primary, name):
    secondary = SingleInstance(name)
    assert not secondary.try_become_primary()
    for cmd in COMMANDS:
        with qtbot.waitSignal(primary.commandReceived, timeout=5000) as received:
            assert secondary.send_command(cmd)
        assert received.args == [cmd]


def test_a_second_process_sends_a_command(qtbot, primary, name):
    with qtbot.waitSignal(primary.commandReceived, timeout=10000) as received:
        sender = python(SEND_SCRIPT, name, "ask-screen")
        assert sender.wait(30) == 0
    assert received.args == ["ask-screen"]


def test_a_running_primary_process_is_detected_and_receives_commands(qtbot, name):
    other = python(PRIMARY_SCRIPT, name)
    try:
        assert other.stdout.readline().strip() == "primary"
        mine = SingleInstance(name)
        assert not mine.try_become_primary()
        assert mine.send_command("talk")
        assert other.stdout.readline().strip() == "got talk"
    finally:
        other.kill()
        other.wait()


def test_a_killed_primary_leaves_a_stale_socket_that_the_next_launch_takes_over(qtbot, name):
    killed = python(PRIMARY_SCRIPT, name)
    assert killed.stdout.readline().strip() == "primary"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    if sys.platform != "win32":
        socket_file = Path(SingleInstance(name)._lock.fileName()).with_suffix("")
        assert socket_file.exists(), "kill -9 should have left the socket file behind"

    new = SingleInstance(name)
    assert not new.send_command("show"), "nobody should answer on a dead primary's socket"
    assert new.try_become_primary()
    try:
        with qtbot.waitSignal(new.commandReceived, timeout=10000) as received:
            sender = python(SEND_SCRIPT, name, "talk-start")
            assert sender.wait(30) == 0
        assert received.args == ["talk-start"]
    finally:
        new.close()


def test_a_live_primary_whose_lock_file_was_deleted_keeps_its_place(qtbot, name):
    other = python(PRIMARY_SCRIPT, name)
    try:
        assert other.stdout.readline().strip() == "primary"
        mine = SingleInstance(name)
        os.remove(mine._lock.fileName())  # what a /tmp cleaner does to a week-old file
        assert not mine.try_become_primary()
        assert mine.send_command("show")
        assert other.stdout.readline().strip() == "got show"
    finally:
        other.kill()
        other.wait()


def test_closing_the_primary_lets_the_next_one_take_over(qapp, name):
    first = SingleInstance(name)
    assert first.try_become_primary()
    first.close()
    second = SingleInstance(name)
    assert second.try_become_primary()
    second.close()


def test_send_command_without_a_primary_returns_false(qapp, name):
    assert not SingleInstance(name).send_command("show", timeout_ms=500)


def test_unknown_commands_are_refused_by_the_sender(qapp, name):
    with pytest.raises(ValueError, match="unknown command"):
        SingleInstance(name).send_command("rm -rf")


def test_unknown_lines_are_ignored_by_the_primary(qtbot, primary, name):
    from ui.qt import QtNetwork

    raw = QtNetwork.QLocalSocket()
    raw.connectToServer(name)
    assert raw.waitForConnected(2000)
    raw.write(b"format-disk\nshow\n")
    raw.waitForBytesWritten(2000)
    with qtbot.waitSignal(primary.commandReceived, timeout=5000) as received:
        raw.disconnectFromServer()
    assert received.args == ["show"]


def test_default_name_differs_per_seesay_home(monkeypatch):
    monkeypatch.setenv("SEESAY_HOME", "/tmp/one")
    one = default_name()
    monkeypatch.setenv("SEESAY_HOME", "/tmp/two")
    assert default_name() != one
    assert default_name().startswith("seesay-")

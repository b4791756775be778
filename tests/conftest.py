"""Test-session set-up: no network, no real home directory, a private X server, a tiny model."""

import ipaddress
import os
import socket
import tempfile

import pytest

from tests.desktop import speech_wav, start_display, virtual_mic, x11, xdotool  # noqa: F401 (fixtures)

_display = None
_sandbox = tempfile.TemporaryDirectory(prefix="seesay-tests-")


def pytest_configure(config):
    global _display
    # Everything the app writes (settings, history, quantized copies, logs) and the Hugging Face
    # cache go into a throw-away folder: no test touches the real home.
    os.environ["SEESAY_HOME"] = os.path.join(_sandbox.name, "seesay")
    os.environ["HF_HOME"] = os.path.join(_sandbox.name, "hf")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    _display = start_display()
    _forbid_network()


def pytest_unconfigure(config):
    if _display is not None:
        _display.stop()


def _is_local(address) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX path (X11, PulseAudio, QLocalSocket)
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _forbid_network():
    """Any connection beyond this machine fails the test that made it."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(address):
        if not _is_local(address):
            raise AssertionError(f"a test tried to open a network connection to {address!r}")

    def connect(self, address):
        guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        guard(address)
        return real_connect_ex(self, address)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny random-weight Gemma4Unified checkpoint (+ drafter beside it), built once per session."""
    from tests.tiny_checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("models"))

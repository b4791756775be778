"""A private Xvfb for the test session, and fixtures for real desktop parts (keys, microphone, speech)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.real_parts import need, need_tool, pulse_answers


class Xvfb:
    """Starts Xvfb on a free display (-displayfd) and waits until it accepts clients."""

    def __init__(self, size: str = "1280x800x24"):
        read_fd, write_fd = os.pipe()
        # -r: no key auto-repeat, so a held key is one press and one release (push-to-talk).
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp", "-r", "-noreset"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            number = pipe.readline().strip()  # written when the server is ready
        if not number:
            self.proc.kill()
            raise RuntimeError("Xvfb did not report a display number")
        self.display = ":" + number.decode()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_display() -> Xvfb | None:
    """Called from pytest_configure, before pytest-qt creates the QApplication."""
    if os.environ.get("SEESAY_TEST_USE_DISPLAY") == "1" and os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        return None
    if shutil.which("Xvfb") is None:
        os.environ.pop("DISPLAY", None)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    server = Xvfb()
    os.environ["DISPLAY"] = server.display
    # Widget tests stay offscreen (fast, deterministic); tests marked x11 use real windows.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return server


@pytest.fixture
def x11():
    """A real X server for this test: real windows, mss captures, xdotool."""
    need(bool(os.environ.get("DISPLAY")) and shutil.which("Xvfb") is not None, "an X server (Xvfb)")
    return os.environ["DISPLAY"]


@pytest.fixture
def xdotool(x11):
    need_tool("xdotool")

    def run(*args) -> str:
        return subprocess.run(["xdotool", *map(str, args)], check=True, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    return run


class VirtualMic:
    """What is played into the sink is what the default capture source records."""

    def __init__(self, sink: str):
        self.sink = sink

    def play(self, wav: Path) -> None:
        subprocess.run(["paplay", f"--device={self.sink}", str(wav)], check=True, timeout=120)

    def play_async(self, wav: Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", f"--device={self.sink}", str(wav)])


@pytest.fixture(scope="session")
def virtual_mic():
    need(bool(os.environ.get("TEST_MIC_SINK")) and pulse_answers(),
         "a virtual microphone (PulseAudio from tests/env/desktop.sh)")
    return VirtualMic(os.environ["TEST_MIC_SINK"])


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """A short spoken question, 16 kHz mono 16-bit, made by espeak-ng."""
    need_tool("espeak-ng", "sox")
    folder = tmp_path_factory.mktemp("speech")
    raw, out = folder / "raw.wav", folder / "say16k.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "what is on my screen"], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], check=True)
    return out

"""The microphone with a real capture device (PulseAudio virtual mic), its limits and its errors."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.capture import microphone
from app.capture.microphone import SAMPLE_RATE, Microphone, MicrophoneError, list_input_devices

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.mic


@pytest.fixture
def speech(speech_wav, tmp_path):
    """The spoken question, and a copy with 0.6 s of silence after it to play (covers capture latency)."""
    samples, rate = soundfile.read(speech_wav, dtype="float32")
    assert rate == SAMPLE_RATE
    padded = tmp_path / "padded.wav"
    soundfile.write(padded, np.concatenate([samples, np.zeros(int(0.6 * rate), np.float32)]), rate)
    return samples, padded


def _open_and_wait_for_sound(mic: Microphone) -> None:
    flowing = threading.Event()
    mic.on_level = lambda level: flowing.set()
    mic.open()
    assert flowing.wait(5), "the microphone stream delivered nothing"


def _find(recording: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Where the reference starts in the recording, and how alike they are there (1.0 = identical)."""
    assert len(recording) >= len(reference)
    correlation = np.correlate(recording, reference, "valid")
    start = int(np.argmax(np.abs(correlation)))
    piece = recording[start:start + len(reference)]
    return start, float(abs(piece @ reference) / (np.linalg.norm(piece) * np.linalg.norm(reference)))


@pytest.mark.parametrize("device_rate", [None, 44100])
def test_recording_holds_what_was_played(virtual_mic, speech, device_rate):
    samples, padded = speech
    mic = Microphone(sample_rate=device_rate, pre_roll_seconds=0.5, post_roll_seconds=0.1)
    try:
        _open_and_wait_for_sound(mic)
        assert mic.sample_rate == (device_rate or SAMPLE_RATE)
        levels = []
        mic.on_level = levels.append
        mic.start_recording()
        assert mic.is_recording
        virtual_mic.play(padded)
        recording = mic.stop_recording()
        assert mic.stop_recording().size == 0  # stopping twice is harmless
    finally:
        mic.close()
    assert not mic.is_open and not mic.is_recording
    assert max(levels) > 0.02 and min(levels) < 0.001  # the meter follows speech and silence
    assert recording.dtype == np.float32 and recording.ndim == 1
    start, likeness = _find(recording, samples)
    assert likeness > 0.95
    played = len(samples) / SAMPLE_RATE + 0.6
    recorded = len(recording) / SAMPLE_RATE
    assert played < recorded < played + 0.5 + 0.1 + 0.6  # + pre-roll + post-roll + capture latency


def test_pre_roll_keeps_the_first_word_when_recording_starts_late(virtual_mic, speech):
    samples, padded = speech
    heard = threading.Event()
    mic = Microphone(pre_roll_seconds=0.5, post_roll_seconds=0.0)
    try:
        _open_and_wait_for_sound(mic)
        mic.on_level = lambda level: level > 0.01 and heard.set()
        player = virtual_mic.play_async(padded)
        assert heard.wait(10)
        mic.start_recording()  # only once the speech is already coming in, like a late key press
        assert player.wait(30) == 0
        recording = mic.stop_recording()
    finally:
        mic.close()
    assert _find(recording, samples)[1] > 0.95


def test_recording_stops_itself_at_the_maximum_length(virtual_mic):
    reached = threading.Event()
    mic = Microphone(max_seconds=0.5, pre_roll_seconds=0.25, on_max_length=reached.set)
    try:
        _open_and_wait_for_sound(mic)
        mic.start_recording()
        assert reached.wait(10)
        assert not mic.is_recording
        assert mic.elapsed == 0.5
        recording = mic.stop_recording()  # returns at once: the recording already ended
        assert mic.is_open
    finally:
        mic.close()
    pre_roll = len(recording) - SAMPLE_RATE // 2
    assert 0 <= pre_roll <= 0.25 * SAMPLE_RATE + microphone.BLOCK_SECONDS * SAMPLE_RATE


def test_devices_are_listed_with_a_default(virtual_mic):
    devices = list_input_devices()
    assert devices and sum(d.is_default for d in devices) == 1
    assert all(d.channels > 0 and d.default_rate > 0 for d in devices)


def test_unknown_device_name_is_a_clear_error(virtual_mic):
    with pytest.raises(MicrophoneError, match="“No Such Mic 9000” was not found"):
        Microphone("No Such Mic 9000").open()


def test_device_chosen_by_part_of_its_name(virtual_mic):
    default = next(d for d in list_input_devices() if d.is_default)
    assert microphone.find_input_device(default.name.upper()[1:]).index == default.index


def test_digital_silence_on_macos_explains_the_privacy_setting(virtual_mic, monkeypatch):
    """macOS hands an app without microphone access exact zeros; the idle virtual mic does too."""
    ended = threading.Event()
    mic = Microphone(max_seconds=0.2, on_max_length=ended.set)
    try:
        _open_and_wait_for_sound(mic)
        mic.start_recording()
        assert ended.wait(10)
        monkeypatch.setattr(microphone.sys, "platform", "darwin")
        with pytest.raises(MicrophoneError, match="Privacy & Security > Microphone"):
            mic.stop_recording()
    finally:
        mic.close()


def test_missing_portaudio_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # the import fails, as without libportaudio2
    with pytest.raises(MicrophoneError, match="PortAudio library is missing.*libportaudio2"):
        Microphone().open()
    with pytest.raises(MicrophoneError, match="PortAudio"):
        list_input_devices()


_NO_SOUND_SYSTEM = """
from app.capture.microphone import Microphone, MicrophoneError
try:
    Microphone().start_recording()
except MicrophoneError as error:
    print(error)
"""


def test_no_microphone_at_all_says_so():
    if Path("/proc/asound/cards").is_file() and "no soundcards" not in Path("/proc/asound/cards").read_text():
        pytest.skip("this machine has a sound card, so it always has a microphone device")
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse"}  # the sound server is gone
    result = subprocess.run([sys.executable, "-c", _NO_SOUND_SYSTEM], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("No microphone found."), result.stdout + result.stderr

"""The microphone: one input stream kept open while voice input is on, recordings as 16 kHz mono float32.

Push-to-talk must not lose the first word, and a freshly opened stream can start late, so
:class:`Microphone` keeps its stream running between recordings and remembers the last half second
(the pre-roll); :meth:`Microphone.stop_recording` returns pre-roll plus recording.

Threads: PortAudio calls ``_on_block`` on its own thread; a lock guards everything it shares with the
caller, so every method may be called from any thread. The callbacks ``on_level``, ``on_max_length``
and ``on_error`` run on PortAudio's thread: keep them quick (emit a Qt signal, set an event).
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inference.errors import SeesayError

if TYPE_CHECKING:  # numpy: imported when the stream opens, not before the window shows (~0.1 s)
    import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BLOCK_SECONDS = 0.032  # one level reading per block: about 30 per second

_MACOS_PERMISSION = ("If macOS asked for microphone access and it was refused, open System Settings > "
                     "Privacy & Security > Microphone, turn Seesay on, then quit and reopen Seesay.")


class MicrophoneError(SeesayError):
    """The microphone could not be found, opened or read."""


@dataclass(frozen=True)
class InputDevice:
    name: str
    index: int
    channels: int
    default_rate: float
    is_default: bool


def _sounddevice():
    try:
        import sounddevice
    except (OSError, ImportError):  # OSError: sounddevice is there, the PortAudio library is not
        raise MicrophoneError("Seesay cannot use a microphone because the PortAudio library is missing; "
                              "install it (on Debian or Ubuntu: sudo apt install libportaudio2).") from None
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """The microphones of the default sound system (Windows lists each one once per sound API)."""
    sd = _sounddevice()
    try:
        default_index = sd.default.device[0]
        devices = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    except sd.PortAudioError as error:
        raise MicrophoneError(f"Seesay could not list the microphones ({error}); "
                              "check your system's sound settings.") from None
    preferred = [d for d in devices if d["hostapi"] == sd.default.hostapi]
    return [InputDevice(d["name"], d["index"], d["max_input_channels"], d["default_samplerate"],
                        d["index"] == default_index) for d in (preferred or devices)]


def find_input_device(name: str | None) -> InputDevice:
    """The device called ``name`` (exact, else the only one containing it), or the default input."""
    devices = list_input_devices()
    if not devices:
        raise MicrophoneError("No microphone found. Connect a microphone or turn it on in your "
                              "system's sound settings, then try again.")
    if name is None:
        return next((d for d in devices if d.is_default), devices[0])
    exact = [d for d in devices if d.name == name]
    close = [d for d in devices if name.casefold() in d.name.casefold()]
    if exact or len(close) == 1:
        return (exact or close)[0]
    raise MicrophoneError(f"The microphone \u201c{name}\u201d was not found. Plug it in, or choose "
                          "another microphone in Settings.")


class Microphone:
    """One open input stream with a pre-roll; ``start_recording`` / ``stop_recording`` cut recordings."""

    def __init__(self, device: str | None = None, *, max_seconds: float = 120.0,
                 pre_roll_seconds: float = 0.5, post_roll_seconds: float = 0.25,
                 sample_rate: int | None = None,
                 on_level: Callable[[float], None] | None = None,
                 on_max_length: Callable[[], None] | None = None,
                 on_error: Callable[[MicrophoneError], None] | None = None):
        self.device_name = device
        self.max_seconds = max_seconds
        self.pre_roll_seconds = pre_roll_seconds
        self.post_roll_seconds = post_roll_seconds
        self.on_level, self.on_max_length, self.on_error = on_level, on_max_length, on_error
        self._requested_rate = sample_rate  # None: 16 kHz if the device takes it
        self._lock = threading.Lock()  # shared with PortAudio's thread: held only briefly
        self._control = threading.RLock()  # one open()/close() at a time
        self._stream = None
        self._rate = SAMPLE_RATE
        self._pre_roll: deque[np.ndarray] = deque()
        self._pre_roll_frames = 0
        self._chunks: list[np.ndarray] = []
        self._recorded_frames = 0
        self._recording = False
        self._stop_at_frame: float | None = None  # the post-roll's end, once stop was asked for
        self._tail_done = threading.Event()
        self._level = 0.0

    # The stream

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    @property
    def sample_rate(self) -> int:
        """The rate the device delivers; recordings are converted to 16 kHz."""
        return self._rate

    def open(self) -> None:
        """Start listening (into the pre-roll only). Does nothing if already listening."""
        with self._control:
            if self._stream is not None:
                if self._stream.active:
                    return
                self.close()  # PortAudio ended it (device gone): open afresh
            sd = _sounddevice()
            try:
                device = find_input_device(self.device_name)
                rate, channels = self._choose_format(sd, device)
                stream = sd.InputStream(device=device.index, samplerate=rate, channels=channels,
                                        dtype="float32", blocksize=max(1, round(rate * BLOCK_SECONDS)),
                                        callback=self._on_block, finished_callback=self._on_stream_end)
                with self._lock:
                    self._rate, self._stream = rate, stream
                stream.start()
            except sd.PortAudioError as error:
                self.close()
                raise self._portaudio_failure(error) from None
        log.info("microphone: %s open at %d Hz, %d channel(s)", device.name, rate, channels)

    def close(self) -> None:
        """Stop listening; a recording in progress is dropped."""
        with self._control:
            with self._lock:
                stream, self._stream = self._stream, None
                self._recording = False
                self._chunks, self._recorded_frames = [], 0
                self._tail_done.set()  # a stop_recording waiting for the post-roll returns now
                self._pre_roll.clear()
                self._pre_roll_frames = 0
            if stream is not None:
                stream.close(ignore_errors=True)  # waits for a running callback (never under _lock)

    def _choose_format(self, sd, device: InputDevice) -> tuple[int, int]:
        rates = [self._requested_rate] if self._requested_rate else [SAMPLE_RATE, int(device.default_rate)]
        last_error = None
        for channels in dict.fromkeys((1, device.channels)):
            for rate in rates:
                try:
                    sd.check_input_settings(device=device.index, channels=channels, dtype="float32",
                                            samplerate=rate)
                    return rate, channels
                except sd.PortAudioError as error:
                    last_error = error
        raise last_error

    def _portaudio_failure(self, error) -> MicrophoneError:
        detail = str(error.args[0] if error.args else error).strip().rstrip(".")
        message = (f"The microphone could not be opened ({detail}). Close other programs that use it, "
                   "or choose another microphone in Settings.")
        return MicrophoneError(f"{message} {_MACOS_PERMISSION}" if sys.platform == "darwin" else message)

    # Recording

    @property
    def is_recording(self) -> bool:
        return self._recording

    @property
    def level(self) -> float:
        """RMS of the latest block, 0..1."""
        return self._level

    @property
    def elapsed(self) -> float:
        """Seconds recorded since ``start_recording`` (the pre-roll not counted)."""
        return self._recorded_frames / self._rate

    def start_recording(self) -> None:
        """Begin a recording that starts with the pre-roll; opens the stream if needed."""
        self.open()
        with self._lock:
            self._chunks = list(self._pre_roll)
            self._pre_roll.clear()
            self._pre_roll_frames = 0
            self._recorded_frames = 0
            self._stop_at_frame = None
            self._recording = True

    def stop_recording(self) -> np.ndarray:
        """Pre-roll + recording + post-roll as float32 16 kHz mono (empty if nothing came in).

        Waits for the post-roll (``post_roll_seconds`` more sound, so the last syllable said as the key
        is released is kept): call it off the GUI thread, or set ``post_roll_seconds`` to 0.
        The stream stays open.
        """
        with self._lock:
            wait = self._recording and self.post_roll_seconds > 0 and self._stream is not None
            if wait:
                self._stop_at_frame = self._recorded_frames + self.post_roll_seconds * self._rate
                self._tail_done.clear()
        if wait and not self._tail_done.wait(self.post_roll_seconds + 1.0):
            log.warning("microphone: no sound arrived for the post-roll")
        with self._lock:
            chunks, rate = self._chunks, self._rate
            self._chunks, self._recording, self._stop_at_frame = [], False, None
        import numpy as np

        if not chunks:
            return np.zeros(0, np.float32)
        samples = np.concatenate(chunks)
        if sys.platform == "darwin" and not np.any(samples):
            raise MicrophoneError("The microphone delivered only silence. " + _MACOS_PERMISSION)
        if rate == SAMPLE_RATE:
            return samples
        from inference.media import to_mono_16k

        return to_mono_16k(samples, rate)

    def recorded_so_far(self) -> np.ndarray:
        """The recording up to now (pre-roll included), at the device's rate; recording goes on."""
        with self._lock:
            chunks = list(self._chunks) if self._recording else []
        import numpy as np

        return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)

    def cancel_recording(self) -> None:
        """Drop the recording at once (no post-roll)."""
        with self._lock:
            self._chunks, self._recording, self._stop_at_frame = [], False, None

    # PortAudio's thread

    def _on_block(self, indata, frames, time_info, status) -> None:
        if status:
            log.debug("microphone: %s", status)
        import numpy as np  # in sys.modules by now: the stream delivers numpy arrays

        block = indata[:, 0].copy() if indata.shape[1] == 1 else indata.mean(axis=1, dtype=np.float32)
        level = math.sqrt(float(np.mean(np.square(block)))) if len(block) else 0.0
        reached_max = False
        with self._lock:
            self._level = level
            if self._recording:
                room = max(0, int(self.max_seconds * self._rate) - self._recorded_frames)
                self._chunks.append(block[:room])
                self._recorded_frames += min(room, len(block))
                if self._recorded_frames >= self.max_seconds * self._rate:
                    self._recording, reached_max = False, True
                    self._tail_done.set()
                elif self._stop_at_frame is not None and self._recorded_frames >= self._stop_at_frame:
                    self._recording = False
                    self._tail_done.set()
            else:
                self._pre_roll.append(block)
                self._pre_roll_frames += len(block)
                limit = self.pre_roll_seconds * self._rate
                while self._pre_roll and self._pre_roll_frames - len(self._pre_roll[0]) >= limit:
                    self._pre_roll_frames -= len(self._pre_roll.popleft())
        self._call(self.on_level, level)
        if reached_max:
            self._call(self.on_max_length)

    def _on_stream_end(self) -> None:
        """PortAudio ended the stream: by close(), or because the device went away."""
        with self._lock:
            ours = self._stream is not None and not self._stream.closed
        if ours:
            self._call(self.on_error, MicrophoneError(
                "The microphone stopped working (was it unplugged?). Check it, then try again."))

    @staticmethod
    def _call(callback, *args) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # an exception here would stop PortAudio's stream
            log.exception("microphone: callback failed")

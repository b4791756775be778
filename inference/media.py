"""Turn what the user gave into what the model takes: 16 kHz mono float32 audio, RGB images.

Audio: any sample rate, mono or channels-last multi-channel, int or float samples. Clips longer
than one model segment (30 s = 750 tokens of 640 samples) are split into consecutive segments;
clips over the configured maximum are refused with a message that says so.
"""

from math import gcd

import numpy as np
from PIL import Image

from inference.errors import InputError

SAMPLE_RATE = 16_000
SAMPLES_PER_TOKEN = 640  # 40 ms frames, projected straight into the decoder
SEGMENT_TOKENS = 750  # one audio segment of the processor: 30 s
SEGMENT_SAMPLES = SEGMENT_TOKENS * SAMPLES_PER_TOKEN
DEFAULT_MAX_AUDIO_SECONDS = 300.0
IMAGE_DETAILS = (70, 140, 280, 560, 1120)
MAX_IMAGE_PIXELS = 16384 * 16384  # an 8K screenshot is 33 MP; refuse only the absurd


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Return float32 mono samples at 16 kHz in [-1, 1]."""
    audio = np.asarray(samples)
    if audio.size == 0:
        raise InputError("The audio clip is empty: record again, or attach a file with sound in it.")
    if sample_rate <= 0:
        raise InputError(f"The audio clip has an invalid sample rate ({sample_rate} Hz).")
    if np.issubdtype(audio.dtype, np.unsignedinteger):  # 8-bit PCM: silence is the middle value
        half = (np.iinfo(audio.dtype).max + 1) / 2
        audio = (audio.astype(np.float32) - half) / half
    elif np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max)
    audio = audio.astype(np.float32, copy=False)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)  # channels last, as soundfile and sounddevice give them
    elif audio.ndim != 1:
        raise InputError(f"The audio clip has an unexpected shape {audio.shape}; expected mono or stereo.")
    if not np.all(np.isfinite(audio)):
        raise InputError("The audio clip contains invalid samples (NaN or infinity).")
    if sample_rate != SAMPLE_RATE:
        audio = resample(audio, sample_rate, SAMPLE_RATE)
    return np.clip(audio, -1.0, 1.0)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling by FFT on blocks (no extra dependency; exact length)."""
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    n_out = int(round(len(audio) * up / down))
    if n_out == 0:
        raise InputError("The audio clip is too short to use.")
    spectrum = np.fft.rfft(audio.astype(np.float64))
    n_bins = n_out // 2 + 1
    if n_bins <= len(spectrum):
        spectrum = spectrum[:n_bins]
    else:
        spectrum = np.pad(spectrum, (0, n_bins - len(spectrum)))
    return (np.fft.irfft(spectrum, n_out) * (n_out / len(audio))).astype(np.float32)


def split_segments(audio: np.ndarray, max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS) -> list[np.ndarray]:
    """Split 16 kHz mono audio into the processor's 30 s segments; refuse clips over the maximum."""
    seconds = len(audio) / SAMPLE_RATE
    if seconds > max_seconds:
        raise InputError(
            f"The audio clip is {_minutes(seconds)} long; Seesay takes at most {_minutes(max_seconds)}. "
            "Trim it, or raise the limit in Settings."
        )
    if seconds * 1000 < SAMPLES_PER_TOKEN / SAMPLE_RATE * 1000:
        raise InputError("The audio clip is shorter than 40 ms: record again.")
    return [audio[i:i + SEGMENT_SAMPLES] for i in range(0, len(audio), SEGMENT_SAMPLES)]


def prepare_image(image: Image.Image) -> Image.Image:
    """RGB, with absurd sizes refused; the processor resizes to the detail budget itself."""
    width, height = image.size
    if width == 0 or height == 0:
        raise InputError("The image is empty (0 pixels wide or high).")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"The image is {width}×{height} pixels; Seesay takes images up to 268 megapixels.")
    if min(width, height) < 4 or max(width, height) / min(width, height) > 200:
        raise InputError(f"The image is {width}×{height} pixels: too thin to read. Capture a larger region.")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def check_detail(detail: int) -> int:
    if detail not in IMAGE_DETAILS:
        raise InputError(f"Image detail must be one of {', '.join(map(str, IMAGE_DETAILS))} tokens, not {detail}.")
    return detail


def load_image_file(path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"Cannot read the image {path}: {exc}") from None


def load_audio_file(path) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise InputError(f"Cannot read the audio file {path}: {exc}") from None
    return samples, rate


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"

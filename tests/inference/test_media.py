"""Media conversion: any audio becomes 16 kHz mono in [-1, 1], split into 30 s segments within the
limit; images become RGB, absurd ones are refused; unreadable files are an InputError."""

import numpy as np
import pytest
from PIL import Image

from inference import media
from inference.errors import InputError
from inference.media import (
    SAMPLE_RATE, SEGMENT_SAMPLES, check_detail, load_audio_file, load_image_file, prepare_image,
    resample, split_segments, to_mono_16k,
)


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()])


# -- audio ---------------------------------------------------------------------------------------
def test_16k_mono_float_passes_through_unchanged():
    audio = sine(440, 1.0, SAMPLE_RATE)
    out = to_mono_16k(audio, SAMPLE_RATE)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, audio)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_resampling_keeps_duration_and_pitch(rate):
    out = to_mono_16k(sine(1000, 2.0, rate), rate)
    assert len(out) == 2 * SAMPLE_RATE
    assert dominant_frequency(out, SAMPLE_RATE) == pytest.approx(1000, abs=1)
    # Away from the clip's edges the waveform is the same sine, sampled at 16 kHz.
    middle = slice(SAMPLE_RATE // 2, 3 * SAMPLE_RATE // 2)
    np.testing.assert_allclose(out[middle], sine(1000, 2.0, SAMPLE_RATE)[middle], atol=0.02)


def test_resample_gives_the_exact_length_for_odd_ratios():
    audio = np.random.default_rng(0).standard_normal(44_101).astype(np.float32)
    assert len(resample(audio, 44_100, 16_000)) == round(44_101 * 160 / 441)


def test_stereo_channels_last_is_averaged_to_mono():
    left, right = sine(440, 1.0, SAMPLE_RATE, 0.4), sine(440, 1.0, SAMPLE_RATE, 0.2)
    out = to_mono_16k(np.stack([left, right], axis=1), SAMPLE_RATE)
    assert out.shape == (SAMPLE_RATE,)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-7)


def test_int16_samples_are_scaled_to_plus_minus_one():
    samples = np.array([0, 16384, -16384, 32767, -32768] * 100, dtype=np.int16)
    out = to_mono_16k(samples, SAMPLE_RATE)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:5], [0.0, 0.5, -0.5, 1.0, -1.0], atol=1e-4)


def test_unsigned_8_bit_samples_are_centred_on_silence():
    # 8-bit PCM (WAV's only unsigned format) stores silence as 128, the extremes as 0 and 255.
    samples = np.array([128, 255, 0, 128] * 100, dtype=np.uint8)
    out = to_mono_16k(samples, SAMPLE_RATE)
    np.testing.assert_allclose(out[:4], [0.0, 1.0, -1.0, 0.0], atol=0.01)


def test_loud_float_samples_are_clipped():
    out = to_mono_16k(np.array([3.0, -3.0, 0.25] * 100, dtype=np.float32), SAMPLE_RATE)
    assert out.max() == 1.0 and out.min() == -1.0
    assert out[2] == pytest.approx(0.25)


@pytest.mark.parametrize("samples, rate, words", [
    (np.zeros(0, np.float32), SAMPLE_RATE, "empty"),
    (np.zeros((0, 2), np.float32), SAMPLE_RATE, "empty"),
    (np.zeros(1000, np.float32), 0, "sample rate"),
    (np.zeros((10, 2, 2), np.float32), SAMPLE_RATE, "shape"),
    (np.array([0.1, np.nan] * 100, np.float32), SAMPLE_RATE, "NaN"),
    (np.array([0.1, np.inf] * 100, np.float32), SAMPLE_RATE, "NaN"),
    (np.zeros(1, np.float32), 48_000, "too short"),
])
def test_unusable_audio_is_an_input_error_that_says_why(samples, rate, words):
    with pytest.raises(InputError, match=words):
        to_mono_16k(samples, rate)


def test_a_clip_under_30_s_is_one_segment():
    audio = np.zeros(10 * SAMPLE_RATE, np.float32)
    (segment,) = split_segments(audio)
    assert segment is not audio and len(segment) == len(audio)


def test_a_long_clip_becomes_consecutive_30_s_segments():
    audio = np.arange(70 * SAMPLE_RATE, dtype=np.float32)  # every sample distinct
    segments = split_segments(audio)
    assert [len(s) for s in segments] == [SEGMENT_SAMPLES, SEGMENT_SAMPLES, 10 * SAMPLE_RATE]
    assert SEGMENT_SAMPLES == 30 * SAMPLE_RATE
    np.testing.assert_array_equal(np.concatenate(segments), audio)


def test_a_clip_over_the_limit_is_refused_naming_both_lengths():
    with pytest.raises(InputError, match=r"6 min 00 s.*at most 5 min 00 s"):
        split_segments(np.zeros(360 * SAMPLE_RATE, np.float32))
    with pytest.raises(InputError, match=r"at most 20 s"):
        split_segments(np.zeros(21 * SAMPLE_RATE, np.float32), max_seconds=20)
    assert len(split_segments(np.zeros(20 * SAMPLE_RATE, np.float32), max_seconds=20)) == 1


def test_a_clip_shorter_than_one_token_is_refused():
    with pytest.raises(InputError, match="40 ms"):
        split_segments(np.zeros(639, np.float32))
    assert len(split_segments(np.zeros(640, np.float32))) == 1


# -- images --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "RGB"])
def test_images_become_rgb_of_the_same_size(mode):
    image = Image.new(mode, (64, 48))
    out = prepare_image(image)
    assert out.mode == "RGB" and out.size == (64, 48)


def test_an_8k_screenshot_is_accepted_unresized():
    image = Image.new("RGB", (7680, 4320))
    assert prepare_image(image) is image  # the processor resizes it to the detail budget


@pytest.mark.parametrize("size, words", [
    ((0, 10), "empty"),
    ((3, 300), "too thin"),
    ((4000, 10), "too thin"),
])
def test_empty_and_sliver_images_are_refused(size, words):
    with pytest.raises(InputError, match=words):
        prepare_image(Image.new("RGB", size))


def test_absurdly_large_images_are_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(InputError, match="101×100"):
        prepare_image(Image.new("L", (101, 100)))


@pytest.mark.parametrize("detail", [70, 140, 280, 560, 1120])
def test_the_five_image_details_are_accepted(detail):
    assert check_detail(detail) == detail


@pytest.mark.parametrize("detail", [0, 100, 281, 2240])
def test_other_details_are_refused_listing_the_valid_ones(detail):
    with pytest.raises(InputError, match="70, 140, 280, 560, 1120"):
        check_detail(detail)


# -- files ---------------------------------------------------------------------------------------
def test_image_files_load_as_rgb(tmp_path):
    path = tmp_path / "shot.png"
    Image.new("RGBA", (20, 10), (255, 0, 0, 128)).save(path)
    image = load_image_file(path)
    assert image.mode == "RGB" and image.size == (20, 10)


def test_audio_files_load_with_their_rate(tmp_path):
    import soundfile

    path = tmp_path / "voice.wav"
    stereo = np.stack([sine(440, 0.5, 22_050), sine(440, 0.5, 22_050)], axis=1)
    soundfile.write(path, stereo, 22_050)
    samples, rate = load_audio_file(path)
    assert rate == 22_050 and samples.shape == stereo.shape
    assert len(to_mono_16k(samples, rate)) == SAMPLE_RATE // 2


@pytest.mark.parametrize("loader, name", [(load_image_file, "x.png"), (load_audio_file, "x.wav")])
def test_unreadable_files_are_input_errors_naming_the_file(tmp_path, loader, name):
    path = tmp_path / name
    path.write_bytes(b"not really a media file")
    with pytest.raises(InputError, match=name):
        loader(path)
    with pytest.raises(InputError, match="missing"):
        loader(tmp_path / "missing" / name)

"""What the benchmarks ask: a screenshot, some speech, a question, as the app would send them.

Timings do not depend on what the pixels or samples show (the processor resizes every image to
the detail budget, and every 40 ms of audio is one token), so the inputs are synthetic and the
same on every machine: a drawn 2560x1440 "desktop" and a speech-like 16 kHz signal.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from inference.conversation import AudioPart, ImagePart, Turn
from inference.prompt import Encoded

SCREEN_SIZE = (2560, 1440)
SAMPLE_RATE = 16_000
QUESTION = "What does this error mean, and what should I click to fix it?"
FOLLOW_UP = "And where do I find that setting?"
TEXT_PROMPT = "Write a short note about keeping a desktop tidy and why it helps."


def screenshot(size: tuple[int, int] = SCREEN_SIZE, seed: int = 0) -> Image.Image:
    """A desktop-like picture: a background, windows with title bars, lines of 'text'."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, (40, 60, 90))
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width * 2 // 3)), int(rng.integers(0, height * 2 // 3))
        x1, y1 = x0 + int(rng.integers(width // 5, width // 2)), y0 + int(rng.integers(height // 5, height // 2))
        draw.rectangle((x0, y0, x1, y1), fill=(245, 245, 245), outline=(90, 90, 90))
        draw.rectangle((x0, y0, x1, y0 + 28), fill=(200, 205, 215))
        for line in range(y0 + 40, y1 - 10, 22):
            draw.text((x0 + 12, line), "lorem ipsum dolor sit amet " * 3, fill=(20, 20, 20))
    return image


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    """A speech-like float32 signal: a few harmonics under a syllable-rate envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voice = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((140, 280, 420, 900)))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    signal = 0.2 * voice * envelope + 0.01 * rng.standard_normal(t.size)
    return signal.astype(np.float32)


def screen_question(audio_seconds: float = 5.0, question: str = QUESTION) -> list[Turn]:
    """The typical request: one screenshot, a spoken question, a typed sentence."""
    parts = [ImagePart(screenshot())]
    if audio_seconds:
        parts.append(AudioPart(speech(audio_seconds), SAMPLE_RATE))
    return [Turn.user(*parts, question)]


def encode(engine, turns: list[Turn], detail: int = 280) -> Encoded:
    """The prompt the engine builds for ``turns`` (no cache reuse), with its public prompt builder."""
    pieces, generation_prompt = engine.prompts.turn_texts(turns)
    enc = Encoded()
    for text, media in pieces:
        enc = enc + engine.prompts.encode_text(text, media, detail)
    enc = enc + engine.prompts.encode_plain(generation_prompt)
    enc.counts = engine.prompts.count(enc.ids)
    return enc


def on_device(inputs: dict, device) -> dict:
    return {k: v.to(device) for k, v in inputs.items()}

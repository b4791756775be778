"""Build the model's input from a conversation with the model's own processor and chat template.

No special token is written by hand: the chat template renders the turns, and the processor
expands each image and audio placeholder into its soft tokens. The prompt is encoded turn by turn
(each turn is the text the template adds for it), so that

* every turn keeps its own image detail (the processor's ``max_soft_tokens`` budget), and
* a follow-up question can be appended to the token ids already in the KV cache.
"""

import re
import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from inference.conversation import AudioPart, ImagePart, TextPart, Turn
from inference.errors import InputError
from inference.media import SAMPLE_RATE, check_detail, prepare_image, split_segments, to_mono_16k

_SENTINEL = "\u2063SEESAY\u2063"  # text no user types; marks where a turn's content goes
_WORD_JOINER = "\u2060"  # invisible; splits typed text that spells a control token


@dataclass
class Encoded:
    """Token ids and the media tensors whose soft tokens they hold (batch of one)."""

    ids: list[int] = field(default_factory=list)
    mm_token_type_ids: list[int] = field(default_factory=list)
    pixel_values: list[torch.Tensor] = field(default_factory=list)  # one (patches, dim) per image
    image_position_ids: list[torch.Tensor] = field(default_factory=list)
    audio_frames: list[torch.Tensor] = field(default_factory=list)  # one (frames, 640) per segment
    image_starts: list[int] = field(default_factory=list)  # position of each image's first soft token
    # What each token stands for beyond its id: the image or the audio frame behind a soft token
    # (all soft tokens of a kind share one id, so ids alone cannot tell two screenshots apart).
    content: list[bytes] = field(default_factory=list)
    audio_starts: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"text": 0, "image": 0, "audio": 0})

    def __add__(self, other: "Encoded") -> "Encoded":
        counts = {k: self.counts[k] + other.counts[k] for k in self.counts}
        shift = len(self.ids)
        return Encoded(
            ids=self.ids + other.ids, mm_token_type_ids=self.mm_token_type_ids + other.mm_token_type_ids,
            pixel_values=self.pixel_values + other.pixel_values,
            image_position_ids=self.image_position_ids + other.image_position_ids,
            audio_frames=self.audio_frames + other.audio_frames,
            image_starts=self.image_starts + [p + shift for p in other.image_starts],
            audio_starts=self.audio_starts + [p + shift for p in other.audio_starts],
            content=self.content + other.content, counts=counts)

    def model_inputs(self, start: int = 0, end: int | None = None) -> dict:
        """Tensors for a forward pass over ids[:end], media only for soft tokens in [start, end).

        Media whose soft tokens lie before ``start`` are already in the KV cache and are left out;
        an audio segment cut by ``start`` or ``end`` keeps just its frames in between (each frame
        is one token of raw samples, so audio can be prefilled piece by piece). An image is never
        cut: its tokens attend to each other both ways.
        """
        end = len(self.ids) if end is None else end
        ids = torch.tensor([self.ids[:end]], dtype=torch.long)
        inputs = {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "mm_token_type_ids": torch.tensor([self.mm_token_type_ids[:end]], dtype=torch.long),
        }
        images = [i for i, p in enumerate(self.image_starts) if start <= p < end]
        if images:
            inputs["pixel_values"] = _pad_stack([self.pixel_values[i] for i in images], 0.0)
            inputs["image_position_ids"] = _pad_stack([self.image_position_ids[i] for i in images], -1)
        frames = []
        for p, clip in zip(self.audio_starts, self.audio_frames):
            first, last = max(start - p, 0), min(end - p, clip.shape[0])
            if first < last:
                frames.append(clip[first:last])
        if frames:
            inputs["input_features"] = _pad_stack(frames, 0.0)
            mask = torch.zeros(inputs["input_features"].shape[:2], dtype=torch.bool)
            for row, clip in enumerate(frames):
                mask[row, : clip.shape[0]] = True
            inputs["input_features_mask"] = mask
        return inputs


def _content(enc: Encoded) -> list[bytes]:
    """Per token: b"" for text, a digest of its image, or a digest of its 640-sample frame."""
    content = [b""] * len(enc.ids)
    for start, pixels in zip(enc.image_starts, enc.pixel_values):
        digest = hashlib.blake2b(pixels.numpy().tobytes(), digest_size=16).digest()
        for i in range(start, start + pixels.shape[0]):
            content[i] = digest
    for start, frames in zip(enc.audio_starts, enc.audio_frames):
        raw = frames.numpy()
        for i in range(frames.shape[0]):
            content[start + i] = hashlib.blake2b(raw[i].tobytes(), digest_size=16).digest()
    return content


def _run_starts(mask: np.ndarray) -> list[int]:
    """Where each contiguous run of True begins (one run per image or audio segment)."""
    starts = np.flatnonzero(mask & ~np.concatenate(([False], mask[:-1])))
    return starts.tolist()


def _pad_stack(tensors: list[torch.Tensor], value: float) -> torch.Tensor:
    longest = max(t.shape[0] for t in tensors)
    out = torch.full((len(tensors), longest, *tensors[0].shape[1:]), value, dtype=tensors[0].dtype)
    for row, t in enumerate(tensors):
        out[row, : t.shape[0]] = t
    return out


class PromptBuilder:
    """Renders turns with the chat template and encodes each turn's text with the processor."""

    def __init__(self, processor, max_audio_seconds: float):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.max_audio_seconds = max_audio_seconds
        controls = sorted((t.content for t in self.tokenizer.added_tokens_decoder.values() if t.special),
                          key=len, reverse=True)
        self._controls = re.compile("|".join(map(re.escape, controls))) if controls else None

    # -- rendering -------------------------------------------------------------------------------
    def _render(self, messages: list[dict], generation_prompt: bool) -> str:
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt)

    def turn_texts(self, turns: list[Turn]) -> tuple[list[tuple[str, list]], str]:
        """The text each turn adds (with its media in order), and the generation prompt's text."""
        messages = [self._message(turn) for turn in turns]
        pieces, before = [], ""
        for n in range(1, len(messages) + 1):
            text = self._render(messages[:n], False)
            if not text.startswith(before):
                raise InputError("The chat template does not render turns in order; cannot build the prompt.")
            pieces.append((text[len(before):], self._media(turns[n - 1])))
            before = text
        full = self._render(messages, True)
        return pieces, full[len(before):]

    def assistant_closing(self) -> str:
        """What the template writes after an answer's text (its end-of-turn marker)."""
        user = {"role": "user", "content": [{"type": "text", "text": "x"}]}
        base = self._render([user], False)
        with_answer = self._render([user, {"role": "assistant", "content": [
            {"type": "text", "text": _SENTINEL}]}], False)
        return with_answer[len(base):].split(_SENTINEL, 1)[1]

    def _message(self, turn: Turn) -> dict:
        content = []
        for part in turn.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": self._plain(part.text)})
            elif isinstance(part, ImagePart):
                content.append({"type": "image"})
            elif isinstance(part, AudioPart):
                content.append({"type": "audio"})  # one placeholder per 30 s segment: see _media
        return {"role": turn.role, "content": content}

    def _plain(self, text: str) -> str:
        """Typed text that spells a control token (``<turn|>``, ``<|image|>``...) stays text: the
        tokenizer would make it the token itself, ending the turn early or asking for an image."""
        if self._controls is None:
            return text
        return self._controls.sub(lambda m: m[0][0] + _WORD_JOINER + m[0][1:], text)

    def _media(self, turn: Turn) -> list:
        return [part for part in turn.parts if not isinstance(part, TextPart)]

    # -- encoding --------------------------------------------------------------------------------
    def encode_text(self, text: str, media: list, detail: int) -> Encoded:
        """Encode one turn's text; its image/audio placeholders are expanded by the processor."""
        images = [prepare_image(p.image) for p in media if isinstance(p, ImagePart)]
        clips = [to_mono_16k(p.samples, p.sample_rate) for p in media if isinstance(p, AudioPart)]
        segments: list[np.ndarray] = []
        if clips:
            audio_marker = self.processor.audio_token
            split = [split_segments(clip, self.max_audio_seconds) for clip in clips]
            # A clip over 30 s becomes consecutive segments: one placeholder each.
            pieces = text.split(audio_marker)
            text = pieces[0] + "".join(audio_marker * len(s) + rest for s, rest in zip(split, pieces[1:]))
            segments = [seg for s in split for seg in s]
        kwargs = {"max_soft_tokens": check_detail(detail)} if images else {}
        if segments:
            kwargs["sampling_rate"] = SAMPLE_RATE
        out = self.processor(text=[text], images=[images] if images else None,
                             audio=segments or None, return_tensors="pt",
                             add_special_tokens=False, **kwargs)
        enc = Encoded(ids=out["input_ids"][0].tolist(), mm_token_type_ids=out["mm_token_type_ids"][0].tolist())
        if images:
            valid = (out["image_position_ids"] != -1).all(-1)
            for row in range(len(images)):
                n = int(valid[row].sum())
                enc.pixel_values.append(out["pixel_values"][row, :n])
                enc.image_position_ids.append(out["image_position_ids"][row, :n])
        if segments:
            for row in range(len(segments)):
                n = int(out["input_features_mask"][row].sum())
                enc.audio_frames.append(out["input_features"][row, :n])
        ids = np.asarray(enc.ids)
        enc.image_starts = _run_starts(ids == self.processor.image_token_id)
        enc.audio_starts = _run_starts(ids == self.processor.audio_token_id)
        enc.counts = self.count(enc.ids)
        enc.content = _content(enc)
        return enc

    def count(self, ids: list[int]) -> dict[str, int]:
        """Prompt tokens per modality."""
        ids = np.asarray(ids)
        image = int((ids == self.processor.image_token_id).sum())
        audio = int((ids == self.processor.audio_token_id).sum())
        return {"text": len(ids) - image - audio, "image": image, "audio": audio}

    def encode_plain(self, text: str) -> Encoded:
        return self.encode_text(text, [], 280)

"""The engine: one loaded model (+ optional drafter) answering conversations, streamed.

``Engine.stream(turns, settings)`` yields ``Response`` records; ``Engine.cancel()`` (any thread)
stops the answer within one decoding step and leaves the engine ready for the next question.

A follow-up question reuses the conversation's KV cache: the engine remembers the token ids in the
cache after each answer; when the next request's history is exactly that conversation plus the
answer it gave, only the new turn's tokens are prefilled (the screenshot is not run again).
"""

import hashlib
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Iterator

import torch
from transformers import DynamicCache

from inference.conversation import AudioPart, ImagePart, TextPart, Turn
from inference.errors import EngineBusy, InputError
from inference.generate import GenerationSettings, Response, Stats, stream_generate
from inference.prompt import Encoded, PromptBuilder
from inference.records import EngineInfo  # noqa: F401 (re-exported: plain data)


@dataclass
class _Answered:
    """The conversation as it stood after the last answer, for splicing the next question onto it."""

    turn_keys: list[str]
    answer: str
    ids: list[int]  # prompt + generated
    mm_token_type_ids: list[int]
    content: list[bytes]
    generated: list[int]


@dataclass
class _KV:
    """What the KV cache holds: exactly the keys and values of ``ids`` (with that ``content``)."""

    ids: list[int]
    content: list[bytes]
    cache: object


class Engine:
    def __init__(self, model, processor, info: EngineInfo, *, assistant=None,
                 context_tokens: int = 8192, max_audio_seconds: float = 300.0):
        self.model = model
        self.processor = processor
        self.assistant = assistant
        self.info = info
        self.context_tokens = context_tokens
        self.prompts = PromptBuilder(processor, max_audio_seconds)
        self.stop_ids = _stop_ids(model)
        # Placeholders stand for image / audio soft tokens: an answer must never contain one.
        self.suppress = [i for i in (getattr(model.config, name, None) for name in (
            "image_token_id", "audio_token_id", "video_token_id", "boi_token_id", "eoi_token_id",
            "boa_token_id", "eoa_token_index")) if isinstance(i, int)]
        self._closing = self.prompts.encode_plain(self.prompts.assistant_closing()).ids
        self._cancel = threading.Event()
        self._busy = threading.Lock()
        self._answered: _Answered | None = None
        self._kv: _KV | None = None

    # -- public ----------------------------------------------------------------------------------
    def stream(self, turns: list[Turn], settings: GenerationSettings = GenerationSettings()) -> Iterator[Response]:
        """Answer the last (user) turn of ``turns``; yields text pieces, then a final record."""
        if not self._busy.acquire(blocking=False):
            raise EngineBusy("Seesay is still answering: stop that answer first.")
        try:
            yield from self._stream(turns, settings)
        finally:
            self._busy.release()

    def answer(self, turns: list[Turn], settings: GenerationSettings = GenerationSettings()) -> tuple[str, Response]:
        """Convenience: the whole answer text and the final record."""
        pieces, last = [], None
        for last in self.stream(turns, settings):
            pieces.append(last.text)
        return "".join(pieces), last

    def cancel(self) -> None:
        self._cancel.set()

    def forget(self) -> None:
        """Drop the cached conversation (e.g. when the user switches conversations)."""
        self._answered, self._kv = None, None

    def prefill(self, turns: list[Turn], detail: int = 280) -> int:
        """Run the prompt so far through the model while the user is still speaking.

        ``turns`` ends with the user's turn as recorded so far (screenshot, audio up to now).
        Everything up to the last audio token is prefilled into the KV cache; the next ``stream``
        whose prompt starts with the same tokens prefills only the rest. Audio frames are raw
        samples (640 a token), so a longer recording later only appends tokens. Returns the
        number of tokens newly prefilled.
        """
        if not self._busy.acquire(blocking=False):
            raise EngineBusy("Seesay is still answering: stop that answer first.")
        try:
            turns = turns[:-1] + [_whole_frames(turns[-1])]
            enc, kv, start = self._encode(turns, detail)
            types = enc.mm_token_type_ids
            audio = [i for i, t in enumerate(types) if t == 3]
            images = [i for i, t in enumerate(types) if t == 1]
            if audio and (not images or audio[-1] > images[-1]):
                end = audio[-1] + 1  # more audio may follow: stop before the end-of-audio token
            elif images:
                end = images[-1] + 2  # the screenshot and its end-of-image token
            else:
                return 0
            if end <= start:
                return 0
            inputs = enc.model_inputs(start, end)
            inputs["input_ids"] = inputs["input_ids"][:, start:]
            inputs["mm_token_type_ids"] = inputs["mm_token_type_ids"][:, start:]
            self._kv = None  # being changed
            with torch.no_grad():  # the decoder alone: the logits would be thrown away
                self.model.model(**_on(inputs, self.model.device), cache=kv.cache, use_cache=True)
            self._kv = _KV(enc.ids[:end], enc.content[:end], kv.cache)
            return end - start
        finally:
            self._busy.release()

    # -- internals -------------------------------------------------------------------------------
    def _stream(self, turns: list[Turn], settings: GenerationSettings) -> Iterator[Response]:
        started = time.perf_counter()
        self._cancel.clear()
        if not turns or turns[-1].role != "user":
            raise InputError("There is no question to answer: the last turn must be the user's.")
        if not any(turn.parts for turn in turns if turn.role == "user"):
            raise InputError("The question is empty: type something, or attach a screenshot or a recording.")
        enc, kv, reused = self._encode(turns, settings.image_detail)
        cache = kv.cache
        room = self.context_tokens - len(enc.ids)
        if room < 16:
            self.forget()
            raise InputError(f"The conversation is too long ({len(enc.ids)} tokens, limit {self.context_tokens}): "
                             "start a new conversation, or use a lower image detail.")
        settings = _with_max_tokens(settings, min(settings.max_new_tokens, room))
        stats = Stats(prompt_tokens=dict(enc.counts), prefilled_tokens=len(enc.ids) - reused, reused_tokens=reused)
        use_draft = self.assistant if settings.use_draft else None
        generated: list[int] = []
        text = []
        self._kv = None  # the cache is being changed: unusable until this answer ends well
        inputs = _on(enc.model_inputs(reused), self.model.device)
        for response in stream_generate(self.model, self.processor.tokenizer, inputs,
                                        settings=settings, cache=cache, stop_ids=self.stop_ids,
                                        cancel=self._cancel, stats=stats, generated=generated,
                                        suppress=self.suppress, assistant=use_draft, started=started):
            text.append(response.text)
            yield response
        answer = "".join(text)
        ids = enc.ids + generated
        self._answered = None
        if cache.get_seq_length() == len(ids) - 1:  # the last token is sampled, not yet run
            self._answered = _Answered(turn_keys=[_turn_key(t) for t in turns], answer=answer, ids=ids,
                                       mm_token_type_ids=enc.mm_token_type_ids + [0] * len(generated),
                                       content=enc.content + [b""] * len(generated), generated=generated)
            self._kv = _KV(ids[:-1], self._answered.content[:-1], cache)

    def _encode(self, turns: list[Turn], detail: int) -> tuple[Encoded, _KV, int]:
        """The prompt's ids, and the cache to continue: with the tokens it already holds skipped.

        Right after an answer, the new question is appended to the exact ids the model saw and
        wrote (its own answer is not re-tokenized, which could give other ids); otherwise the
        conversation is encoded afresh. Either way, a cache whose ids start the prompt is reused.
        """
        pieces, generation_prompt = self.prompts.turn_texts(turns)
        last, n = self._answered, len(self._answered.turn_keys) if self._answered else 0
        follows_answer = (
            last is not None and len(turns) > n + 1
            and turns[n].role == "assistant" and _text(turns[n]).strip() == last.answer.strip()
            and [_turn_key(t) for t in turns[:n]] == last.turn_keys
        )
        if follows_answer:
            closing = self._closing
            if last.generated and closing and last.generated[-1] == closing[0]:
                closing = closing[1:]  # the answer already ended with the end-of-turn token
            enc = Encoded(ids=last.ids + closing, mm_token_type_ids=last.mm_token_type_ids + [0] * len(closing),
                          content=last.content + [b""] * len(closing))
            new_pieces = pieces[n + 1:]
        else:
            enc, new_pieces = Encoded(), pieces
        for text, media in new_pieces:
            enc = enc + self.prompts.encode_text(text, media, detail)
        enc = enc + self.prompts.encode_plain(generation_prompt)
        enc.counts = self.prompts.count(enc.ids)
        kv = self._kv
        n = len(kv.ids) if kv is not None else 0
        if kv is not None and n < len(enc.ids) and enc.ids[:n] == kv.ids and enc.content[:n] == kv.content \
                and kv.cache.get_seq_length() == n and not _inside_image(enc, n):
            return enc, kv, n
        if follows_answer:  # the spliced history carries no image/audio tensors: encode it afresh
            self._answered = None
            return self._encode(turns, detail)
        return enc, _KV([], [], DynamicCache(config=self.model.config)), 0


def _on(inputs: dict, device) -> dict:
    return {name: value.to(device) for name, value in inputs.items()}


def _whole_frames(turn: Turn) -> Turn:
    """The turn with its last audio clip cut to whole 40 ms frames: a partial frame would be
    zero-padded now and hold different samples once the recording goes on."""
    from inference.media import SAMPLE_RATE, SAMPLES_PER_TOKEN, to_mono_16k

    parts = list(turn.parts)
    for i in range(len(parts) - 1, -1, -1):
        if isinstance(parts[i], AudioPart):
            samples = to_mono_16k(parts[i].samples, parts[i].sample_rate)
            whole = samples[: len(samples) - len(samples) % SAMPLES_PER_TOKEN]
            if len(whole):
                parts[i] = AudioPart(whole, SAMPLE_RATE)
            else:
                del parts[i]
            break
    return Turn(turn.role, parts)


def _inside_image(enc: Encoded, position: int) -> bool:
    """An image's tokens attend to each other both ways: its block cannot be split across passes."""
    ids = enc.mm_token_type_ids
    return 0 < position < len(ids) and ids[position] == 1 and ids[position - 1] == 1


def _stop_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return list(eos) if isinstance(eos, (list, tuple)) else [eos]


def _with_max_tokens(settings: GenerationSettings, n: int) -> GenerationSettings:
    from dataclasses import replace

    return replace(settings, max_new_tokens=max(1, n))


def _text(turn: Turn) -> str:
    return "".join(p.text for p in turn.parts if isinstance(p, TextPart))


def _turn_key(turn: Turn) -> str:
    """A fingerprint of a turn's content, to know whether the cache still holds this conversation."""
    h = hashlib.blake2b(turn.role.encode(), digest_size=16)
    for part in turn.parts:
        if isinstance(part, TextPart):
            h.update(b"t" + part.text.encode())
        elif isinstance(part, ImagePart):
            h.update(b"i" + _media_digest(part.image, lambda im: repr((im.size, im.mode)).encode() + im.tobytes()))
        elif isinstance(part, AudioPart):
            h.update(b"a" + str(part.sample_rate).encode()
                     + _media_digest(part.samples, lambda samples: samples.tobytes()))
    return h.hexdigest()


_DIGESTS: dict[int, tuple[weakref.ref, bytes]] = {}  # id(image or samples) -> (the object, digest)


def _media_digest(obj, content) -> bytes:
    """The digest of an image's pixels or a clip's samples, remembered for as long as the object lives.

    Every answer fingerprints every turn of the conversation (16 ms per 2560x1440 screenshot); the
    app hands the same objects again on a follow-up (it caches what it read from the history), so
    each is hashed once. Parts are treated as immutable once given to the engine, as Turn's are.
    """
    known = _DIGESTS.get(id(obj))
    if known is not None and known[0]() is obj:
        return known[1]
    digest = hashlib.blake2b(content(obj), digest_size=16).digest()
    try:
        ref = weakref.ref(obj, lambda _ref, key=id(obj): _DIGESTS.pop(key, None))
    except TypeError:  # not weak-referenceable: hash it each time
        return digest
    _DIGESTS[id(obj)] = (ref, digest)
    return digest


def resident_bytes(*models) -> int:
    total = 0
    for model in models:
        if model is None:
            continue
        for t in list(model.parameters()) + list(model.buffers()):
            total += _tensor_bytes(t)
    return total


def _tensor_bytes(t: torch.Tensor) -> int:
    inner = [getattr(t, name) for name in ("_data", "_scale", "_shift") if isinstance(getattr(t, name, None), torch.Tensor)]
    if inner:
        return sum(_tensor_bytes(x) for x in inner)
    return t.numel() * t.element_size()

"""Streaming generation: ``stream_generate`` yields one ``Response`` per decoding step.

transformers' ``generate`` runs on a helper thread and hands each step's new tokens to a queue;
the caller's thread decodes them into text pieces. A ``StoppingCriteria`` that reads a cancel flag
ends generation at the next step, so cancel takes effect within one decoding step.
"""

import queue
import threading
import time
from dataclasses import replace
from typing import Iterator

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from inference.device import peak_memory_bytes, reset_peak_memory, synchronize
from inference.records import GenerationSettings, Response, Stats  # noqa: F401 (re-exported: plain data)


class _QueueStreamer(BaseStreamer):
    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self._prompt_seen = False

    def put(self, value):
        if not self._prompt_seen:  # generate() first hands over the prompt
            self._prompt_seen = True
            return
        self.queue.put(value.reshape(-1).tolist())

    def end(self):
        self.queue.put(None)


class _Suppress(LogitsProcessor):
    """Never generate these ids. Indexing a handful of columns costs microseconds; transformers'
    suppress_tokens compares every step against the whole 262k vocabulary (7 ms a token, bench/)."""

    def __init__(self, ids):
        self.ids = torch.tensor(sorted(set(ids)), dtype=torch.long)

    def __call__(self, input_ids, scores):
        scores[:, self.ids.to(scores.device)] = float("-inf")
        return scores


class _CancelFlag(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def stream_generate(model, tokenizer, inputs: dict, *, settings: GenerationSettings, cache,
                    stop_ids: list[int], cancel: threading.Event, stats: Stats,
                    generated: list[int], suppress: list[int] = (), assistant=None,
                    started: float | None = None) -> Iterator[Response]:
    """Generate from ``inputs`` (whose first ``stats.reused_tokens`` are already in ``cache``).

    ``generated`` receives the new token ids as they come (the caller keeps them with the cache).
    ``suppress``: tokens never to generate (image / audio placeholders).
    """
    device = model.device
    started = time.perf_counter() if started is None else started
    streamer = _QueueStreamer()
    failure: list[BaseException] = []
    kwargs = dict(inputs, cache=cache, use_cache=True, streamer=streamer,
                  max_new_tokens=settings.max_new_tokens, eos_token_id=stop_ids,
                  stopping_criteria=StoppingCriteriaList([_CancelFlag(cancel)]),
                  pad_token_id=tokenizer.pad_token_id)
    if suppress:
        kwargs["logits_processor"] = LogitsProcessorList([_Suppress(suppress)])
    if settings.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    if assistant is not None:
        kwargs["assistant_model"] = assistant
    draft_len = int(getattr(assistant.generation_config, "num_assistant_tokens", 0) or 0) if assistant else 0

    def run():
        try:
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            with torch.no_grad():  # not inference_mode: quanto int4 weights fail under it
                model.generate(**kwargs)
        except BaseException as exc:  # reported on the caller's thread
            failure.append(exc)
            streamer.queue.put(None)

    reset_peak_memory(device)
    worker = threading.Thread(target=run, name="seesay-generate", daemon=True)
    worker.start()
    text_so_far, first_at = "", None
    finished = False
    try:
        while (step := streamer.queue.get()) is not None:
            now = time.perf_counter()
            if first_at is None:
                first_at = now
                stats.time_to_first_token_s = now - started
                stats.prefill_tokens_per_s = stats.prefilled_tokens / max(stats.time_to_first_token_s, 1e-9)
            else:
                stats.target_steps += 1
                if draft_len:
                    stats.drafted_tokens += draft_len
                    stats.accepted_tokens += len(step) - 1
            generated.extend(step)
            stats.generated_tokens = len(generated)
            if len(generated) > 1:
                stats.tokens_per_s = (len(generated) - 1) / max(now - first_at, 1e-9)
            stats.peak_memory_bytes = max(stats.peak_memory_bytes, peak_memory_bytes(device))
            text = tokenizer.decode(generated, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                piece = ""
            else:
                piece, text_so_far = text[len(text_so_far):], text
            yield Response(piece, tuple(step), None, replace(stats))  # a snapshot: stats go on changing
        finished = True
    finally:
        if not finished:  # the consumer stopped early: stop generating too
            cancel.set()
        worker.join()
    if failure:
        raise failure[0]
    synchronize(device)
    if cancel.is_set():
        finish = "cancelled"
    elif generated and generated[-1] in stop_ids:
        finish = "stop"
    else:
        finish = "length"
    tail = tokenizer.decode(generated, skip_special_tokens=True)[len(text_so_far):]
    yield Response(tail, (), finish, stats)

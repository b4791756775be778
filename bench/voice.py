"""Push-to-talk latency: from the end of the audio (key released) to the first token.

A request is one screenshot + the spoken question (2 s or 30 s) + the app's short text. Two
designs are measured, both on the int4 engine's model:

* ``engine``: what Seesay does today. Nothing runs while the user speaks; on release the whole
  prompt (screenshot and every audio frame) is prefilled, so the wait grows with the utterance.
* ``incremental``: the design that keeps the wait flat. The screenshot is prefilled when the key
  goes down, each second of audio (25 tokens) as it arrives, and on release only the last second
  and the closing text remain. Run here as a prototype with the model's forward and a
  ``DynamicCache`` (the chunking TESTING.md verified gives the one-shot logits); it also reports
  whether a second of audio is prefilled in less than a second, i.e. whether it keeps up.
"""

from __future__ import annotations

import time

import torch
from transformers import DynamicCache

from bench import inputs, prefill, timing
from bench.report import Goal, Section

SHORT_S, LONG_S = 2.0, 30.0
PUSH_TO_TALK_TEXT = "Answer the spoken question about the screenshot."
AUDIO_CHUNK_TOKENS = 25  # one second of audio: 25 tokens of 40 ms


def run(h) -> Section:
    section = Section("voice")
    engine = h.engine("int4")
    requests = {s: inputs.screen_question(audio_seconds=s, question=PUSH_TO_TALK_TEXT) for s in (SHORT_S, LONG_S)}
    runs = {SHORT_S: [], LONG_S: []}
    tokens = {}
    prefill.ttft(engine, requests[SHORT_S])  # warm-up
    for _ in range(max(1, h.options.repeats - 1)):
        for seconds, turns in requests.items():
            latency, stats = prefill.ttft(engine, turns)
            runs[seconds].append(latency)
            tokens[seconds] = stats.prefilled_tokens
    short, long_ = timing.median(runs[SHORT_S]), timing.median(runs[LONG_S])
    h.log(f"voice (engine): 2 s -> {short:.2f} s, 30 s -> {long_:.2f} s")
    incremental_latency(engine, requests[SHORT_S])  # warm-up
    incremental = {s: [] for s in requests}
    for _ in range(max(1, h.options.repeats - 1)):
        for seconds, turns in requests.items():
            incremental[seconds].append(incremental_latency(engine, turns))
    incremental = {s: _median_run(r) for s, r in incremental.items()}
    inc_ratio = timing.ratio(incremental[LONG_S]["after_release_s"], incremental[SHORT_S]["after_release_s"])
    h.log(f"voice (incremental): 2 s -> {incremental[SHORT_S]['after_release_s']:.2f} s, "
          f"30 s -> {incremental[LONG_S]['after_release_s']:.2f} s")
    section.raw.update(engine_runs={str(k): v for k, v in runs.items()}, prompt_tokens={str(k): v for k, v in tokens.items()},
                       incremental={str(k): v for k, v in incremental.items()})
    section.add("voice_latency_2s_s", "after release, 2 s utterance", short, "s", f"engine, {tokens[SHORT_S]} tokens prefilled")
    section.add("voice_latency_30s_s", "after release, 30 s utterance", long_, "s", f"engine, {tokens[LONG_S]} tokens prefilled")
    section.add("voice_latency_30s_vs_2s_ratio", "voice latency 30 s / 2 s (engine)", timing.ratio(long_, short), "",
                "whole prompt prefilled after release", Goal("<=", 1.5))
    section.add("voice_incremental_30s_vs_2s_ratio", "voice latency 30 s / 2 s (incremental)", inc_ratio, "",
                f"prototype: {incremental[LONG_S]['after_release_s']:.2f} s / {incremental[SHORT_S]['after_release_s']:.2f} s",
                Goal("<=", 1.5))
    section.add("voice_incremental_audio_second_s", "incremental: prefill of 1 s of audio",
                incremental[LONG_S]["per_audio_second_s"], "s", "must stay < 1 s to keep up with speech", Goal("<=", 1.0))
    return section


def _median_run(runs: list[dict]) -> dict:
    out = {k: timing.median([r[k] for r in runs]) for k in ("key_down_s", "after_release_s", "per_audio_second_s")}
    return dict(runs[-1], **out, after_release_runs=[r["after_release_s"] for r in runs])


def incremental_latency(engine, turns) -> dict:
    """Prefill in the order the inputs arrive; time only what is left after the key is released."""
    model, device = engine.model, engine.model.device
    enc = inputs.encode(engine, turns)
    full = enc.model_inputs()
    ids = full["input_ids"][0]
    audio = (ids == engine.processor.audio_token_id).nonzero().flatten().tolist()
    first, last = audio[0], audio[-1] + 1
    # Key down: everything before the audio (the screenshot's whole block is in it).
    bounds = [0, first]
    bounds += list(range(first + AUDIO_CHUNK_TOKENS, last, AUDIO_CHUNK_TOKENS))
    bounds = bounds[:-1] if len(bounds) > 2 and last - bounds[-1] < AUDIO_CHUNK_TOKENS else bounds
    bounds.append(len(ids))  # released: the last second of audio + the closing text
    cache = DynamicCache(config=model.config)
    spans = []
    with torch.no_grad():
        for a, b in zip(bounds, bounds[1:]):
            chunk = {
                "input_ids": full["input_ids"][:, a:b], "mm_token_type_ids": full["mm_token_type_ids"][:, a:b],
                "attention_mask": full["attention_mask"][:, :b],
            }
            if a == 0 and "pixel_values" in full:
                chunk.update(pixel_values=full["pixel_values"], image_position_ids=full["image_position_ids"])
            lo, hi = max(a, first) - first, min(b, last) - first
            if hi > lo:
                chunk.update(input_features=full["input_features"][:, lo:hi],
                             input_features_mask=full["input_features_mask"][:, lo:hi])
            timing.sync(device)
            start = time.perf_counter()
            chunk["position_ids"] = torch.arange(a, b).unsqueeze(0)
            out = model(**inputs.on_device(chunk, device), cache=cache, use_cache=True, logits_to_keep=1)
            out.logits[0, -1].argmax().item()  # the first token, on release
            timing.sync(device)
            spans.append(time.perf_counter() - start)
    audio_spans = spans[1:-1]
    return {
        "key_down_s": spans[0], "after_release_s": spans[-1], "chunks": len(spans),
        "per_audio_second_s": timing.median(audio_spans) if audio_spans else None,
        "tail_tokens": bounds[-1] - bounds[-2], "prompt_tokens": len(ids),
    }

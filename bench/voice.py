"""Push-to-talk latency: from the end of the audio (key released) to the first token.

The question is what the app sends for a voice question: one screenshot + the recording (2 s or
30 s), through the int4 engine. Two ways, both through ``Engine``:

* ``prefill while speaking`` (the app's path, ``app/capture_controller.py``): at key-down and
  then every second, ``Engine.prefill`` runs the screenshot and the audio recorded so far into the
  KV cache; on release ``Engine.stream`` prefills only what is left (under a second of audio and
  the closing tokens). The prefills are timed one by one and replayed on the app's 1 s timer: a
  prefill still running at release (or a queue of prefills slower than speech) adds to the wait.
* ``nothing while speaking`` (the baseline): on release the whole prompt is prefilled, so the wait
  grows with the length of the utterance.
"""

from __future__ import annotations

import time

from bench import inputs, prefill, timing
from bench.report import Goal, Section
from inference.conversation import AudioPart, ImagePart, Turn
from inference.generate import GenerationSettings

SHORT_S, LONG_S = 2.0, 30.0
PREFILL_EVERY_S = 1.0  # app.capture_controller.PREFILL_EVERY_MS


def run(h) -> Section:
    section = Section("voice")
    engine = h.engine("int4")
    image = inputs.screenshot()
    audio = {s: inputs.speech(s) for s in (SHORT_S, LONG_S)}
    while_speaking(engine, image, audio[SHORT_S])  # warm-up
    spoken = {s: [] for s in audio}
    baseline = {s: [] for s in audio}
    for _ in range(max(1, h.options.repeats - 2)):
        for seconds, samples in audio.items():
            spoken[seconds].append(while_speaking(engine, image, samples))
            baseline[seconds].append(prefill.ttft(engine, [voice_turn(image, samples)])[0])
    wait = {s: timing.median([r["after_release_s"] for r in runs]) for s, runs in spoken.items()}
    plain = {s: timing.median(runs) for s, runs in baseline.items()}
    last = {s: runs[-1] for s, runs in spoken.items()}
    h.log(f"voice: prefill while speaking 2 s -> {wait[SHORT_S]:.2f} s, 30 s -> {wait[LONG_S]:.2f} s; "
          f"nothing while speaking 2 s -> {plain[SHORT_S]:.2f} s, 30 s -> {plain[LONG_S]:.2f} s")
    section.raw.update(while_speaking={str(s): r for s, r in spoken.items()},
                       nothing_while_speaking={str(s): r for s, r in baseline.items()})
    for s in (SHORT_S, LONG_S):
        r = last[s]
        section.add(f"voice_latency_{s:.0f}s_s", f"after release, {s:.0f} s utterance", wait[s], "s",
                    f"{r['prefilled_after_release']} tokens left after {r['prefills']} prefills "
                    f"({r['tokens']} in all); nothing while speaking: {plain[s]:.2f} s")
    section.add("voice_latency_30s_vs_2s_ratio", "voice latency 30 s / 2 s", timing.ratio(wait[LONG_S], wait[SHORT_S]),
                "", "screenshot + audio prefilled while speaking (the app's path)", Goal("<=", 1.5))
    section.add("voice_latency_30s_vs_2s_ratio_no_prefill", "voice latency 30 s / 2 s, nothing while speaking",
                timing.ratio(plain[LONG_S], plain[SHORT_S]), "", "whole prompt prefilled after release")
    section.add("voice_prefill_per_audio_second_s", "prefill of 1 s of audio while speaking",
                last[LONG_S]["per_second_s"], "s", "must stay under 1 s to keep up with speech", Goal("<=", 1.0))
    if h.model.name == "slice":
        p = project_second(engine, image, audio[LONG_S])
        section.raw["projected_12b_per_audio_second"] = p
        if p:
            section.add("projected_12b_voice_prefill_per_audio_second_s", "12B projected prefill of 1 s of audio",
                        p["projected_s"], "s", "per layer " + ", ".join(
                            f"{k.split('_')[0]} {v * 1e3:.0f} ms" for k, v in p["per_layer_s"].items()), Goal("<=", 1.0))
    return section


def project_second(engine, image, samples) -> dict | None:
    """One more 1 s prefill (25 audio tokens) with a clock on every layer, scaled to 48 layers."""
    engine.forget()
    for tick in (0, 1):
        engine.prefill([voice_turn(image, samples[: tick * inputs.SAMPLE_RATE])])
    device = engine.model.device
    with timing.layer_clock(engine.model, device, prefill=True) as spans:
        start = time.perf_counter()
        engine.prefill([voice_turn(image, samples[: 2 * inputs.SAMPLE_RATE])])
        timing.sync(device)
        seconds = time.perf_counter() - start
    return timing.project_layers(seconds, spans, engine.model)


def voice_turn(image, samples) -> Turn:
    """The user turn the app builds for a voice question (``ChatController.draft_turns``)."""
    parts = [ImagePart(image)]
    if len(samples):
        parts.append(AudioPart(samples, inputs.SAMPLE_RATE))
    return Turn("user", parts)


def while_speaking(engine, image, samples) -> dict:
    """Prefill as the app does while the key is held, then answer; the wait after release."""
    engine.forget()
    duration = len(samples) / inputs.SAMPLE_RATE
    ticks = [i * PREFILL_EVERY_S for i in range(int(duration / PREFILL_EVERY_S - 1e-9) + 1)]
    spans, free_at = [], 0.0  # when the engine's thread is done with the prefills queued so far
    device = engine.model.device
    for tick in ticks:
        start = time.perf_counter()
        engine.prefill([voice_turn(image, samples[: int(tick * inputs.SAMPLE_RATE)])])
        timing.sync(device)
        spans.append(time.perf_counter() - start)
        free_at = max(free_at, tick) + spans[-1]
    last = None
    for last in engine.stream([voice_turn(image, samples)], GenerationSettings(max_new_tokens=1, greedy=True,
                                                                                use_draft=False)):
        pass
    stats = last.stats
    return {
        "after_release_s": max(0.0, free_at - duration) + stats.time_to_first_token_s,
        "ttft_after_prefills_s": stats.time_to_first_token_s, "busy_at_release_s": max(0.0, free_at - duration),
        "prefills": len(ticks), "prefill_s": spans, "key_down_s": spans[0],
        "per_second_s": timing.median(spans[1:]) if len(spans) > 1 else None,
        "prefilled_after_release": stats.prefilled_tokens, "tokens": stats.prefilled_tokens + stats.reused_tokens,
    }

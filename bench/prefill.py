"""Time to first token for a typical screen question, int4 vs bf16, and for its follow-up.

The typical question: one 2560x1440 screenshot at the default detail (280 soft tokens), 5 s of
speech (125 audio tokens) and a short sentence, through ``Engine.stream`` with greedy decoding.

* int4 vs bf16: the same request on both engines, alternating, ``engine.forget()`` before each.
* follow-up: after an answer, the next question in the same conversation reuses the KV cache
  (only the new turn is prefilled); its baseline is the same request after ``engine.forget()``,
  i.e. the whole conversation prefilled again, screenshot included. On the slice both are also
  projected to the 12B (a clock on every layer, as for the TTFT): the slice's bf16 head (one 2 GB
  read for the first token, both sides) weighs on a 2-layer slice as it does not on 48 layers.
"""

from __future__ import annotations

from bench import inputs, timing
from bench.report import Goal, Section
from inference.conversation import Turn
from inference.generate import GenerationSettings

FIRST_ANSWER_TOKENS = 8


def run(h) -> Section:
    section = Section("prefill")
    turns = inputs.screen_question(audio_seconds=5.0)
    bf16, int4 = h.engine("none"), h.engine("int4")
    ttft(bf16, turns), ttft(int4, turns)  # warm-up
    runs = {"none": [], "int4": []}
    stats = {}
    for _ in range(max(2, h.options.repeats - 1)):
        for scheme, engine in (("none", bf16), ("int4", int4)):
            seconds, stats[scheme] = ttft(engine, turns)
            runs[scheme].append(seconds)
    t_bf16, t_int4 = timing.median(runs["none"]), timing.median(runs["int4"])
    h.log(f"prefill: bf16 {t_bf16:.2f} s, int4 {t_int4:.2f} s for {stats['int4'].prefilled_tokens} tokens")
    projected = {scheme: project(engine, turns) for scheme, engine in (("none", bf16), ("int4", int4))
                 if h.model.name == "slice"}
    kernels = matmul_kernels(sum(stats["int4"].prompt_tokens.values()), bf16.model.device)
    section.raw["matmul_ms"] = kernels
    follow = follow_up(int4, turns, h.options.repeats)
    h.log(f"follow-up: reused {follow['reused_s']:.2f} s vs again {follow['again_s']:.2f} s")
    follow_12b = project_follow_up(int4, turns) if h.model.name == "slice" else None
    prompt = stats["int4"].prompt_tokens
    section.raw.update(ttft_bf16_runs=runs["none"], ttft_int4_runs=runs["int4"], prompt_tokens=prompt,
                       ttft_bf16_s=t_bf16, ttft_int4_s=t_int4, follow_up=follow, projected_12b=projected)
    how = f"{sum(prompt.values())} tokens: " + ", ".join(f"{v} {k}" for k, v in prompt.items())
    section.add("ttft_screen_question_int4_s", "TTFT screen question, int4", t_int4, "s", how)
    section.add("ttft_screen_question_bf16_s", "TTFT screen question, bf16", t_bf16, "s", how)
    section.add("prefill_int4_vs_bf16_time_ratio", "prefill time int4 / bf16", timing.ratio(t_int4, t_bf16), "",
                f"{t_int4:.2f} s / {t_bf16:.2f} s, medians, alternating", Goal("<=", 1.2))
    for scheme, p in projected.items():
        if p:
            name = "bf16" if scheme == "none" else scheme
            section.add(f"projected_12b_ttft_{name}_s", f"12B projected TTFT screen question, {name}", p["projected_s"],
                        "s", f"{sum(prompt.values()) / p['projected_s']:.1f} tok/s prefill; per layer "
                        + ", ".join(f"{k.split('_')[0]} {v:.2f} s" for k, v in p["per_layer_s"].items()))
    n = max(kernels)
    section.add("matmul_int4_vs_bf16_prefill_ratio", f"one MLP matmul at {n} tokens, int4 / bf16",
                timing.ratio(kernels[n]["int4"], kernels[n]["bf16"]), "",
                f"3840x15360: int4 {kernels[n]['int4']:.0f} ms, int8 {kernels[n]['int8']:.0f} ms"
                + (f" (Seesay's {kernels[n]['int8_seesay']:.0f})" if "int8_seesay" in kernels[n] else "")
                + f", bf16 {kernels[n]['bf16']:.0f} ms;"
                f" at 1 token int4 {kernels[1]['int4']:.1f}, bf16 {kernels[1]['bf16']:.1f} ms")
    if "int4_seesay" in kernels[n]:
        section.add("matmul_int4_dense_vs_bf16_prefill_ratio", "same, Seesay's int4 kernels / bf16",
                    timing.ratio(kernels[n]["int4_seesay"], kernels[n]["bf16"]), "",
                    f"{kernels[n]['int4_seesay']:.0f} ms; at 1 token {kernels[1]['int4_seesay']:.2f} ms,"
                    f" torch's int4 {kernels[1]['int4']:.2f} ms (the engine's note below says which kernel)")
    if "int8_seesay" in kernels[1]:
        section.add("matmul_int8_seesay_vs_torch_decode_ratio", "one MLP matmul at 1 token, Seesay's int8 / torch's",
                    timing.ratio(kernels[1]["int8_seesay"], kernels[1]["int8"]), "",
                    f"{kernels[1]['int8_seesay']:.2f} ms against {kernels[1]['int8']:.2f} ms (_weight_int8pack_mm); "
                    f"59 MB of int8 weights")
    section.notes.append(f"int4 engine kernels: {int4.info.kernels}")
    section.add("ttft_follow_up_s", "TTFT follow-up (cache reused)", follow["reused_s"], "s",
                f"{follow['reused_prefilled']} new tokens prefilled, {follow['reused_tokens']} reused")
    section.add("followup_ttft_ratio", "follow-up TTFT reused / re-prefilled", follow["ratio"], "",
                f"{follow['reused_s']:.2f} s / {follow['again_s']:.2f} s ({follow['again_prefilled']} tokens)",
                Goal("<=", 0.1))
    if follow_12b:
        section.raw["follow_up_projected_12b"] = follow_12b
        reused, again = follow_12b["reused"]["projected_s"], follow_12b["again"]["projected_s"]
        section.add("projected_12b_followup_ttft_ratio", "12B projected follow-up reused / re-prefilled",
                    timing.ratio(reused, again), "", f"{reused:.2f} s / {again:.2f} s (per-layer clocks, int4)")
    return section


def matmul_kernels(tokens: int, device, repeats: int = 5) -> dict:
    """One gate projection of the 12B (3840 -> 15360) in bf16 and quanto int8 / int4, at one token
    (decoding) and at the prompt's length (prefill): which kernel makes prefill slow."""
    import time

    import torch

    from bench.decode_head import quantize_copy

    linear = torch.nn.Linear(3840, 15_360, bias=False, dtype=torch.bfloat16, device=device)
    from inference import quant

    routed, routed8 = quantize_copy(linear, "int4"), quantize_copy(linear, "int8")
    modules = {"bf16": linear, "int8": quantize_copy(linear, "int8"), "int4": quantize_copy(linear, "int4")}
    if quant.route_int4(routed):
        modules["int4_seesay"] = routed  # what the engine runs ("int4": torch's own kernel)
    if quant.route_int8(routed8):
        modules["int8_seesay"] = routed8  # what the engine runs ("int8": quanto's, torch's kernel)
    out = {}
    with torch.no_grad():
        for m in (1, tokens):
            x = torch.randn(1, m, 3840, dtype=torch.bfloat16, device=device)
            runs = {name: [] for name in modules}
            for module in modules.values():
                module(x)
            for _ in range(repeats):
                for name, module in modules.items():
                    timing.sync(device)
                    start = time.perf_counter()
                    module(x)
                    timing.sync(device)
                    runs[name].append((time.perf_counter() - start) * 1e3)
            out[m] = {name: timing.median(r) for name, r in runs.items()}
    return out


def project(engine, turns) -> dict | None:
    """One more TTFT with a clock on every layer, scaled to the real 48 layers."""
    engine.forget()
    with timing.layer_clock(engine.model, engine.model.device, prefill=True) as spans:
        seconds, _ = first_token(engine, turns)
    return timing.project_layers(seconds, spans, engine.model)


def ttft(engine, turns, detail: int = 280):
    """(seconds to the first token, stats) for ``turns`` prefilled from scratch."""
    engine.forget()
    return first_token(engine, turns, detail)


def first_token(engine, turns, detail: int = 280):
    settings = GenerationSettings(max_new_tokens=1, greedy=True, use_draft=False, image_detail=detail)
    last = None
    for last in engine.stream(turns, settings):
        pass
    return last.stats.time_to_first_token_s, last.stats


def project_follow_up(engine, turns) -> dict | None:
    """The follow-up, reused and prefilled again, once each with a clock on every layer."""
    engine.forget()
    answer, _ = engine.answer(turns, GenerationSettings(max_new_tokens=FIRST_ANSWER_TOKENS, greedy=True,
                                                        use_draft=False))
    conversation = turns + [Turn.assistant(answer), Turn.user(inputs.FOLLOW_UP)]
    out = {}
    for name in ("reused", "again"):
        if name == "again":
            engine.forget()
        with timing.layer_clock(engine.model, engine.model.device, prefill=True) as spans:
            seconds, _ = first_token(engine, conversation)
        out[name] = timing.project_layers(seconds, spans, engine.model)
    return out if all(out.values()) else None


def follow_up(engine, turns, repeats: int) -> dict:
    reused, again = [], []
    reused_stats = again_stats = None
    for _ in range(max(2, repeats - 1)):
        engine.forget()
        answer, _ = engine.answer(turns, GenerationSettings(max_new_tokens=FIRST_ANSWER_TOKENS, greedy=True,
                                                            use_draft=False))
        conversation = turns + [Turn.assistant(answer), Turn.user(inputs.FOLLOW_UP)]
        seconds, reused_stats = first_token(engine, conversation)
        reused.append(seconds)
        seconds, again_stats = ttft(engine, conversation)
        again.append(seconds)
    r, a = timing.median(reused), timing.median(again)
    return {
        "reused_s": r, "again_s": a, "ratio": timing.ratio(r, a), "reused_runs": reused, "again_runs": again,
        "reused_tokens": reused_stats.reused_tokens, "reused_prefilled": reused_stats.prefilled_tokens,
        "again_prefilled": again_stats.prefilled_tokens,
    }

"""Decoding speed: engine vs bare ``model.generate`` vs the memory-bandwidth floor, per quantization.

* floor: one decoding step must read every weight once, so no step can beat
  ``bytes of weights read per token / copy bandwidth`` (``timing.copy_bandwidth``). The bandwidth
  is measured between the decoding runs, once per repeat, and the floor uses the median, as the
  decoding figures do: on a shared host it moved from 28 to 48 GB/s within a minute, so one
  figure taken at the start made the ratio a draw of which moment it caught.
* bare: ``model.generate`` on the engine's own input tensors, greedy, with a streamer that only
  notes the time of each token. engine: ``Engine.stream`` (its generate thread, queue, text
  decoding and cancel check). Runs alternate engine, bare, engine, bare... so slow and fast
  moments of a shared machine fall on both; speeds are medians, and engine / bare is the median
  of each pair's ratio, over ``PAIRS_PER_REPEAT`` pairs a repeat for int4 (the figure with a
  goal): with 3 pairs it read 0.91-1.07 on one machine and one commit, the host's speed moving
  by up to 2x within a run.
* projection to the full 48-layer model: one more bare run with a clock on every decoder layer
  and on the head gives per-layer times by attention kind; full-model step time =
  (step - layers - head) + head + 40 x sliding + 8 x full.
"""

from __future__ import annotations

import torch

from bench import inputs, timing
from bench.models import full_pattern
from bench.report import Goal, Section
from inference.conversation import Turn
from inference.generate import GenerationSettings

SCHEMES = ("none", "int8", "int4")
PAIRS_PER_REPEAT = 3  # int4's engine / bare pairs per --repeats (one each for none and int8)


def run(h) -> Section:
    section = Section("decode")
    n = h.options.decode_tokens
    results = {}
    copy_runs, read_runs = [], []
    for scheme in SCHEMES:
        engine = h.engine(scheme)
        pairs = h.options.repeats * (PAIRS_PER_REPEAT if scheme == "int4" else 1)
        results[scheme] = measure(engine, n, pairs, project_to_12b=h.model.name == "slice")
        copy_runs += results[scheme]["bandwidth_runs"]
        read_runs += results[scheme]["read_bandwidth_runs"]
        h.log(f"decode {scheme}: engine {results[scheme]['engine_tokens_per_s']:.2f} tok/s, "
              f"bare {results[scheme]['bare_tokens_per_s']:.2f}, floor {results[scheme]['floor_tokens_per_s']:.2f}")
        if scheme == "int8":
            h.drop("int8")  # the other sections use bf16 and int4 only
    section.raw.update(results)
    int4 = results["int4"]
    bw, read_bw = int4["bandwidth_bytes_per_s"], int4["read_bandwidth_bytes_per_s"]  # beside int4's runs
    section.raw.update(bandwidth_bytes_per_s=bw, read_bandwidth_bytes_per_s=read_bw)
    section.add("bandwidth_gb_per_s", "memory copy bandwidth", bw / 1e9, "GB/s",
                f"STREAM copy: (read+write)/time, 2 GiB; median beside int4, {_spread(copy_runs)} in this run")
    section.add("read_bandwidth_gb_per_s", "memory read bandwidth", read_bw / 1e9, "GB/s",
                f"max() of 2 GiB uint8: only reads, as decoding does; {_spread(read_runs)}")
    for scheme in SCHEMES:
        r = results[scheme]
        section.add(f"decode_tokens_per_s_{scheme}", f"decode {scheme}: engine", r["engine_tokens_per_s"], "tok/s",
                    f"bare {r['bare_tokens_per_s']:.2f}, floor {r['floor_tokens_per_s']:.2f} tok/s "
                    f"({r['bytes_per_token'] / 1e9:.2f} GB/token)")
    section.add("decode_floor_ratio_int4", "int4 decode / floor", timing.ratio(int4["engine_tokens_per_s"], int4["floor_tokens_per_s"]),
                "", f"engine {int4['engine_tokens_per_s']:.2f} / floor {int4['floor_tokens_per_s']:.2f} tok/s", Goal(">=", 0.8))
    section.add("decode_read_floor_ratio_int4", "int4 decode / read floor",
                timing.ratio(int4["engine_tokens_per_s"], read_bw / int4["bytes_per_token"]), "",
                f"floor at the read bandwidth: {read_bw / int4['bytes_per_token']:.2f} tok/s")
    section.add("engine_vs_bare_decode_ratio", "int4 engine / bare generate", int4["engine_vs_bare"], "",
                f"median of {len(int4['engine_runs'])} alternating pairs of {n} tokens", Goal(">=", 0.97))
    for scheme in SCHEMES:
        p = results[scheme].get("projection")
        if p:
            section.add(f"projected_12b_decode_tokens_per_s_{scheme}", f"12B projected decode {scheme}",
                        p["tokens_per_s"], "tok/s",
                        f"floor {p['floor_tokens_per_s']:.2f} tok/s ({p['bytes_per_token'] / 1e9:.1f} GB/token), "
                        f"ratio {p['floor_ratio']:.2f}; at the read bandwidth "
                        f"{p['tokens_per_s'] / (read_bw / p['bytes_per_token']):.2f}")
    return section


def measure(engine, n: int, repeats: int, project_to_12b: bool = True) -> dict:
    turns = [Turn.user(inputs.TEXT_PROMPT)]
    device = engine.model.device
    bytes_per_token = timing.weight_bytes_per_token(engine.model)
    engine_decode(engine, turns, 4)  # warm up both paths (allocator, kernels, first-call costs)
    bare_decode(engine, turns, 4)
    engine_tps, bare_tps, copy_bw, read_bw = [], [], [], []
    for _ in range(repeats):
        engine_tps.append(engine_decode(engine, turns, n))
        copy_bw.append(timing.copy_bandwidth(device, repeats=3))
        bare_tps.append(bare_decode(engine, turns, n))
        read_bw.append(timing.read_bandwidth(device, repeats=3))
    bandwidth = timing.median(copy_bw)
    floor = bandwidth / bytes_per_token["total"]
    out = {
        "engine_tokens_per_s": timing.median(engine_tps), "bare_tokens_per_s": timing.median(bare_tps),
        "engine_runs": engine_tps, "bare_runs": bare_tps, "bytes_per_token": bytes_per_token["total"],
        "bytes": bytes_per_token, "floor_tokens_per_s": floor, "tokens": n,
        "bandwidth_bytes_per_s": bandwidth, "bandwidth_runs": copy_bw,
        "read_bandwidth_bytes_per_s": timing.median(read_bw), "read_bandwidth_runs": read_bw,
    }
    out["engine_vs_bare"] = timing.median([timing.ratio(e, b) for e, b in zip(engine_tps, bare_tps) if e and b])
    out["floor_ratio"] = timing.ratio(out["engine_tokens_per_s"], floor)
    out["projection"] = project(engine, turns, n, bytes_per_token, bandwidth) if project_to_12b else None
    return out


def engine_decode(engine, turns, n: int) -> float | None:
    engine.forget()
    last = None
    for last in engine.stream(turns, GenerationSettings(max_new_tokens=n, greedy=True, use_draft=False)):
        pass
    return last.stats.tokens_per_s if last and last.stats.generated_tokens > 1 else None


def bare_generate(engine, turns, n: int, **extra):
    model = engine.model
    enc = inputs.encode(engine, turns)
    clock = timing.StepClock(model.device)
    with torch.no_grad():
        model.generate(**inputs.on_device(enc.model_inputs(), model.device), max_new_tokens=n,
                       do_sample=False, temperature=None, top_p=None, top_k=None,
                       eos_token_id=engine.stop_ids, pad_token_id=engine.processor.tokenizer.pad_token_id,
                       streamer=clock, **extra)
    return clock


def bare_decode(engine, turns, n: int) -> float | None:
    return bare_generate(engine, turns, n).tokens_per_s()


def project(engine, turns, n: int, bytes_per_token: dict, bandwidth: float) -> dict | None:
    """Per-layer costs of this slice, scaled to the real 48-layer pattern."""
    with timing.layer_clock(engine.model, engine.model.device) as spans:
        clock = bare_generate(engine, turns, n)
    tps = clock.tokens_per_s()
    if not tps:
        return None
    projected = timing.project_layers(1.0 / tps, spans, engine.model)
    if projected is None:
        return None
    full_bytes = (bytes_per_token["head"] + bytes_per_token["norm"]
                  + sum(bytes_per_token.get(f"per_{k}", 0) * c for k, c in full_pattern().items()))
    tokens_per_s = 1.0 / projected["projected_s"]
    return dict(projected, head_s=timing.median(spans["head"]), steps=len(clock.times) - 1,
                tokens_per_s=tokens_per_s, bytes_per_token=full_bytes, floor_tokens_per_s=bandwidth / full_bytes,
                floor_ratio=tokens_per_s / (bandwidth / full_bytes))


def _spread(runs: list[float]) -> str:
    return f"{min(runs) / 1e9:.1f}-{max(runs) / 1e9:.1f} GB/s" if runs else "not measured"

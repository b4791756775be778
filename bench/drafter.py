"""The MTP drafter: decode speed with and without it, and what one drafted token costs.

Random weights accept no draft (every step keeps only the target's own token), so the measured
"with drafter" speed is the worst case. What transfers to the real model is the cost side:

* drafter forward time per drafted token (a clock on the drafter's forward),
* target step time: plain decoding (1 token) and verifying a draft (k + 1 tokens),

and from them the break-even: how many drafted tokens a step must accept, on average, for
drafting to pay: ``(verify + k x draft) / plain - 1``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from bench import inputs, timing
from bench.report import Section
from inference.conversation import Turn
from inference.generate import GenerationSettings


def run(h) -> Section:
    section = Section("drafter")
    engine = h.engine("int4")
    if engine.assistant is None:
        section.notes.append("no drafter beside the model: nothing to measure")
        return section
    n = h.options.decode_tokens
    turns = [Turn.user(inputs.TEXT_PROMPT)]
    k = int(engine.assistant.generation_config.num_assistant_tokens)
    decode(engine, turns, 4, True), decode(engine, turns, 4, False)  # warm-up
    runs = {True: [], False: []}
    last = {}
    for _ in range(h.options.repeats):
        for draft in (True, False):
            tps, last[draft] = decode(engine, turns, n, draft)
            runs[draft].append(tps)
    with_draft, without = timing.median(runs[True]), timing.median(runs[False])
    costs = step_costs(engine, turns, n)
    verify, plain, draft = costs["verify_s"], costs["plain_s"], costs["draft_s"]
    break_even = (verify + k * draft) / plain - 1 if None not in (verify, plain, draft) else None
    stats = last[True]
    projected = project(h.results.get("decode", {}).get("int4", {}).get("projection"), costs, k)
    h.log(f"drafter: {with_draft:.2f} tok/s with, {without:.2f} without; draft {draft * 1e3:.0f} ms/token")
    section.raw.update(with_runs=runs[True], without_runs=runs[False], draft_length=k, costs=costs, projected_12b=projected,
                       drafted=stats.drafted_tokens, accepted=stats.accepted_tokens, target_steps=stats.target_steps)
    section.add("drafter_tokens_per_s_with", "decode int4 with drafter", with_draft, "tok/s",
                f"accepted {stats.accepted_tokens} of {stats.drafted_tokens} drafted (random weights)")
    section.add("drafter_tokens_per_s_without", "decode int4 without drafter", without, "tok/s", "same engine, alternating")
    section.add("drafter_speed_ratio", "with / without drafter", timing.ratio(with_draft, without), "",
                "worst case: nothing accepted")
    section.add("drafter_ms_per_drafted_token", "drafter forward per drafted token", draft * 1e3 if draft else None, "ms",
                f"target step {plain * 1e3:.0f} ms plain, {verify * 1e3:.0f} ms verifying {k + 1} tokens"
                if plain and verify else "")
    section.add("drafter_draft_vs_target_step_ratio", "drafted token cost / target step", timing.ratio(draft, plain), "", "")
    section.add("drafter_break_even_accepted_per_step", "break-even accepted tokens per step", break_even, "",
                f"of {k} drafted, on this slice; above this the drafter pays")
    if projected:
        section.add("drafter_break_even_accepted_per_step_12b", "12B projected break-even accepted per step",
                    projected["break_even"], "", f"target step {projected['plain_s'] * 1e3:.0f} ms (decode projection)")
    return section


def project(decode_projection: dict | None, costs: dict, k: int) -> dict | None:
    """Break-even on the full model: its projected step, the slice's verify/plain ratio, the same drafter."""
    if not decode_projection or None in (costs["verify_s"], costs["plain_s"], costs["draft_s"]):
        return None
    plain = 1.0 / decode_projection["tokens_per_s"]
    verify = plain * costs["verify_s"] / costs["plain_s"]
    return {"plain_s": plain, "verify_s": verify, "break_even": (verify + k * costs["draft_s"]) / plain - 1}


def decode(engine, turns, n: int, use_draft: bool):
    engine.forget()
    last = None
    for last in engine.stream(turns, GenerationSettings(max_new_tokens=n, greedy=True, use_draft=use_draft)):
        pass
    return last.stats.tokens_per_s, last.stats


def step_costs(engine, turns, n: int) -> dict:
    """Median forward times: target plain step, target verify step, drafter per token."""
    device = engine.model.device
    with clock(engine.model, device) as target, clock(engine.assistant, device) as drafter:
        decode(engine, turns, n, True)
        verify = [s for s, length in target[1:] if length > 1]  # the first call is the prefill
        target.clear()
        decode(engine, turns, n, False)
        plain = [s for s, length in target[1:] if length == 1]
    return {
        "verify_s": timing.median(verify), "plain_s": timing.median(plain),
        "draft_s": timing.median([s for s, _ in drafter]), "draft_calls": len(drafter),
    }


@contextmanager
def clock(module, device):
    """Record (seconds, input length) of every forward call of ``module``."""
    calls: list[tuple[float, int]] = []
    started = []

    def before(_m, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        length = (ids if ids is not None else embeds).shape[1] if (ids is not None or embeds is not None) else 0
        timing.sync(device)
        started.append((time.perf_counter(), length))

    def after(_m, _args, _kwargs, _out):
        timing.sync(device)
        begun, length = started.pop()
        calls.append((time.perf_counter() - begun, length))

    handles = [module.register_forward_pre_hook(before, with_kwargs=True),
               module.register_forward_hook(after, with_kwargs=True)]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()

"""The output head: what an int8 (untied) lm_head would save per decoded token.

The engine keeps the tied 262144 x 3840 head in bf16 (quantizing it needs an untied copy, +1 GB
on disk and in memory at int8). Every decoded token multiplies the last hidden state by the whole
head, so its bytes are read once a token: 2 GB in bf16, 1 GB in int8. Measured here on the
slice's own head: the head matmul alone, bf16 vs a quanto int8 copy (and int4 for reference),
one token at a time, alternating. Each runs the kernel the engine would give it: the bf16 head is
the engine's own (``inference.bf16_gemv``; torch's one-row matmul took 125-160 ms for it on a Zen
4), and the copies are routed as the loader routes a model's int8 and int4 layers
(``quant.route_int8``, ``quant.route_int4``).
"""

from __future__ import annotations

import copy
import time

import torch

from bench import timing
from bench.report import Section


def run(h) -> Section:
    section = Section("head")
    engine = h.engine("int4")  # its head is the bf16 tied one, like every scheme's
    head = engine.model.lm_head
    device = head.weight.device
    quantized = {"bf16": head}
    from inference import quant

    for scheme in ("int8", "int4"):
        quantized[scheme] = quantize_copy(head, scheme)
    quant.route_int8(quantized["int8"])
    quant.route_int4(quantized["int4"])
    x = torch.randn(1, 1, head.in_features, dtype=head.weight.dtype, device=device)
    runs = {name: [] for name in quantized}
    with torch.no_grad():
        for module in quantized.values():
            module(x)  # warm-up
        for _ in range(max(5, 3 * h.options.repeats)):
            for name, module in quantized.items():
                timing.sync(device)
                start = time.perf_counter()
                module(x)
                timing.sync(device)
                runs[name].append(time.perf_counter() - start)
    ms = {name: timing.median(r) * 1e3 for name, r in runs.items()}
    sizes = {name: timing.module_bytes(m) for name, m in quantized.items()}
    del quantized
    step = h.results.get("decode", {}).get("int4", {}).get("projection")
    saving = ms["bf16"] - ms["int8"]
    section.raw.update(ms=ms, bytes=sizes, runs=runs)
    section.add("head_bf16_ms_per_token", "lm_head matmul, bf16", ms["bf16"], "ms", f"{sizes['bf16'] / 1e9:.2f} GB read")
    section.add("head_int8_ms_per_token", "lm_head matmul, int8", ms["int8"], "ms", f"{sizes['int8'] / 1e9:.2f} GB read")
    section.add("head_int4_ms_per_token", "lm_head matmul, int4", ms["int4"], "ms", f"{sizes['int4'] / 1e9:.2f} GB read")
    section.add("head_int8_saving_ms_per_token", "int8 head saves per decoded token", saving, "ms",
                f"{saving / (1e3 / step['tokens_per_s']):.0%} of a projected 12B int4 step" if step else "")
    return section


def quantize_copy(head: torch.nn.Linear, scheme: str) -> torch.nn.Module:
    """An untied quanto copy of the head (the original stays as it is)."""
    from optimum.quanto import freeze, qint4, qint8, quantize

    from inference import quant_kernels, quant

    quant_kernels.prepare()
    module = torch.nn.Sequential(copy.deepcopy(head))
    quantize(module, weights={"int8": qint8, "int4": qint4}[scheme])
    freeze(module)
    quant.align_weights(module)
    return module

"""Will the model fit? Memory needed per quantization scheme, estimated before loading.

The estimate is built from the safetensors headers (every tensor's shape) and config.json:

* weights: the decoder layers' 2-D projection weights are what gets quantized (``.layers.`` and
  ``_proj.weight``); everything else (embeddings, norms, the vision and audio embedders) stays in
  the compute dtype, and a tied ``lm_head`` is counted once. optimum-quanto stores int8 as one
  byte per weight plus a per-row scale, int4 as half a byte plus a scale and shift per group of
  up to 128 weights (per row when the row does not split into groups), in the compute dtype;
* the KV cache for the context: sliding-window layers keep at most ``sliding_window`` tokens,
  full-attention layers keep them all (with their own head size and KV-head count); layers that
  reuse another layer's K/V keep nothing;
* the drafter, which inference/loader.py loads unquantized in the compute dtype (it keeps no KV
  cache of its own: it reads the target's), and a fixed allowance for torch and activations.

``available_memory`` is the one place that imports torch, lazily (CUDA / MPS only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference.errors import ModelDoesNotFit
from inference.safetensors_header import DTYPE_BITS, FLOAT_DTYPES
from inference.sizes import human_size, human_sizes
from inference.verify import ASSISTANT_TYPE, ModelReport

SCHEMES = ("none", "int8", "int4")  # most precise first
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
RUNTIME_OVERHEAD = 1 << 30  # torch runtime, a prefill chunk's activations, tokenizer and processor
QUANTO_MAX_GROUP = 128


def is_quantized_weight(name: str, shape: tuple[int, ...]) -> bool:
    """True for the weights Seesay quantizes: the decoder layers' Linear projections."""
    return len(shape) == 2 and ".layers." in name and name.endswith("_proj.weight")


def quanto_group_size(in_features: int) -> int | None:
    """The int4 group size optimum-quanto picks for a row of ``in_features`` (None: one per row)."""
    group = QUANTO_MAX_GROUP
    if in_features <= group:
        return None
    while in_features % group and group > 32:
        group -= 32
    return group if in_features % group == 0 else None


def tensor_bytes(name: str, dtype: str, shape: tuple[int, ...], scheme: str, compute_bytes: int) -> int:
    """Resident bytes of one checkpoint tensor once loaded under ``scheme``."""
    numel = math.prod(shape)
    if scheme != "none" and is_quantized_weight(name, shape):
        rows = shape[0]
        io_scales = 2 * compute_bytes  # the module's input and output scale scalars
        if scheme == "int8":
            return numel + rows * compute_bytes + io_scales
        group = quanto_group_size(numel // rows if rows else 0)
        groups = numel // group if group else rows
        return (numel + 1) // 2 + groups * 2 * compute_bytes + io_scales
    if dtype in FLOAT_DTYPES:
        return numel * compute_bytes
    return (numel * DTYPE_BITS.get(dtype, 8) + 7) // 8  # integer buffers keep their own type


def weight_bytes(report: ModelReport, scheme: str, dtype: str = "bfloat16") -> int:
    tied = report.config.get("tie_word_embeddings", report.text_config.get("tie_word_embeddings", True))
    compute = DTYPE_BYTES[dtype]
    return sum(
        tensor_bytes(name, st_dtype, shape, scheme, compute)
        for name, (st_dtype, shape) in report.tensors.items()
        if not (tied and name.endswith("lm_head.weight"))
    )


@dataclass(frozen=True)
class AttentionLayer:
    sliding: bool
    head_dim: int
    kv_heads: int
    keeps_cache: bool  # False for layers that reuse an earlier layer's K/V


def attention_layers(config: dict) -> list[AttentionLayer]:
    """Each decoder layer's K/V geometry, read from config.json the way transformers builds it."""
    text = config.get("text_config") or {}
    n = int(text.get("num_hidden_layers", 30))
    types = list(text.get("layer_types") or [
        "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n)
    ])[:n]
    types[-1] = "full_attention"  # transformers forces the last layer to full attention
    head_dim, kv_heads = int(text.get("head_dim", 256)), int(text.get("num_key_value_heads", 4))
    if "per_layer_config" in text:  # as saved by transformers 5
        overrides = {int(k): v or {} for k, v in (text["per_layer_config"] or {}).items()}
    else:  # as published: global_* keys for the full-attention layers
        full = {"head_dim": text.get("global_head_dim", 512)}
        if text.get("attention_k_eq_v", False) and text.get("num_global_key_value_heads") is not None:
            full["num_key_value_heads"] = text["num_global_key_value_heads"]
        overrides = {i: full for i, t in enumerate(types) if t == "full_attention"}
    shared = int(text.get("num_kv_shared_layers", 0) or 0)
    if config.get("model_type") == ASSISTANT_TYPE and not shared:
        shared = n  # the drafter reads the target's K/V in every layer
    return [
        AttentionLayer(
            sliding=t == "sliding_attention",
            head_dim=int(overrides.get(i, {}).get("head_dim", head_dim)),
            kv_heads=int(overrides.get(i, {}).get("num_key_value_heads", kv_heads)),
            keeps_cache=i < n - shared,
        )
        for i, t in enumerate(types)
    ]


def kv_cache_bytes(config: dict, context_tokens: int, dtype: str = "bfloat16") -> int:
    text = config.get("text_config") or {}
    window = int(text.get("sliding_window", 1024))
    if text.get("use_bidirectional_attention") == "all":
        window = window // 2 + 1  # as transformers does for fully bidirectional models
    total = 0
    for layer in attention_layers(config):
        if layer.keeps_cache:
            tokens = min(context_tokens, window) if layer.sliding else context_tokens
            total += 2 * layer.kv_heads * layer.head_dim * tokens * DTYPE_BYTES[dtype]
    return total


@dataclass(frozen=True)
class MemoryEstimate:
    scheme: str
    weights: int
    kv_cache: int
    drafter: int  # the drafter's weights and cache; 0 without one
    overhead: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.drafter + self.overhead


def estimate(
    report: ModelReport, scheme: str, context_tokens: int,
    assistant_report: ModelReport | None = None, dtype: str = "bfloat16",
) -> MemoryEstimate:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization {scheme!r}; expected one of {', '.join(SCHEMES)}")
    drafter = 0
    if assistant_report is not None:  # loaded unquantized, whatever the scheme
        drafter = weight_bytes(assistant_report, "none", dtype) + kv_cache_bytes(
            assistant_report.config, context_tokens, dtype
        )
    return MemoryEstimate(
        scheme=scheme,
        weights=weight_bytes(report, scheme, dtype),
        kv_cache=kv_cache_bytes(report.config, context_tokens, dtype),
        drafter=drafter,
        overhead=RUNTIME_OVERHEAD,
    )


def default_compute_dtype(device: str) -> str:
    """The dtype the loader will pick on ``device`` (inference.device.choose_dtype)."""
    if device.split(":")[0] == "cpu":
        return "bfloat16"
    import torch

    from inference.device import choose_dtype

    return str(choose_dtype(torch.device(device))).removeprefix("torch.")


def available_memory(device: str) -> int:
    """Bytes free for the model on ``device`` ("cpu", "cuda", "cuda:1", "mps") right now."""
    import psutil

    kind = device.split(":")[0]
    if kind == "cpu":
        return int(psutil.virtual_memory().available)
    import torch  # only GPUs need it

    if kind == "cuda":
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if kind == "mps":
        budget = torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
        return int(min(budget, psutil.virtual_memory().available))
    raise ValueError(f"unknown device {device!r}")


@dataclass(frozen=True)
class FitResult:
    model_name: str
    scheme: str  # the scheme asked for
    device: str
    dtype: str
    context_tokens: int
    estimates: dict[str, MemoryEstimate]  # every scheme, with the drafter if one was given
    available: int
    fits: bool
    message: str  # one or two sentences for the user; says what would fit when this does not
    assistant: ModelReport | None = None

    @property
    def needed(self) -> dict[str, int]:
        return {scheme: e.total for scheme, e in self.estimates.items()}


def fit_check(
    report: ModelReport, quant: str, device: str, context_tokens: int,
    assistant_report: ModelReport | None = None, *, dtype: str | None = None, available: int | None = None,
) -> FitResult:
    """Estimate every scheme and compare the chosen one with the memory free on ``device``."""
    dtype = dtype or default_compute_dtype(device)
    estimates = {s: estimate(report, s, context_tokens, assistant_report, dtype) for s in SCHEMES}
    if quant not in estimates:
        raise ValueError(f"unknown quantization {quant!r}; expected one of {', '.join(SCHEMES)}")
    free = available_memory(device) if available is None else available
    need = estimates[quant].total
    fits = need <= free
    need_text, free_text = human_sizes(need, free)
    if fits:
        message = f"{report.name} fits in memory with {quant}: it needs {need_text} and {free_text} is free."
    else:
        message = (
            f"{report.name} does not fit in memory with {quant}: it needs {need_text} and {free_text} is free. "
            + _what_would_fit(estimates, quant, free, assistant_report is not None)
        )
    return FitResult(
        report.name, quant, device, dtype, context_tokens, estimates, free, fits, message, assistant_report
    )


def require_fit(
    report: ModelReport, quant: str, device: str, context_tokens: int,
    assistant_report: ModelReport | None = None, *, dtype: str | None = None, available: int | None = None,
) -> FitResult:
    """fit_check, raising ModelDoesNotFit (with what would fit) when the chosen scheme does not."""
    result = fit_check(
        report, quant, device, context_tokens, assistant_report, dtype=dtype, available=available
    )
    if not result.fits:
        raise ModelDoesNotFit(result.message)
    return result


def _what_would_fit(estimates: dict[str, MemoryEstimate], quant: str, free: int, drafter: bool) -> str:
    options = [(s, keep) for s in SCHEMES for keep in ((True, False) if drafter else (True,))]
    for scheme, keep in options:
        e = estimates[scheme]
        need = e.total if keep else e.total - e.drafter
        if need > free or (scheme == quant and keep):
            continue
        if scheme == quant:
            return (
                f"Without the drafter it fits ({human_size(need)}). "
                "Turn the drafter off in Settings, or close other programs."
            )
        if keep:
            return f"{scheme} fits ({human_size(need)}). Choose {scheme} in Settings, or close other programs."
        return (
            f"{scheme} without the drafter fits ({human_size(need)}). Choose {scheme} and turn the drafter off "
            "in Settings, or close other programs."
        )
    smallest = estimates[SCHEMES[-1]]
    least = smallest.total - smallest.drafter
    return (
        f"Even {SCHEMES[-1]}{' without the drafter' if drafter else ''} needs {human_size(least)}. "
        "Close other programs, shorten the context in Settings, or use a computer with more memory."
    )


def describe(report: ModelReport, fit: FitResult) -> str:
    """The multi-line report ``seesay check`` prints."""
    arch = ", ".join(report.config.get("architectures") or []) or "unknown architecture"
    drafter = f"found: {fit.assistant.name} at {fit.assistant.path}" if fit.assistant else "not found"
    lines = [
        f"Model:     {report.name} at {report.path}",
        f"Type:      {report.model_type} ({arch})",
        f"Revision:  {report.revision}",
        f"Weights:   {len(report.shards)} shard(s) OK, {len(report.tensors)} tensors, "
        f"{human_size(report.total_bytes)} on disk",
        f"Drafter:   {drafter}",
    ]
    lines += [f"Warning:   {p}" for p in report.problems + (fit.assistant.problems if fit.assistant else [])]
    lines.append(
        f"Memory on {fit.device} ({fit.dtype}, {fit.context_tokens}-token context, {human_size(fit.available)} free):"
    )
    for scheme, e in fit.estimates.items():
        verdict = "fits" if e.total <= fit.available else "does not fit"
        chosen = "  <- chosen" if scheme == fit.scheme else ""
        parts = f"weights {human_size(e.weights)}, KV cache {human_size(e.kv_cache)}"
        parts += f", drafter {human_size(e.drafter)}" if fit.assistant else ""
        lines.append(
            f"  {scheme:<5} {human_size(e.total):>9}  {verdict:<12} ({parts}, runtime {human_size(e.overhead)}){chosen}"
        )
    lines.append(fit.message)
    return "\n".join(lines)

"""Measuring helpers shared by the sections: clocks, memory bandwidth, bytes per token, hooks.

Everything here measures; nothing asserts. On CUDA every clock reading is preceded by a
synchronize, so a figure is the time the work took, not the time it took to queue it.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from transformers.generation.streamers import BaseStreamer


def sync(device) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b) -> float | None:
    return a / b if a is not None and b else None


def copy_bandwidth(device, nbytes: int = 2 << 30, repeats: int = 5) -> float:
    """Memory bandwidth in bytes/s by the STREAM "copy" convention: (bytes read + bytes written) / time.

    The buffer (2 GiB by default) is far larger than any last-level cache, so this is DRAM (or
    HBM) speed, the ceiling that decoding, which streams every weight once a token, runs into.
    """
    src = torch.ones(nbytes // 2, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # first touch: page faults are not bandwidth
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        sync(device)
        times.append(time.perf_counter() - start)
    del src, dst
    return nbytes / min(times)


def read_bandwidth(device, nbytes: int = 2 << 30, repeats: int = 5) -> float:
    """Bytes read per second by a reduction over a buffer far larger than any cache (``max`` of
    uint8: nothing written). Decoding only reads its weights, and on this machine a read-only
    stream runs at ~0.9x the copy convention's figure, so this is the tighter ceiling."""
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    src.max()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        src.max()
        sync(device)
        times.append(time.perf_counter() - start)
    del src
    return nbytes / min(times)


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes a tensor occupies, counting quanto's packed data + scales (+ shifts)."""
    inner = [getattr(t, n) for n in ("_data", "_scale", "_shift") if isinstance(getattr(t, n, None), torch.Tensor)]
    if inner:
        return sum(tensor_bytes(x) for x in inner)
    return t.numel() * t.element_size()


def module_bytes(module: torch.nn.Module) -> int:
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += tensor_bytes(t)
    return total


def decoder(model):
    """The text decoder of a Gemma4Unified model (its ``layers``, ``norm``, ``embed_tokens``)."""
    return model.model.language_model


def weight_bytes_per_token(model) -> dict[str, int]:
    """Bytes of weights one decoding step reads: every decoder layer, the final norm and the head
    (an embedding row is gathered, not read whole; the image and audio embedders do not run)."""
    lm = decoder(model)
    per_kind: dict[str, list[int]] = {}
    for kind, layer in zip(lm.config.layer_types, lm.layers):
        per_kind.setdefault(kind, []).append(module_bytes(layer))
    head = tensor_bytes(model.lm_head.weight)
    layers = sum(sum(v) for v in per_kind.values())
    return {
        "layers": layers, "head": head, "norm": module_bytes(lm.norm), "total": layers + head + module_bytes(lm.norm),
        **{f"per_{kind}": int(statistics.mean(v)) for kind, v in per_kind.items()},
    }


class StepClock(BaseStreamer):
    """A streamer that only notes when each generated token arrives (no queue, no decoding)."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.times: list[float] = []
        self._prompt_seen = False

    def put(self, value):
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        sync(self.device)
        self.times.append(time.perf_counter())

    def end(self):
        pass

    def tokens_per_s(self) -> float | None:
        if len(self.times) < 2:
            return None
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


@contextmanager
def layer_clock(model, device, *, prefill: bool = False):
    """Time each decoder layer and the head; yields a dict of lists of seconds by layer kind.

    Layers are timed on single-token calls (decoding), or with ``prefill`` on longer ones; the
    head always (it sees one token either way).
    """
    device = torch.device(device)
    lm = decoder(model)
    spans: dict[str, list[float]] = {"head": []}
    handles = []

    def watch(module, key):
        started = []

        def before(_module, args, kwargs):
            hidden = args[0] if args else next(iter(kwargs.values()))
            if key == "head" or (hidden.shape[1] > 1) == prefill:
                sync(device)
                started.append(time.perf_counter())

        def after(_module, _args, _kwargs, _out):
            if started:
                sync(device)
                spans.setdefault(key, []).append(time.perf_counter() - started.pop())

        handles.append(module.register_forward_pre_hook(before, with_kwargs=True))
        handles.append(module.register_forward_hook(after, with_kwargs=True))

    for kind, layer in zip(lm.config.layer_types, lm.layers):
        watch(layer, kind)
    watch(model.lm_head, "head")
    try:
        yield spans
    finally:
        for handle in handles:
            handle.remove()


def project_layers(total_s: float, spans: dict, model) -> dict | None:
    """Scale a measured pass to the real 48-layer pattern: replace this slice's layers by the full
    model's, keep everything else (embedding, head, generate loop) as measured."""
    from bench.models import full_pattern

    kinds = [k for k in spans if k != "head" and spans[k]]
    if not kinds:
        return None
    types = model.config.get_text_config().layer_types
    per_layer = {k: statistics.median(spans[k]) for k in kinds}
    layers = sum(per_layer[k] * types.count(k) for k in kinds)
    full = sum(per_layer.get(k, 0.0) * c for k, c in full_pattern().items())
    return {"measured_s": total_s, "per_layer_s": per_layer, "slice_layers_s": layers,
            "other_s": total_s - layers, "projected_s": total_s - layers + full}


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss

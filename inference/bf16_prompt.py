"""Prompts through bf16 weights on CPUs without a bf16 GEMM: float32 a slice of the weight at a time.

oneDNN has bf16 matrix instructions only with AVX512-BF16 or AMX; elsewhere (AVX2 CPUs: AMD Zen
2/3, Intel client CPUs) torch's bf16 GEMM is emulated, ~7x slower than float32: one 3840 x 15360
matmul of a 453-token prompt took 2.5 s on a 2-core Zen 3 EPYC, against 0.43 s converting the
weight to float32 ``SLICE_ROWS`` rows at a time and multiplying in float32 (the conversion costs
~30 ms a matmul, so from ``FROM_ROWS`` input rows on: below it bf16 is faster). Both sum in float32
and round the result to bf16, so the outputs agree within that rounding.

``route_linears`` gives every plain bf16 ``nn.Linear`` of a model on such a CPU this path for
inputs of ``FROM_ROWS`` rows or more without autograd: with quantization none every layer; with
int8 / int4 the modules kept in bf16. Shorter inputs keep the forward they had (the head kernel for
decoding, ``bf16_gemv``). CPUs with a bf16 GEMM, and other devices, are left as they are.
"""

from __future__ import annotations

import functools

import torch

FROM_ROWS = 16  # 3840 x 15360 on Zen 3: 8 rows 46 ms bf16 / 62 float32; 16 rows 91 / 62; 453: 2480 / 430
SLICE_ROWS = 256  # weight rows converted at a time: 15 MB of float32 for the widest input (15360)


@functools.cache
def needed() -> bool:
    """Whether this CPU lacks a bf16 GEMM (no AVX512-BF16, no AMX)."""
    cpu = getattr(torch, "cpu", None)
    has = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not all(callable(f) for f in has):
        return False  # an unknown torch: leave its GEMM alone
    return not any(f() for f in has)


def route_linears(*models) -> int:
    """Route the plain bf16 CPU ``nn.Linear`` modules of ``models``; returns how many."""
    from inference.bf16_gemv import plain_linears

    if not needed():
        return 0
    routed = 0
    for module in plain_linears(*models):
        module.forward = _routed_forward(module, module.forward)
        routed += 1
    return routed


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight.T + bias`` in float32, ``SLICE_ROWS`` weight rows at a time; bf16 out."""
    flat = x.reshape(-1, x.shape[-1]).float()
    out = torch.empty(flat.shape[0], weight.shape[0], dtype=x.dtype)
    for n0 in range(0, weight.shape[0], SLICE_ROWS):
        w = weight[n0:n0 + SLICE_ROWS].float()
        part = torch.addmm(bias[n0:n0 + SLICE_ROWS].float(), flat, w.T) if bias is not None else flat @ w.T
        out[:, n0:n0 + SLICE_ROWS] = part
    return out.view(*x.shape[:-1], weight.shape[0])


def _routed_forward(module: torch.nn.Linear, previous_forward):
    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = module.weight  # read at each call: a reload or re-tie replaces it
        if (x.dtype == torch.bfloat16 and x.device.type == "cpu" and weight.dtype == torch.bfloat16
                and x.numel() // max(1, x.shape[-1]) >= FROM_ROWS and not torch.is_grad_enabled()):
            return linear(x, weight, module.bias)
        return previous_forward(x)

    return forward

"""int8 weights (quanto's qint8: int8 [N, K] and a bf16 scale per row) times bf16 inputs, on the CPU.

quanto's int8 path is torch's ``_weight_int8pack_mm``, which widens every weight to float: ~15 GB/s
at one row on an AVX2 Zen 3 that reads ~26, so the 12B's int8 decode was projected at 0.44 of its
floor there (bench/README.md, 2026-12-03). ``linear`` (``native/bf16_gemv.cpp``, in the same
prebuilt library as the bf16 head kernel) quantizes each input row to int16 (absmax / 32767) and
multiplies it by the int8 weights as integers, exactly, with VPMADDWD (AVX2): ~21 GB/s at one row;
prompts, two input rows per widened weight, take 0.37-0.49 of torch's time at 43 and 453 rows.
CPUs with AVX512-VNNI take 32 weights an instruction (VPDPWSSD) instead of 16.
``quant.route_int8`` gives it quanto's int8 layers, for inputs of any length. The int16 input
differs from the bf16 one by at most 1.5e-5 of the row's largest value, where bf16 itself rounds
each value by up to 2^-9 of it. A NaN or inf input gives NaN. ``reference`` computes the same in
float64 for the tests and the load check.
"""

from __future__ import annotations

import torch

from inference import bf16_gemv


def available() -> bool:
    return bf16_gemv.available() and bf16_gemv.library().int8_supported()


def describe() -> str:
    if not available():
        return "torch's _weight_int8pack_mm (no AVX2, or not built)"
    return "prebuilt, AVX512-VNNI" if bf16_gemv.library().int8_avx512_supported() else "prebuilt, AVX2"


def linear(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``(x @ weight.T) * scale + bias`` for bf16 ``x [..., K]``, an int8 ``weight [N, K]`` and bf16
    ``scale`` (``[N]`` or quanto's ``[N, 1]``) and ``bias [N]``."""
    flat = x.reshape(-1, x.shape[-1]).contiguous()
    return bf16_gemv.library().linear_int8(flat, weight, scale, bias).view(*x.shape[:-1], weight.shape[0])


def reference(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
              bias: torch.Tensor | None = None) -> torch.Tensor:
    """What ``linear`` computes, in float64 (slow): each row of ``x`` quantized to int16 by its
    absmax, times the int8 weight, scaled back."""
    xd = x.double()
    absmax = xd.abs().amax(-1, keepdim=True)
    xq = torch.where(absmax > 0, torch.round(xd * 32767 / absmax.clamp_min(1e-300)), torch.zeros_like(xd))
    out = (xq @ weight.double().T) * (absmax / 32767) * scale.double().reshape(-1)
    return out if bias is None else out + bias.double()


def check(module) -> None:
    """The library's int8 kernel against ``reference``: a partial block of rows, past the 2048
    features after which its int32 sums are flushed, a bias (``bf16_gemv._check`` calls it)."""
    generator = torch.Generator().manual_seed(4)
    weight = torch.randint(-128, 128, (70, 2100), generator=generator, dtype=torch.int8)
    x = torch.randn(3, 2100, generator=generator).to(torch.bfloat16)
    scale = torch.rand(70, 1, generator=generator).to(torch.bfloat16)
    bias = torch.randn(70, generator=generator).to(torch.bfloat16)
    for use_avx512 in (True, False):  # each path the CPU has
        got = module.linear_int8(x, weight, scale, bias, use_avx512)
        assert torch.allclose(got.double(), reference(x, weight, scale, bias), rtol=1 / 128, atol=1e-2), \
            "wrong int8 product"

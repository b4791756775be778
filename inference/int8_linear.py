"""int8 weights (quanto's qint8: int8 [N, K] and a bf16 scale per row) times bf16 inputs, on the CPU.

quanto's int8 path is torch's ``_weight_int8pack_mm``, which widens every weight to float: ~15 GB/s
at one row on an AVX2 Zen 3 that reads ~26, so the 12B's int8 decode was projected at 0.44 of its
floor there (bench/README.md, 2026-12-03). ``linear`` (``native/bf16_gemv.cpp``, in the same
prebuilt library as the bf16 head kernel) quantizes each input row to int16 (absmax / 32767) and
multiplies it by the int8 weights as integers, exactly, with VPMADDWD (AVX2): ~21 GB/s at one row;
prompts, two input rows per widened weight, take 0.37-0.49 of torch's time at 43 and 453 rows.
CPUs with AVX512-VNNI take 32 weights an instruction (VPDPWSSD) instead of 16.

Prompts on CPUs with a bf16 GEMM (AVX512-BF16 or AMX): the integer kernel is a matrix-vector
kernel, ~180 G multiply-adds a second on 2 cores, where oneDNN's AMX bf16 GEMM does one 3840 x
15360 matmul of 453 rows in ~31 ms against its ~250 ms. From ``gemm_from_rows()`` rows on,
``through_gemm`` widens ``SLICE_ROWS`` weight rows at a time to bf16 (exact: bf16 holds every
int8), multiplies them with torch's GEMM while in cache and scales the result: the weights are
quanto's exactly, as in the integer kernel, and the result is rounded twice instead of once.
On a 2-core Sapphire Rapids, 3840 x 15360: 39-42 ms at 453 rows (1.3x a bf16 weight's time,
against 223-256 ms for the integer kernel), 15-16 against 19 at 43 rows, even at 32, slower below.

``quant.route_int8`` gives it quanto's int8 layers, for inputs of any length. The int16 input
differs from the bf16 one by at most 1.5e-5 of the row's largest value, where bf16 itself rounds
each value by up to 2^-9 of it. A NaN or inf input gives NaN. ``reference`` computes the same in
float64 for the tests and the load check.
"""

from __future__ import annotations

import functools

import torch

from inference import bf16_gemv, bf16_prompt

AMX_GEMM_FROM_ROWS = 32  # 3840 x 15360 on SPR: 16 rows 7.2-7.8 ms integer, 13-21 GEMM; 32 rows 13-14 both
GEMM_FROM_ROWS = 96  # AVX512-BF16 without AMX: as int4_int8.VNNI_MAX_ROWS (not measured for int8)
SLICE_ROWS = 1024  # slices of 448-640 rows ran at half speed in oneDNN on SPR; 256 and 1024 alike


def available() -> bool:
    return bf16_gemv.available() and bf16_gemv.library().int8_supported()


@functools.cache
def gemm_from_rows() -> int | None:
    """From how many input rows on the int8 weights go to torch's bf16 GEMM, in slices; None on
    CPUs without a bf16 GEMM."""
    if not available() or bf16_prompt.needed():
        return None
    amx = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", lambda: False)()
    return AMX_GEMM_FROM_ROWS if amx else GEMM_FROM_ROWS


def describe() -> str:
    if not available():
        return "torch's _weight_int8pack_mm (no AVX2, or not built)"
    isa = "AVX512-VNNI" if bf16_gemv.library().int8_avx512_supported() else "AVX2"
    from_rows = gemm_from_rows()
    return f"prebuilt, {isa}" + (f", bf16 GEMM from {from_rows} rows" if from_rows else "")


def linear(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``(x @ weight.T) * scale + bias`` for bf16 ``x [..., K]``, an int8 ``weight [N, K]`` and bf16
    ``scale`` (``[N]`` or quanto's ``[N, 1]``) and ``bias [N]``."""
    flat = x.reshape(-1, x.shape[-1]).contiguous()
    from_rows = gemm_from_rows()
    if from_rows is not None and flat.shape[0] >= from_rows:
        out = through_gemm(flat, weight, scale, bias)
    else:
        out = bf16_gemv.library().linear_int8(flat, weight, scale, bias)
    return out.view(*x.shape[:-1], weight.shape[0])


def through_gemm(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                 bias: torch.Tensor | None = None) -> torch.Tensor:
    """The same for bf16 ``x [M, K]`` through torch's bf16 GEMM, ``SLICE_ROWS`` weight rows widened
    to bf16 at a time (for CPUs with a bf16 GEMM)."""
    scale = scale.reshape(-1)
    out = torch.empty(x.shape[0], weight.shape[0], dtype=x.dtype)
    for n0 in range(0, weight.shape[0], SLICE_ROWS):
        n1 = min(n0 + SLICE_ROWS, weight.shape[0])
        product = x @ weight[n0:n1].to(torch.bfloat16).T
        out[:, n0:n1] = product * scale[n0:n1] if bias is None else torch.addcmul(bias[n0:n1], product, scale[n0:n1])
    return out


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
    expected = reference(x, weight, scale, bias)
    for use_avx512 in (True, False):  # each path the CPU has
        got = module.linear_int8(x, weight, scale, bias, use_avx512)
        assert torch.allclose(got.double(), expected, rtol=1 / 128, atol=1e-2), "wrong int8 product"

"""int4 weights times int8-quantized inputs: decoding, follow-ups, audio while speaking, prefill.

torch's int4 CPU kernel converts each weight to float before multiplying: one decoding step reads
the weights at ~15 GB/s where this machine reads 25, and 25 input rows cost 25 times one.
``linear`` (a prebuilt C++ kernel, ``native/int4_int8.cpp``) quantizes the input rows to int8 per
weight group and multiplies the 4-bit weights by them as integers, reading torch's own packed
layout, so nothing is repacked and torch's kernel stays the fallback:

* AVX512-VNNI (Ice Lake, Sapphire Rapids, Zen 4...): ~20 GB/s at one row, 1.3x torch; each
  further row costs ~0.2-0.4 of the first. On a CPU with AMX it is used below ``VNNI_MAX_ROWS``
  (for groups AMX cannot take), since unpacking to bf16 for the AMX-BF16 GEMM is faster beyond.
  Without AMX the bf16 GEMM has no tiles either, and VNNI is the fastest at every length
  (3840 x 15360 on a 2-core AMD EPYC, Zen 4: 43 rows 12 ms, against 75 unpacked and 20 for a bf16
  weight; 453 rows 110 ms against 169 and 155; 1024 rows 246 against 366 and 327), so there it
  takes every input;
* AMX-INT8 (Sapphire Rapids and later) from ``AMX_FROM_ROWS`` rows: 16 x 16 x 64 products per
  instruction, so 43 rows cost twice one row and 453 rows less than the bf16 GEMM.
* AVX2 (Zen 2/3, Intel client CPUs; torch packs 32-row blocks there, ``native/int4_int8_avx2.h``):
  VPMADDUBSW, a group's weights unpacked once into L1 for every input row. 3840 x 15360 on a
  2-core AMD EPYC (Zen 3): one row 1.0 ms (29 GB/s) against torch's 4.3; 43 rows 15 ms against
  60, and 231 for a bf16 weight (oneDNN has no bf16 GEMM without AVX512-BF16 or AMX); 453 rows
  175 ms against 2560 bf16. It takes every length.

On an AMX CPU longer inputs go to ``int4_unpack`` (bf16). The result is the exact dot product of the dequantized
weight with the input quantized per weight group (absmax / 127 per 128 features; llama.cpp's 4-bit
K-quant kernels quantize activations per 256): ~0.7 % relative error per matmul on random inputs,
against several % for the 4-bit weights themselves. A NaN or inf input gives NaN, as torch's kernel
would. ``reference`` computes the same in float64 for the tests and the load check.
"""

from __future__ import annotations

import functools

import torch

from inference import int4_unpack

LIBRARY = "seesay_int4_int8"  # built by packaging/quanto_ext/build_ext.py beside the others
BLOCK_ROWS = 64  # torch's layout on AVX-512 machines: the VNNI / AMX kernel
AVX2_BLOCK_ROWS = 32  # torch's layout on AVX2 machines: the AVX2 kernel
AMX_FROM_ROWS = 8  # AMX beats VNNI from here (3840 x 15360: 1.9 vs 2.2 ms at 8 rows)
VNNI_MAX_ROWS = 96  # on an AMX CPU (groups AMX cannot take): from here the bf16 unpack is faster
ANY_LENGTH = 1 << 62  # without AMX: VNNI beats the bf16 unpack at every length (docstring)
AMX_MAX_ROWS = 1024  # with AMX: 30 ms at 453 rows vs 37 unpacked (32 bf16), 73 vs 70 at 1038


@functools.cache
def library():
    """The prebuilt kernel if this CPU can run it on torch's layout here and it matches
    ``reference``; else None."""
    from inference import quant_kernels

    if int4_unpack.block_rows() not in (BLOCK_ROWS, AVX2_BLOCK_ROWS):
        return None
    module = quant_kernels.load_prebuilt(LIBRARY, _check)
    return module if module is not None and _runs(module, int4_unpack.block_rows()) else None


def _runs(module, block_rows: int) -> bool:
    """Whether ``module`` has a kernel for ``block_rows``-row blocks on this CPU."""
    return module.supported() if block_rows == BLOCK_ROWS else module.avx2_supported()


def available() -> bool:
    return library() is not None


def describe() -> str:
    """Which kernel runs here, for the engine's report."""
    lib = library()
    if lib is None:
        return "not used (no AVX2 or AVX512-VNNI, or not built)"
    if int4_unpack.block_rows() == AVX2_BLOCK_ROWS:
        return "prebuilt, AVX2"
    return "prebuilt, AMX" if _amx() else "prebuilt, VNNI"


def max_rows(group: int = 128) -> int:
    """Inputs of fewer rows than this go to ``linear``; longer ones are faster unpacked to bf16.
    AMX runs groups of 64 to 256 features (whole 64-feature tiles); other groups use VNNI. Without
    AMX every length goes to ``linear`` (``ANY_LENGTH``)."""
    lib = library()
    if lib is None:
        return 0
    if not _amx():
        return ANY_LENGTH
    return AMX_MAX_ROWS if group % 64 == 0 and group <= 256 else VNNI_MAX_ROWS


@functools.cache
def _amx() -> bool:
    return int4_unpack.block_rows() == BLOCK_ROWS and library().amx_supported()


def supports(packed: torch.Tensor, group: int) -> bool:
    """Whether ``linear`` can take this packed weight (torch's CPU layout in blocks it reads)."""
    return (int4_unpack.supports(packed, group) and int4_unpack.block_rows() in (BLOCK_ROWS, AVX2_BLOCK_ROWS)
            and group % 16 == 0)


def linear(x: torch.Tensor, packed: torch.Tensor, scale_shift: torch.Tensor, group: int,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ W.T + bias`` for bf16 ``x`` and a weight packed in torch's CPU int4 layout."""
    k = packed.shape[1] * 2
    flat = x.reshape(-1, k).contiguous()
    out = library().linear(flat, packed, scale_shift, group, bias, amx_from=AMX_FROM_ROWS,
                           block_rows=int4_unpack.block_rows())
    return out.view(*x.shape[:-1], packed.shape[0])


def reference(x: torch.Tensor, packed: torch.Tensor, scale_shift: torch.Tensor, group: int,
              bias: torch.Tensor | None = None, block_rows: int = BLOCK_ROWS) -> torch.Tensor:
    """What the kernel computes, in float64 plain torch (slow): ``[M, N]`` for ``x`` ``[M, K]``
    packed in blocks of ``block_rows`` rows."""
    n, k = packed.shape[0], packed.shape[1] * 2
    runs = packed.view(n // block_rows, k, block_rows // 2)
    q = torch.cat([runs & 15, runs >> 4], dim=2).permute(1, 0, 2).reshape(k // group, group, n).double()
    scale, shift = scale_shift[..., 0].double(), scale_shift[..., 1].double()  # [K / group, N]
    xg = x.double().reshape(-1, k // group, group)
    absmax = xg.abs().amax(-1, keepdim=True)
    xq = torch.where(absmax > 0, torch.round(xg * 127 / absmax.clamp_min(1e-300)), torch.zeros_like(xg))
    dots = torch.einsum("mgi,gin->mgn", xq, q)
    out = (absmax / 127 * (scale * dots + (shift - 8 * scale) * xq.sum(-1, keepdim=True))).sum(1)
    return out if bias is None else out + bias.double()


def _check(module) -> None:
    """Every kernel this CPU can run against ``reference``: VNNI and AMX on 64-row blocks, AVX2 on
    32-row blocks."""
    layouts = [rows for rows in (BLOCK_ROWS, AVX2_BLOCK_ROWS) if _runs(module, rows)]
    if not layouts:
        raise RuntimeError("this CPU has neither AVX2 nor AVX512-VNNI / AVX512-VBMI")
    generator = torch.Generator().manual_seed(2)
    q = torch.randint(0, 16, (BLOCK_ROWS * 3, 256), generator=generator, dtype=torch.uint8)
    scale_shift = torch.randn(2, BLOCK_ROWS * 3, 2, generator=generator).to(torch.bfloat16)
    bias = torch.randn(BLOCK_ROWS * 3, generator=generator).to(torch.bfloat16)
    x = torch.randn(18, 256, generator=generator).to(torch.bfloat16)
    for rows in layouts:
        packed = int4_unpack.pack_reference(q, rows)
        expected = reference(x, packed, scale_shift, 128, bias, rows)
        tolerance = 1e-3 * expected.abs().max().item()  # float32 sums of terms that cancel
        # VNNI, then AMX where the CPU has it (a full tile and a partial one); AVX2 has one path
        for amx_from in (-1, 1) if rows == BLOCK_ROWS else (-1,):
            got = module.linear(x, packed, scale_shift, 128, bias, amx_from=amx_from, block_rows=rows)
            assert torch.allclose(got.double(), expected, rtol=1 / 128, atol=tolerance), "wrong int4 x int8 product"

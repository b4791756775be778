"""Long inputs through int4 weights as a bf16 matmul: unpack the weights a slice at a time.

torch's int4 CPU kernel (``torch._weight_int4pack_mm_for_cpu``, what quanto uses for bf16 int4
weights) is made for decoding: it unpacks the weights again for every few input rows, so a
prefill of 450 tokens costs ~10x the bf16 matmul (bench/README.md). ``linear`` instead unpacks
~8 MB of the weight at a time into bf16 (a prebuilt C++ kernel, ``native/int4_unpack.cpp``: 9 ms
for a 3840x15360 matrix, against 30 ms for its bf16 GEMM at 450 tokens) and hands each slice to
the bf16 GEMM while it is still in cache. The weights stay packed in memory; decoding keeps
torch's kernel.

Nothing here knows quanto: the input is torch's own packed layout plus its scales and shifts.
The layout is not documented and depends on the CPU (64-row blocks with AVX-512, 32 with AVX2,
another order without either), so ``block_rows`` packs a probe with torch on this machine and
only says yes when it is the layout the kernel reads.
"""

from __future__ import annotations

import functools

import torch

LIBRARY = "seesay_int4"  # built by packaging/quanto_ext/build_ext.py beside quanto's own kernels
MIN_ROWS = 32  # below this many input rows torch's int4 kernel is the faster one (measured, bench/README.md)
SLICE_BYTES = 8 << 20  # bf16 weight slice per GEMM: unpacked, then multiplied while in cache


@functools.cache
def block_rows() -> int | None:
    """Rows per block of torch's CPU int4 layout here, if it is the one the kernel reads."""
    generator = torch.Generator().manual_seed(0)
    q = torch.randint(0, 16, (256, 128), generator=generator, dtype=torch.int32)
    try:
        packed = torch._convert_weight_to_int4pack_for_cpu(q, innerKTiles=2)
    except (AttributeError, RuntimeError):  # a torch without its int4 CPU kernel: nothing to speed up
        return None
    for rows in (64, 32, 16):
        if packed.shape == (256, 64) and torch.equal(packed, pack_reference(q.to(torch.uint8), rows)):
            return rows
    return None


def pack_reference(q: torch.Tensor, rows: int) -> torch.Tensor:
    """uint8 [N, K] values 0..15 into the layout the kernel reads (blocks of ``rows`` rows)."""
    n, k = q.shape
    blocks = q.view(n // rows, rows, k)
    low, high = blocks[:, : rows // 2], blocks[:, rows // 2 :]
    return (low | (high << 4)).transpose(1, 2).reshape(n, k // 2).contiguous()


def unpack_reference(packed: torch.Tensor, scale_shift: torch.Tensor, group: int, rows: int) -> torch.Tensor:
    """The kernel's result in plain torch (slow): W transposed, bf16 [K, N]."""
    n, k = packed.shape[0], packed.shape[1] * 2
    runs = packed.view(n // rows, k, rows // 2)
    q = torch.cat([runs & 15, runs >> 4], dim=2).permute(1, 0, 2).reshape(k, n).float()
    scale = scale_shift[..., 0].float().repeat_interleave(group, 0)
    shift = scale_shift[..., 1].float().repeat_interleave(group, 0)
    return (q * scale + (shift - 8 * scale)).to(torch.bfloat16)


@functools.cache
def library():
    """The prebuilt kernel, checked against ``unpack_reference``; None where it is missing."""
    from inference import quant_kernels

    return quant_kernels.load_prebuilt(LIBRARY, _check)


def available() -> bool:
    return block_rows() is not None and library() is not None


def supports(packed: torch.Tensor, group: int) -> bool:
    """Whether ``linear`` can take this packed weight (torch's CPU layout, whole blocks)."""
    rows = block_rows()
    return (rows is not None and packed.dtype == torch.uint8 and packed.dim() == 2 and packed.is_contiguous()
            and packed.device.type == "cpu" and packed.shape[0] % rows == 0
            and (packed.shape[1] * 2) % group == 0)


def linear(x: torch.Tensor, packed: torch.Tensor, scale_shift: torch.Tensor, group: int,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ W.T + bias`` for bf16 ``x`` and a weight packed in torch's CPU int4 layout."""
    lib, rows = library(), block_rows()
    n, k = packed.shape[0], packed.shape[1] * 2
    flat = x.reshape(-1, k)
    scale, shift = lib.scales(scale_shift)
    blocks = n // rows
    per_slice = max(1, min(blocks, SLICE_BYTES // (k * rows * 2)))
    scratch = torch.empty(k * per_slice * rows, dtype=torch.bfloat16)
    out = torch.empty(flat.shape[0], n, dtype=x.dtype)
    for b0 in range(0, blocks, per_slice):
        b1 = min(blocks, b0 + per_slice)
        weight_t = scratch[: k * (b1 - b0) * rows].view(k, (b1 - b0) * rows)
        lib.unpack_slice(packed, scale, shift, group, rows, b0, b1, weight_t)
        out[:, b0 * rows : b1 * rows] = flat @ weight_t
    if bias is not None:
        out += bias
    return out.view(*x.shape[:-1], n)


def _check(module) -> None:
    rows = block_rows()
    if rows is None:
        return
    generator = torch.Generator().manual_seed(1)
    q = torch.randint(0, 16, (rows * 4, 256), generator=generator, dtype=torch.uint8)
    packed = pack_reference(q, rows)
    scale_shift = torch.randn(2, rows * 4, 2, generator=generator).to(torch.bfloat16)
    scale, shift = module.scales(scale_shift)
    out = torch.empty(256, rows * 2, dtype=torch.bfloat16)
    module.unpack_slice(packed, scale, shift, 128, rows, 1, 3, out)
    expected = unpack_reference(packed, scale_shift, 128, rows)[:, rows : 3 * rows]
    assert torch.allclose(out.float(), expected.float(), rtol=1 / 128, atol=1e-6), "wrong unpack"

"""int4 weights times int8-quantized inputs: the prebuilt kernels (VNNI and, where the CPU has it,
AMX, on torch's 64-row AVX-512 layout; AVX2 on its 32-row layout) against their float64 reference
and against torch's own int4 kernel, the routing by input length, and the engine decoding through
them. An AVX-512 CPU runs the AVX2 kernel too, on weights packed as an AVX2 machine packs them."""

import functools

import pytest
import torch

from inference import int4_unpack, int4_int8, quant
from tests.inference.test_int4_unpack import (
    assert_linear_is_torchs, assert_routed_logits_are_torchs, int4_linear, packed_parts,
)
from tests.inference.prebuilt import prebuilt_kernel
from tests.real_parts import need

VNNI, AVX2 = int4_int8.BLOCK_ROWS, int4_int8.AVX2_BLOCK_ROWS


@pytest.fixture(scope="module")
def kernel():
    if int4_unpack.block_rows() not in (VNNI, AVX2):  # e.g. an ARM CPU: torch packs another way
        pytest.skip("torch's int4 layout here is neither of the ones the kernels read")
    module = prebuilt_kernel(int4_int8.LIBRARY, "int4 x int8 kernel", "AVX2 / FMA or AVX512-VNNI / AVX512-VBMI",
                             runs=lambda m: m.supported() or m.avx2_supported())
    assert int4_int8.available()
    return module


@pytest.fixture(params=[VNNI, AVX2], ids=["vnni-64-rows", "avx2-32-rows"])
def layout(kernel, request):
    """The block height of a kernel this CPU runs (64: VNNI / AMX; 32: AVX2)."""
    if not int4_int8._runs(kernel, request.param):
        pytest.skip("this CPU has no AVX512-VNNI / AVX512-VBMI" if request.param == VNNI else "this CPU has no AVX2")
    return request.param


def random_weight(n: int, k: int, group: int, seed: int, block_rows: int):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k), dtype=torch.uint8, generator=generator)
    packed = int4_unpack.pack_reference(q, block_rows)
    scale_shift = (torch.randn(k // group, n, 2, generator=generator) / 8).to(torch.bfloat16)
    return packed, scale_shift


@pytest.mark.parametrize("rows, amx_from", [(1, -1), (2, -1), (3, -1), (4, -1), (5, -1), (9, -1),
                                            (1, 1), (9, 1), (16, 1), (33, 1)])
@pytest.mark.parametrize("group", [16, 32, 64, 128, 256])
def test_kernel_computes_what_the_reference_does(kernel, layout, rows, amx_from, group):
    """VNNI: every tile size (4 rows a pass, then 3, 2, 1); AMX (``amx_from=1``, where the CPU has
    it; groups of 64-256 features, one to four 64-feature tiles; 16 and 32 stay on VNNI): whole and
    partial 16-row tiles; AVX2 (no AMX: ``amx_from`` changes nothing): two rows a pass and one
    left, groups shorter and longer than its 32 features summed in int16; a bias. The int32 dot
    products are exact, so the only difference is the float sums and the bf16 result."""
    packed, scale_shift = random_weight(192, 512, group, seed=rows + group, block_rows=layout)
    x = torch.randn(rows, 512, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
    x[0, :group] = 0  # a group of zeros: scale 0, no division by it
    x[-1, -group:] = 127 * x[-1, -group:].sign()  # every input at the int8 extreme: the int16 sums' worst case
    bias = torch.randn(192).to(torch.bfloat16)
    got = kernel.linear(x, packed, scale_shift, group, bias, amx_from=amx_from, block_rows=layout)
    expected = int4_int8.reference(x, packed, scale_shift, group, bias, layout)
    assert got.shape == (rows, 192) and got.dtype == torch.bfloat16
    # float32 sums of terms that cancel: absolute error relative to the largest output
    torch.testing.assert_close(got.double(), expected, rtol=1 / 128, atol=1e-3 * expected.abs().max().item())


def test_linear_matches_torchs_int4_kernel_within_the_input_rounding(kernel):
    module = int4_linear(448, 384, bias=True)
    for shape in [(1, 1, 384), (2, 3, 384), (7, 384)]:
        assert_linear_is_torchs(int4_int8.linear, module, torch.randn(*shape, dtype=torch.bfloat16), rtol=3e-2)


@pytest.mark.parametrize("amx_from", [-1, 1])
def test_a_nan_or_inf_in_the_input_gives_nan_as_torch_does(kernel, layout, amx_from):
    """A group's absmax would drop a NaN and the row would come out large and finite."""
    packed, scale_shift = random_weight(128, 256, 128, seed=4, block_rows=layout)
    x = torch.randn(3, 256, generator=torch.Generator().manual_seed(4)).to(torch.bfloat16)
    x[0, 5], x[1, 200] = float("nan"), float("inf")
    x[2, :128] = 1e-38  # too small to scale to int8: counts as zeros
    got = kernel.linear(x, packed, scale_shift, 128, amx_from=amx_from, block_rows=layout)
    assert torch.isnan(got[0]).all() and torch.isnan(got[1]).all()
    expected = int4_int8.reference(x[2:], packed, scale_shift, 128, block_rows=layout)
    torch.testing.assert_close(got[2:].double(), expected, rtol=1 / 128, atol=1e-3 * expected.abs().max().item())


def test_groups_amx_cannot_take_stay_short(kernel):
    if not int4_int8._amx():  # no tiles for the bf16 GEMM either: VNNI takes every length
        assert int4_int8.max_rows(128) == int4_int8.max_rows(32) == int4_int8.ANY_LENGTH
        return
    assert int4_int8.max_rows(128) == int4_int8.max_rows(64) == int4_int8.AMX_MAX_ROWS
    assert int4_int8.max_rows(32) == int4_int8.max_rows(512) == int4_int8.VNNI_MAX_ROWS


def test_kernel_refuses_what_it_cannot_read(kernel, layout):
    packed, scale_shift = random_weight(128, 256, 128, seed=0, block_rows=layout)
    x = torch.randn(2, 256, dtype=torch.bfloat16)
    linear = functools.partial(kernel.linear, block_rows=layout)
    with pytest.raises(RuntimeError, match="x: bf16"):
        linear(x.float(), packed, scale_shift, 128)
    with pytest.raises(RuntimeError, match="unsupported shape"):
        linear(x, packed[:layout + layout // 2], scale_shift, 128)  # not whole blocks
    with pytest.raises(RuntimeError, match="scale_shift"):
        linear(x, packed, scale_shift[:, :64], 128)
    with pytest.raises(RuntimeError, match="block_rows"):
        kernel.linear(x, packed, scale_shift, 128, block_rows=16)
    assert linear(x[:0], packed, scale_shift, 128).shape == (0, 128)


def test_a_kernel_that_computes_wrong_is_not_used(kernel):
    class Wrong:
        supported, avx2_supported = kernel.supported, kernel.avx2_supported

        @staticmethod
        def linear(x, packed, scale_shift, group, bias=None, amx_from=16, block_rows=VNNI):
            return kernel.linear(x, packed, scale_shift, group, bias, amx_from, block_rows) * 1.1

    with pytest.raises(AssertionError, match="wrong int4 x int8"):
        int4_int8._check(Wrong)


def test_inputs_are_routed_by_their_length(kernel):
    """Fewer than ``max_rows()`` rows: the int4 x int8 kernel; from there on: unpacked to bf16
    (without AMX there is no such length: a 1024-row prompt stays on the kernel); both agree with
    torch's own int4 kernel within rounding."""
    need(int4_unpack.available(), "the prebuilt int4 unpack kernel")
    module = int4_linear(256, 384)
    any_length = int4_int8.max_rows() == int4_int8.ANY_LENGTH
    long_rows = 1024 if any_length else int4_int8.max_rows()
    x_short, x_long = (torch.randn(1, n, 384, dtype=torch.bfloat16) for n in (1, long_rows))
    with torch.no_grad():
        torch_short, torch_long = module(x_short), module(x_long)
        assert quant.route_int4(module) == quant.Int4Routes(short=1, long=1)
        short, long = module(x_short), module(x_long)
        assert torch.equal(short, int4_int8.linear(x_short, *packed_parts(module)))
        long_kernel = int4_int8.linear if any_length else int4_unpack.linear
        assert torch.equal(long, long_kernel(x_long, *packed_parts(module)))
    torch.testing.assert_close(short, torch_short, rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(long, torch_long, rtol=2e-2, atol=3e-2)


def test_the_engine_decodes_through_the_kernel(kernel, tmp_path):
    """A tiny model with MLP matrices in torch's int4 layout: the loader routes them, the engine
    streams an answer, and the logits of a short input are torch's within the input rounding."""
    from inference.conversation import Turn
    from inference.generate import GenerationSettings
    from inference.loader import LoadOptions, load_engine
    from tests.tiny_checkpoint import build_tiny_checkpoint

    wide = build_tiny_checkpoint(tmp_path, hidden_size=128)
    engine = load_engine(LoadOptions(model=str(wide.model_dir), use_draft=False, check_memory=False))
    routed = [m for m in engine.model.modules() if "forward" in vars(m) and type(m) is not torch.nn.Linear]  # quanto's
    assert len(routed) >= 4
    limit = int4_int8.max_rows()
    rows = "inputs of any length" if limit == int4_int8.ANY_LENGTH else f"inputs under {limit} rows"
    assert f"({len(routed)} layers, {rows})" in engine.info.kernels
    expected = ("AVX2" if int4_unpack.block_rows() == AVX2 else "AMX" if kernel.amx_supported() else "VNNI")
    assert f"int4 x int8: prebuilt, {expected}" in engine.info.kernels

    pieces = list(engine.stream([Turn.user("What is on the screen?")],
                                GenerationSettings(max_new_tokens=6, greedy=True)))
    assert pieces and pieces[-1].finish_reason in ("stop", "length") and pieces[-1].stats.generated_tokens >= 1

    assert_routed_logits_are_torchs(engine.model, routed, torch.randint(0, 400, (1, 5)))

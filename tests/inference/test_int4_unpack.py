"""Long inputs through int4 weights as a bf16 matmul: torch's packed layout, the prebuilt unpack
kernel against a plain-torch reference and against torch's own int4 kernel, and the switch that
sends only long inputs (a prefill) that way."""

import platform

import pytest
import torch
from optimum.quanto import freeze, qint4, quantize
from optimum.quanto.tensor.weights.tinygemm import TinyGemmWeightQBitsTensor

from inference import int4_unpack, quant, quant_kernels
from tests.real_parts import need


@pytest.fixture(scope="module")
def kernel():
    if int4_unpack.block_rows() is None:  # e.g. an ARM CPU: torch packs another way; nothing to speed up
        pytest.skip("torch's int4 layout on this CPU is not the one the kernel reads")
    quant_kernels.prepare()
    need(int4_unpack.library() is not None,
         "the prebuilt int4 unpack kernel (bootstrap builds it: packaging/quanto_ext/build_ext.py)")
    return int4_unpack.library()


def int4_linear(n: int, k: int, bias: bool = False, seed: int = 0) -> torch.nn.Module:
    """A bf16 linear layer quantized by quanto the way the loader does, in torch's CPU int4 layout."""
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(k, n, bias=bias, dtype=torch.bfloat16))
    quantize(module, weights=qint4)
    freeze(module)
    assert isinstance(module[0].weight, TinyGemmWeightQBitsTensor)
    return module


def packed_parts(module):
    weight = module[0].weight
    return weight._data._data, weight._scale_shift, weight._group_size


def test_the_layout_torch_packs_here_is_recognised():
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert int4_unpack.block_rows() in (64, 32)  # AVX-512 or AVX2 blocks: the kernel reads both
    q = torch.randint(0, 16, (128, 64), dtype=torch.int32, generator=torch.Generator().manual_seed(3))
    rows = int4_unpack.block_rows()
    if rows is not None:
        packed = torch._convert_weight_to_int4pack_for_cpu(q, innerKTiles=2)
        assert torch.equal(packed, int4_unpack.pack_reference(q.to(torch.uint8), rows))


def test_reference_unpack_is_what_torchs_int4_kernel_multiplies_by():
    rows = int4_unpack.block_rows()
    need(rows is not None, "torch's CPU int4 layout in 32- or 64-row blocks")
    module = int4_linear(256, 384)
    packed, scale_shift, group = packed_parts(module)
    weight_t = int4_unpack.unpack_reference(packed, scale_shift, group, rows)
    x = torch.randn(7, 384, dtype=torch.bfloat16)
    expected = torch._weight_int4pack_mm_for_cpu(x, packed, group, scale_shift)
    torch.testing.assert_close(x @ weight_t, expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("rows, isa", [(64, 2), (64, 1), (64, 0), (32, 2), (16, 2)])
def test_kernel_unpacks_any_slice_like_the_reference(kernel, rows, isa):
    """64-row blocks take the AVX512-BF16 or AVX-512 path where the CPU has them (``isa`` caps
    it); other block sizes, and ``isa=0``, the plain loop."""
    generator = torch.Generator().manual_seed(rows)
    n, k, group = rows * 6, 256, 64
    q = torch.randint(0, 16, (n, k), dtype=torch.uint8, generator=generator)
    packed = int4_unpack.pack_reference(q, rows)
    scale_shift = torch.randn(k // group, n, 2, generator=generator).to(torch.bfloat16)
    scale, shift = kernel.scales(scale_shift)
    expected = int4_unpack.unpack_reference(packed, scale_shift, group, rows)
    out = torch.empty(k, 3 * rows, dtype=torch.bfloat16)
    kernel.unpack_slice(packed, scale, shift, group, rows, 2, 5, out, isa=isa)
    torch.testing.assert_close(out, expected[:, 2 * rows : 5 * rows], rtol=1 / 128, atol=1e-6)


def test_kernel_refuses_a_slice_outside_the_weight(kernel):
    rows = int4_unpack.block_rows()
    packed = torch.zeros(rows * 2, 64, dtype=torch.uint8)
    scale, shift = kernel.scales(torch.ones(1, rows * 2, 2, dtype=torch.bfloat16))
    out = torch.empty(128, rows * 2, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="bad slice"):
        kernel.unpack_slice(packed, scale, shift, 128, rows, 1, 3, out)


@pytest.mark.parametrize("shape", [(1, 40, 384), (3, 9, 384), (40, 384)])
def test_linear_matches_torchs_int4_kernel(kernel, shape, monkeypatch):
    monkeypatch.setattr(int4_unpack, "SLICE_BYTES", 384 * 64 * 2)  # several slices, a short last one
    module = int4_linear(448 if int4_unpack.block_rows() == 64 else 416, 384, bias=True)
    assert_linear_is_torchs(int4_unpack.linear, module, torch.randn(*shape, dtype=torch.bfloat16), rtol=2e-2)


def assert_linear_is_torchs(linear, module, x, rtol: float) -> None:
    """``linear`` on ``module``'s packed weight gives what quanto/torch's int4 kernel gives."""
    with torch.no_grad():
        expected = module(x)
        got = linear(x, *packed_parts(module), bias=module[0].bias)
    assert got.shape == expected.shape and got.dtype == torch.bfloat16
    torch.testing.assert_close(got, expected, rtol=rtol, atol=3e-2)


def test_only_long_inputs_take_the_dense_path(kernel):
    module = int4_linear(256, 384)
    x_short, x_long = (torch.randn(1, n, 384, dtype=torch.bfloat16) for n in (3, int4_unpack.MIN_ROWS))
    with torch.no_grad():
        before_short, before_long = module(x_short), module(x_long)
        assert quant.route_int4(module, short=False) == quant.Int4Routes(long=1)
        after_short, after_long = module(x_short), module(x_long)
        dense_long = int4_unpack.linear(x_long, *packed_parts(module))
    assert torch.equal(after_short, before_short)  # decoding: torch's own kernel, untouched
    assert torch.equal(after_long, dense_long) and not torch.equal(after_long, before_long)
    torch.testing.assert_close(after_long, before_long, rtol=2e-2, atol=3e-2)


def test_layers_the_kernel_cannot_take_keep_torchs_kernel(kernel):
    rows = int4_unpack.block_rows()
    odd = int4_linear(rows * 3 + rows // 2, 256)  # not whole blocks
    plain = torch.nn.Sequential(torch.nn.Linear(256, 256, dtype=torch.bfloat16))
    assert not quant.route_int4(odd) and not quant.route_int4(plain)
    assert "forward" not in vars(odd[0]) and "forward" not in vars(plain[0])


def test_the_loader_routes_the_dense_path_and_its_logits_are_torchs(kernel, tmp_path):
    """A tiny model with MLP matrices in torch's int4 layout: the loader routes them, the engine
    answers, and with only the dense path routed the logits of a long input are those of torch's
    own int4 kernel within bf16 rounding (where int4_int8 takes prompts too: test_int4_int8)."""
    from inference.conversation import Turn
    from inference.generate import GenerationSettings
    from inference.loader import LoadOptions, load_engine
    from tests.tiny_checkpoint import build_tiny_checkpoint

    wide = build_tiny_checkpoint(tmp_path, hidden_size=128)
    engine = load_engine(LoadOptions(model=str(wide.model_dir), use_draft=False, check_memory=False))
    routed = [m for m in engine.model.modules() if "forward" in vars(m) and type(m) is not torch.nn.Linear]  # quanto's
    assert len(routed) >= 4  # at least the down projections; the attention is too narrow here
    assert f"int4 unpack: prebuilt ({len(routed)} layers prefill in bf16)" in engine.info.kernels

    question = [Turn.user("Describe, in a long and careful sentence, what is on the screen right now.")]
    text, response = engine.answer(question, GenerationSettings(max_new_tokens=4, greedy=True))
    assert response.finish_reason in ("stop", "length") and response.stats.prefilled_tokens >= int4_unpack.MIN_ROWS

    for module in routed:  # now only the dense path (the loader also routes short inputs elsewhere)
        del module.forward
    assert quant.route_int4(engine.model, short=False).long == len(routed)
    assert_routed_logits_are_torchs(engine.model, routed, torch.randint(0, 400, (1, 48)))


def assert_routed_logits_are_torchs(model, routed, ids) -> None:
    """The routed layers change the logits (so they ran), within bf16 rounding of torch's own."""
    with torch.no_grad():
        with_kernels = model(input_ids=ids).logits
        for module in routed:
            del module.forward
        torch_only = model(input_ids=ids).logits
    assert not torch.equal(with_kernels, torch_only)
    torch.testing.assert_close(with_kernels, torch_only, rtol=5e-2, atol=5e-2)

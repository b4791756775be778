"""The int8 kernel (``int8_linear.linear``): against its float64 reference on the shapes it must
take (a partial block of rows, tails of features, odd and paired input rows, prompts in several row
chunks, more features than one int32 sum may hold), at the extremes that would overflow a wider
sum, with NaN or inf input; and ``quant.route_int8`` sending quanto's int8 layers to it, with
logits that stay quanto's within rounding."""

import pytest
import torch

from inference import bf16_gemv, int8_linear, quant
from tests.inference.prebuilt import prebuilt_kernel
from tests.inference.test_int4_unpack import assert_routed_logits_are_torchs


@pytest.fixture(scope="module")
def kernel():
    module = prebuilt_kernel(bf16_gemv.LIBRARY, "bf16 head kernel", "AVX2", runs=lambda m: m.int8_supported())
    assert int8_linear.available()
    return module


def random_int8(rows: int, n: int, k: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randint(-128, 128, (n, k), generator=generator, dtype=torch.int8)
    scale = (torch.rand(n, 1, generator=generator) * 0.02 + 1e-3).to(torch.bfloat16)
    x = torch.randn(rows, k, generator=generator).to(torch.bfloat16)
    bias = torch.randn(n, generator=generator).to(torch.bfloat16)
    return x, weight, scale, bias


def assert_is_reference(got, x, weight, scale, bias):
    expected = int8_linear.reference(x, weight, scale, bias)
    assert got.shape == expected.shape and got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), expected, rtol=1 / 128, atol=1e-3 * expected.abs().max().item())


# use_avx512 True is the VPDPWSSD path on CPUs with AVX512-VNNI (the AVX2 one on others), False the
# AVX2 path everywhere: each test runs both the CPU has.
PATHS = pytest.mark.parametrize("use_avx512", [True, False], ids=["widest", "avx2"])


@PATHS
@pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("rows, n, k", [(1, 256, 128), (1, 7, 64), (3, 130, 100), (8, 64, 3840), (2, 5, 17),
                                        (1, 12, 15360), (1, 9, 48), (9, 6, 300000)])
def test_kernel_computes_what_the_reference_does(kernel, rows, n, k, with_bias, use_avx512):
    x, weight, scale, bias = random_int8(rows, n, k, rows * n + k)
    bias = bias if with_bias else None
    assert_is_reference(kernel.linear_int8(x, weight, scale, bias, use_avx512), x, weight, scale, bias)


@PATHS
def test_the_largest_products_do_not_overflow(kernel, use_avx512):
    """Every weight -128 and every input at its absmax (int16 32767) over 15360 features: 63 G, far
    past int32; the sums are flushed to float before they can overflow."""
    weight = torch.full((4, 15360), -128, dtype=torch.int8)
    x = torch.full((1, 15360), 3.0).to(torch.bfloat16)
    scale = torch.ones(4).to(torch.bfloat16)
    got = kernel.linear_int8(x, weight, scale, None, use_avx512)
    assert_is_reference(got, x, weight, scale, None)
    assert (got < 0).all()


@PATHS
def test_matches_quantos_int8_kernel_within_the_input_rounding(kernel, use_avx512):
    x, weight, scale, _ = random_int8(1, 300, 3840, 7)
    theirs = torch._weight_int8pack_mm(x, weight, scale.flatten())
    torch.testing.assert_close(kernel.linear_int8(x, weight, scale, None, use_avx512), theirs, rtol=2e-2,
                               atol=2e-2 * theirs.abs().max().item())


@PATHS
def test_a_nan_or_inf_in_the_input_gives_nan(kernel, use_avx512):
    x, weight, scale, _ = random_int8(2, 16, 64, 3)
    x[0, 5] = float("nan")
    x[1, 9] = float("inf")
    assert kernel.linear_int8(x, weight, scale, None, use_avx512).isnan().all()


def test_kernel_refuses_what_it_cannot_read(kernel):
    x, weight, scale, bias = random_int8(1, 64, 32, 1)
    with pytest.raises(RuntimeError, match="weight: int8"):
        kernel.linear_int8(x, weight.float(), scale)
    with pytest.raises(RuntimeError, match="weight: int8"):
        kernel.linear_int8(x, weight.T.contiguous().T, scale)  # not row-major
    with pytest.raises(RuntimeError, match="x: bf16"):
        kernel.linear_int8(x.float(), weight, scale)
    with pytest.raises(RuntimeError, match="scale"):
        kernel.linear_int8(x, weight, scale[:10])
    with pytest.raises(RuntimeError, match="bias"):
        kernel.linear_int8(x, weight, scale, bias.float())
    assert kernel.linear_int8(torch.empty(0, 32, dtype=torch.bfloat16), weight, scale).shape == (0, 64)


@pytest.fixture
def gemm(kernel):
    if int8_linear.gemm_from_rows() is None:
        pytest.skip("this CPU has no bf16 GEMM (AVX512-BF16 / AMX): prompts stay on the integer kernel")
    return kernel


@pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("rows, n, k", [(32, 64, 3840), (40, 1030, 100), (3, 2 * int8_linear.SLICE_ROWS + 5, 48)])
def test_prompts_through_the_gemm_compute_what_the_reference_does(gemm, rows, n, k, with_bias):
    """int8 weights widened to bf16 slice by slice through torch's bf16 GEMM: several slices and a
    partial one, a tail of K; quanto's weights exactly, so the integer kernel's reference holds."""
    x, weight, scale, bias = random_int8(rows, n, k, rows + n + k)
    bias = bias if with_bias else None
    assert_is_reference(int8_linear.through_gemm(x, weight, scale, bias), x, weight, scale, bias)


def test_prompts_switch_to_the_gemm_at_their_row_count(gemm):
    """One row short of ``gemm_from_rows()`` the integer kernel (exactly its output), from it the
    GEMM (exactly its output): the two differ in rounding, so each result says which ran."""
    from_rows, integer, through = int8_linear.gemm_from_rows(), gemm.linear_int8, int8_linear.through_gemm
    for rows, ran, other in ((from_rows - 1, integer, through), (from_rows, through, integer)):
        x, weight, scale, bias = random_int8(rows, 300, 640, rows)
        got = int8_linear.linear(x.unsqueeze(0), weight, scale, bias)
        assert got.shape == (1, rows, 300)
        assert torch.equal(got[0], ran(x, weight, scale, bias))
        assert not torch.equal(got[0], other(x, weight, scale, bias))


def quanto_int8_linear(n: int, k: int, bias: bool = False):
    from optimum.quanto import freeze, qint8, quantize

    module = torch.nn.Sequential(torch.nn.Linear(k, n, bias=bias)).to(torch.bfloat16)
    quantize(module, weights=qint8)
    freeze(module)
    return module


def test_bf16_inputs_of_any_length_take_the_kernel_without_autograd(kernel, monkeypatch):
    """A decoding step, a drafted block and a prompt in several row chunks: the kernel, within
    rounding of quanto's own; with autograd on (quanto's gradient), quanto's path."""
    module = quanto_int8_linear(96, 320, bias=True)
    inputs = [torch.randn(1, rows, 320).to(torch.bfloat16) for rows in (1, 5, 7000)]  # 7000 x 320: two chunks
    with torch.no_grad():
        quantos = [module(x) for x in inputs]
    assert quant.route_int8(module) == 1
    calls = []
    original = int8_linear.linear
    monkeypatch.setattr(int8_linear, "linear", lambda x, *rest: calls.append(x.shape) or original(x, *rest))
    with torch.no_grad():
        for x, theirs in zip(inputs, quantos):
            torch.testing.assert_close(module(x), theirs, rtol=2e-2, atol=2e-2)
    module(inputs[0])  # autograd on: quanto's path
    assert calls == [x.shape for x in inputs]


def test_the_engine_decodes_int8_through_the_kernel(kernel, tiny):
    from inference.conversation import Turn
    from inference.generate import GenerationSettings
    from inference.loader import LoadOptions, load_engine

    engine = load_engine(LoadOptions(model=str(tiny.model_dir), quantization="int8", use_draft=False,
                                     check_memory=False))
    routed = [m for m in engine.model.modules() if "forward" in vars(m) and type(m) is not torch.nn.Linear]
    assert routed
    path = "AVX512-VNNI" if kernel.int8_avx512_supported() else "AVX2"
    from_rows = int8_linear.gemm_from_rows()
    gemm = f", bf16 GEMM from {from_rows} rows" if from_rows else ""
    assert f"int8: prebuilt, {path}{gemm} ({len(routed)} layers)" in engine.info.kernels
    pieces = list(engine.stream([Turn.user("What is on the screen?")],
                                GenerationSettings(max_new_tokens=6, greedy=True)))
    assert pieces and pieces[-1].finish_reason in ("stop", "length") and pieces[-1].stats.generated_tokens >= 1
    assert_routed_logits_are_torchs(engine.model, routed, torch.randint(0, 400, (1, 5)))

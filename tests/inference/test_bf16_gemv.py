"""The bf16 output-head kernel: against its float64 reference on each instruction path the CPU has, the
shapes it must take (a partial block of rows, a tail of features, several input rows), and the
loader routing the tied head to it with logits that stay torch's within bf16 rounding."""

import pytest
import torch

from inference import bf16_gemv
from tests.inference.prebuilt import prebuilt_kernel


@pytest.fixture(scope="module")
def kernel():
    module = prebuilt_kernel(bf16_gemv.LIBRARY, "bf16 head kernel", "AVX-512 or AVX2 / FMA")
    assert bf16_gemv.available()
    return module


@pytest.mark.parametrize("use_bf16, use_avx512", [(True, True), (False, True), (False, False)],
                         ids=["avx512-bf16", "avx512-fma", "avx2-fma"])
@pytest.mark.parametrize("rows, n, k", [(1, 256, 128), (1, 7, 64), (3, 130, 100), (8, 64, 3840), (2, 5, 17)])
def test_kernel_computes_what_the_reference_does(kernel, use_bf16, use_avx512, rows, n, k):
    """``use_bf16`` False is the FMA path of AVX-512 CPUs without AVX512-BF16, ``use_avx512`` False
    the AVX2 path of CPUs without AVX-512; a CPU runs each it can (a path it lacks falls back to
    the next)."""
    generator = torch.Generator().manual_seed(rows * n + k)
    weight = torch.randn(n, k, generator=generator).to(torch.bfloat16)
    x = torch.randn(rows, k, generator=generator).to(torch.bfloat16)
    got = kernel.linear(x, weight, use_bf16, use_avx512)
    expected = bf16_gemv.reference(x, weight)
    assert got.shape == (rows, n) and got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), expected, rtol=1 / 128, atol=1e-3 * expected.abs().max().item())


def test_kernel_refuses_what_it_cannot_read(kernel):
    weight = torch.randn(64, 32).to(torch.bfloat16)
    with pytest.raises(RuntimeError, match="weight"):
        kernel.linear(torch.randn(1, 32).to(torch.bfloat16), weight.T.contiguous().T, True)  # not row-major
    with pytest.raises(RuntimeError, match="x: bf16"):
        kernel.linear(torch.randn(1, 32), weight, True)  # float32 input
    with pytest.raises(RuntimeError, match="weight"):
        kernel.linear(torch.randn(1, 16).to(torch.bfloat16), weight, True)  # K does not match
    assert kernel.linear(torch.empty(0, 32, dtype=torch.bfloat16), weight, True).shape == (0, 64)


def test_nan_in_gives_nan_out(kernel):
    weight = torch.randn(8, 64).to(torch.bfloat16)
    x = torch.randn(1, 64).to(torch.bfloat16)
    x[0, 5] = float("nan")
    for use_bf16, use_avx512 in [(True, True), (False, True), (False, False)]:
        assert kernel.linear(x, weight, use_bf16, use_avx512).isnan().all()


def test_only_short_cpu_inputs_take_the_kernel(kernel):
    head = torch.nn.Linear(48, 300, bias=False).to(torch.bfloat16)
    assert bf16_gemv.route_heads(type("M", (), {"lm_head": head})()) == 1
    calls = []
    original = bf16_gemv.linear

    def counted(x, weight):
        calls.append(x.shape)
        return original(x, weight)

    bf16_gemv.linear = counted
    try:
        with torch.no_grad():
            for rows in (1, bf16_gemv.MAX_ROWS, bf16_gemv.MAX_ROWS + 1):
                x = torch.randn(1, rows, 48).to(torch.bfloat16)
                torch.testing.assert_close(head(x), torch.nn.functional.linear(x, head.weight), rtol=2e-2, atol=2e-2)
        head(torch.randn(1, 1, 48).to(torch.bfloat16))  # with autograd on: torch's matmul, which has a gradient
    finally:
        bf16_gemv.linear = original
    assert calls == [(1, 1, 48), (1, bf16_gemv.MAX_ROWS, 48)]


def test_heads_the_kernel_cannot_take_stay_torchs(kernel):
    with_bias = torch.nn.Linear(48, 64).to(torch.bfloat16)
    float32 = torch.nn.Linear(48, 64, bias=False)
    models = [type("M", (), {"lm_head": h})() for h in (with_bias, float32)] + [None, object()]
    assert bf16_gemv.route_heads(*models) == 0
    assert "forward" not in vars(with_bias) and "forward" not in vars(float32)


def test_the_loader_routes_the_tied_heads_and_the_logits_stay_torchs(kernel, tiny):
    from inference.loader import LoadOptions, load_engine

    engine = load_engine(LoadOptions(model=str(tiny.model_dir), quantization="none", check_memory=False,
                                     assistant=str(tiny.assistant_dir)))
    heads = [engine.model.lm_head, engine.assistant.lm_head]  # the drafter reads its own 262144-row head
    assert all("forward" in vars(h) for h in heads)
    others = [m for model in (engine.model, engine.assistant) for m in model.modules()
              if type(m) is torch.nn.Linear and m.bias is None and "forward" in vars(m) and all(m is not h for h in heads)]
    assert others  # quantization none: every projection decodes through the kernel too
    assert f"head: {bf16_gemv.describe()} (2 routed, {len(others)} other bf16 matrices)" in engine.info.kernels
    assert engine.model.lm_head.weight.data_ptr() == engine.model.get_input_embeddings().weight.data_ptr()  # still tied
    ids = torch.randint(0, 400, (1, 12))
    with torch.no_grad():
        routed = engine.model(input_ids=ids, logits_to_keep=1).logits
        del engine.model.lm_head.forward
        plain = engine.model(input_ids=ids, logits_to_keep=1).logits
    torch.testing.assert_close(routed, plain, rtol=2e-2, atol=2e-2)

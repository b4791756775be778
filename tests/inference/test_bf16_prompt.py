"""Prompts through bf16 weights on CPUs without a bf16 GEMM: the float32 slices against torch's
bf16 matmul, which modules are routed and which inputs take the path, and the loader's report."""

from pathlib import Path

import pytest
import torch

from inference import bf16_prompt


def test_it_is_needed_exactly_where_the_cpu_has_no_bf16_matrix_instructions():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or "flags" not in cpuinfo.read_text():
        pytest.skip("no /proc/cpuinfo flags to compare with (not Linux on x86)")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert bf16_prompt.needed() == (not flags & {"avx512_bf16", "amx_bf16"})


@pytest.mark.parametrize("rows, n, bias", [(16, 300, False), (40, 256, True), (17, 513, True)])
def test_float32_slices_are_torchs_bf16_matmul_within_its_rounding(rows, n, bias):
    """Whole and partial slices of weight rows, with and without a bias, a batch dimension."""
    generator = torch.Generator().manual_seed(rows + n)
    weight = torch.randn(n, 96, generator=generator).to(torch.bfloat16)
    b = torch.randn(n, generator=generator).to(torch.bfloat16) if bias else None
    x = torch.randn(2, rows, 96, generator=generator).to(torch.bfloat16)
    got = bf16_prompt.linear(x, weight, b)
    assert got.shape == (2, rows, n) and got.dtype == torch.bfloat16
    expected = x.double() @ weight.double().T + (b.double() if bias else 0)
    torch.testing.assert_close(got.double(), expected, rtol=1 / 128, atol=1e-2)
    torch.testing.assert_close(got, torch.nn.functional.linear(x, weight, b), rtol=1 / 64, atol=2e-2)


def test_long_inputs_of_plain_bf16_linears_take_the_path(monkeypatch):
    """Routed as on a CPU without a bf16 GEMM, on any CPU: bf16 ``nn.Linear`` modules only (not a
    float32 one, not a subclass such as quanto's); inputs from ``FROM_ROWS`` rows without autograd;
    shorter ones keep the forward the module had."""
    monkeypatch.setattr(bf16_prompt, "needed", lambda: True)

    class Subclass(torch.nn.Linear):
        pass

    plain, with_bias = torch.nn.Linear(32, 48, bias=False), torch.nn.Linear(32, 48)
    model = torch.nn.ModuleList([plain, with_bias, torch.nn.Linear(32, 48), Subclass(32, 48)])
    for module in (plain, with_bias, model[3]):
        module.to(torch.bfloat16)
    assert bf16_prompt.route_linears(model, None, object()) == 2
    assert "forward" not in vars(model[2]) and "forward" not in vars(model[3])

    calls = []
    original = bf16_prompt.linear
    monkeypatch.setattr(bf16_prompt, "linear", lambda *a: calls.append(a[0].shape) or original(*a))
    with torch.no_grad():
        for rows in (1, bf16_prompt.FROM_ROWS - 1, bf16_prompt.FROM_ROWS, 100):
            x = torch.randn(1, rows, 32).to(torch.bfloat16)
            for module in (plain, with_bias):
                torch.testing.assert_close(module(x), torch.nn.functional.linear(x, module.weight, module.bias),
                                           rtol=1 / 64, atol=2e-2)
    plain(torch.randn(1, 100, 32).to(torch.bfloat16))  # autograd on: torch's matmul, which has a gradient
    rows = bf16_prompt.FROM_ROWS
    assert calls == [(1, rows, 32), (1, rows, 32), (1, 100, 32), (1, 100, 32)]


def test_the_loader_routes_a_bf16_model_where_the_cpu_needs_it(tiny):
    from inference.loader import LoadOptions, load_engine

    engine = load_engine(LoadOptions(model=str(tiny.model_dir), quantization="none", use_draft=False,
                                     check_memory=False))
    routed = [m for m in engine.model.modules() if type(m) is torch.nn.Linear and "forward" in vars(m)]
    if not bf16_prompt.needed():
        assert "bf16 prompts" not in engine.info.kernels
        return
    assert routed and f"bf16 prompts: float32 slices ({len(routed)} matrices;" in engine.info.kernels
    ids = torch.randint(0, 400, (1, 2 * bf16_prompt.FROM_ROWS))
    with torch.no_grad():
        sliced = engine.model(input_ids=ids).logits
        for module in routed:
            del module.forward
        plain = engine.model(input_ids=ids).logits
    torch.testing.assert_close(sliced, plain, rtol=5e-2, atol=5e-2)

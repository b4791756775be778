"""The output head of a decoding step: a few bf16 rows times the 262144-row tied embedding; and
every other bf16 matrix a decoding step reads.

Every decoded token multiplies its last hidden state by the whole head: 2 GB of bf16 for the
12B, the largest single read of a step. torch's one-row bf16 matmul reads it at ~16 GB/s on an
AMD EPYC (Zen 4) that reads 29, about 125 ms a token. ``linear`` (a prebuilt C++ kernel,
``native/bf16_gemv.cpp``) streams each weight row once through AVX512-BF16 dot products (or
widens bf16 to float and uses FMA, on AVX-512 CPUs without them and on AVX2 CPUs): ~85 ms there
(bench/README.md "head"); on a Zen 3 EPYC with AVX2 only, 67 ms (30 GB/s) against torch's 99. The
weights are used as they are, so nothing is copied and the head stays tied.

``route_heads`` sends the ``lm_head`` of a model (and of the drafter) to it for inputs of up to
``MAX_ROWS`` rows on the CPU, and ``route_linears`` every other bf16 matrix without a bias (all of a
model loaded with quantization none, the drafter's layers): decoding reads them the same way.
Prompts and other devices keep torch's matmul (or ``bf16_prompt``'s float32 slices). Without the prebuilt
library, or on a CPU without AVX2, everything stays as it was.

The same library holds the int8 kernel (``inference/int8_linear.py``): one build, one check.
"""

from __future__ import annotations

import functools

import torch

LIBRARY = "seesay_bf16_gemv"  # built by packaging/quanto_ext/build_ext.py beside the others
MAX_ROWS = 8  # decoding (1 row), verifying a draft (5); longer inputs are prompts: torch's GEMM


@functools.cache
def library():
    """The prebuilt kernel if this CPU can run it and it matches ``reference``; else None."""
    from inference import quant_kernels

    return quant_kernels.load_prebuilt(LIBRARY, _check)


def available() -> bool:
    return library() is not None


def describe() -> str:
    lib = library()
    if lib is None:
        return "torch's matmul (no AVX2, or not built)"
    if not lib.avx512_supported():
        return "prebuilt, AVX2 FMA"
    return "prebuilt, AVX512-BF16" if lib.bf16_supported() else "prebuilt, AVX-512 FMA"


def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` for bf16 ``x [..., K]`` and a contiguous bf16 ``weight [N, K]``."""
    flat = x.reshape(-1, x.shape[-1]).contiguous()
    return library().linear(flat, weight).view(*x.shape[:-1], weight.shape[0])


def reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """What the kernel computes, in float64 (slow): ``[M, N]`` for ``x [M, K]``."""
    return x.double() @ weight.double().T


def route_heads(*models) -> int:
    """Give each model's ``lm_head`` the kernel for short inputs; returns how many were routed."""
    if not available():
        return 0
    routed = 0
    for model in models:
        head = getattr(model, "lm_head", None) if model is not None else None
        if not _fits(head):
            continue
        head.forward = _routed_forward(head, head.forward)
        routed += 1
    return routed


def route_linears(*models) -> int:
    """The same for every other plain bf16 ``nn.Linear`` without bias (with quantization none, each
    layer's projections: decoding reads them as it reads the head); returns how many."""
    if not available():
        return 0
    routed = 0
    for module in plain_linears(*models):
        if "forward" not in vars(module) and _fits(module):
            module.forward = _routed_forward(module, module.forward)
            routed += 1
    return routed


def plain_linears(*models):
    """The bf16 ``nn.Linear`` modules on the CPU of each ``models`` that is a module: exactly that
    class (quanto's quantized subclasses and anything else derived keep their own forward)."""
    for model in models:
        for module in model.modules() if isinstance(model, torch.nn.Module) else ():
            if (type(module) is torch.nn.Linear and module.weight.dtype == torch.bfloat16
                    and module.weight.device.type == "cpu"):
                yield module


def _fits(head) -> bool:
    return (isinstance(head, torch.nn.Linear) and head.bias is None and head.weight.device.type == "cpu"
            and head.weight.dtype == torch.bfloat16 and head.weight.is_contiguous())


def _routed_forward(head: torch.nn.Linear, torch_forward):
    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = head.weight  # read at each call: a reload or re-tie replaces it
        if (x.dtype == torch.bfloat16 and x.device.type == "cpu" and weight.is_contiguous()
                and x.numel() // max(1, x.shape[-1]) <= MAX_ROWS and not torch.is_grad_enabled()):
            return linear(x, weight)
        return torch_forward(x)

    return forward


def _check(module) -> None:
    if not module.supported():
        raise RuntimeError("this CPU has neither AVX-512 nor AVX2")
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(70, 100, generator=generator).to(torch.bfloat16)  # a partial block, a tail of K
    x = torch.randn(3, 100, generator=generator).to(torch.bfloat16)
    expected = reference(x, weight)
    for use_bf16, use_avx512 in ((True, True), (False, True), (False, False)):  # each the CPU has
        got = module.linear(x, weight, use_bf16, use_avx512)
        assert torch.allclose(got.double(), expected, rtol=1 / 128, atol=1e-2), "wrong bf16 head product"
    if module.int8_supported():
        from inference import int8_linear

        int8_linear.check(module)

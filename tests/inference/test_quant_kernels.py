"""quanto's int4 unpack without run-time compilation: prebuilt library or pure-torch fallback."""

import importlib
import os
import sys
from pathlib import Path

import pytest
import torch

from inference import quant_kernels
from tests.real_parts import need

registry = importlib.import_module("optimum.quanto.library.extensions.extension")
from optimum.quanto.tensor.packed import pack_weights  # noqa: E402 (quanto's own packing)


@pytest.fixture
def fresh_registry(tmp_path, monkeypatch):
    """quanto's extension registry as a fresh process sees it, restored afterwards.

    Every extension's own build folder points into tmp_path, so a JIT build quanto may have left
    in site-packages cannot be picked up.
    """
    saved = dict(registry._extensions)
    state = {name: (ext._lib, ext.build_directory) for name, ext in saved.items()}
    for name, ext in saved.items():
        ext._lib, ext.build_directory = None, str(tmp_path / "own" / name)
    monkeypatch.delenv(quant_kernels.ENV_DIR, raising=False)
    yield registry._extensions
    registry._extensions.clear()
    registry._extensions.update(saved)
    for name, (lib, build_dir) in state.items():
        saved[name]._lib, saved[name].build_directory = lib, build_dir


@pytest.mark.parametrize("bits", [2, 4])
def test_pure_torch_unpack_inverts_quantos_packing(bits):
    values = torch.randint(0, 2**bits, (64, 96), dtype=torch.uint8, generator=torch.Generator().manual_seed(bits))
    packed = pack_weights(values, bits)
    assert packed.shape == (64 * bits // 8, 96)
    ours = quant_kernels.unpack_pure_torch(packed, bits)
    assert ours.dtype == torch.uint8
    assert torch.equal(ours, values)


def test_without_prebuilt_library_quanto_gets_the_pure_torch_unpack(fresh_registry, tmp_path):
    choices = quant_kernels.prepare(search_dirs=[tmp_path / "nothing-here"])
    cpp = next(c for c in choices if c.extension == "quanto_cpp")
    assert cpp.source == "pure-torch"
    assert fresh_registry["quanto_cpp"].lib.unpack is quant_kernels.unpack_pure_torch
    assert not any((tmp_path / "own").rglob("*.o")), "nothing may be compiled"
    assert quant_kernels.prepare(search_dirs=[]) == choices  # idempotent


def test_device_extensions_without_library_are_unregistered(fresh_registry, tmp_path):
    Extension = registry.Extension
    fake = Extension("quanto_fakegpu", root_dir=str(tmp_path / "fakegpu"), sources=["x.cu"])
    fresh_registry["quanto_fakegpu"] = fake
    choices = quant_kernels.prepare(search_dirs=[])
    assert quant_kernels.KernelChoice("quanto_fakegpu", "pure-torch") in choices
    # quanto only picks its AWQ/Marlin kernels when the extension is registered.
    assert not registry.is_extension_available("quanto_fakegpu")
    assert registry.is_extension_available("quanto_cpp")


def test_int4_linear_runs_on_the_pure_torch_unpack(fresh_registry):
    from optimum.quanto import freeze, qint4, quantize

    quant_kernels.prepare(search_dirs=[])
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):  # per-matmul unpack / torch's int4 CPU matmul
        reference = torch.nn.Sequential(torch.nn.Linear(256, 128)).to(dtype)
        model = torch.nn.Sequential(torch.nn.Linear(256, 128)).to(dtype)
        model.load_state_dict(reference.state_dict())
        quantize(model, weights=qint4)
        freeze(model)
        x = torch.randn(4, 256, dtype=dtype)
        with torch.no_grad():
            got, want = model(x).float(), reference(x).float()
        # int4 rounding costs a little; a wrongly ordered unpack would give unrelated outputs.
        assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.98


def test_library_built_for_another_torch_is_not_used(tmp_path):
    (tmp_path / "quanto_cpp.so").write_bytes(b"not really")
    (tmp_path / quant_kernels.VERSION_FILE).write_text("0.0.1")
    assert quant_kernels.find_library(tmp_path, "quanto_cpp") is None
    (tmp_path / quant_kernels.VERSION_FILE).write_text(torch.__version__)
    assert quant_kernels.find_library(tmp_path, "quanto_cpp") == tmp_path / "quanto_cpp.so"


def test_broken_library_falls_back_to_pure_torch(fresh_registry, tmp_path):
    (tmp_path / "quanto_cpp.so").write_bytes(b"not a shared library")
    (tmp_path / quant_kernels.VERSION_FILE).write_text(torch.__version__)
    choices = quant_kernels.prepare(search_dirs=[tmp_path])
    assert quant_kernels.KernelChoice("quanto_cpp", "pure-torch") in choices


def test_frozen_app_looks_in_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setenv(quant_kernels.ENV_DIR, str(tmp_path / "explicit"))
    assert quant_kernels.candidate_dirs() == [tmp_path / "explicit", tmp_path / "quanto_ext"]


PREBUILT_CHECK = """
import sys, torch
from pathlib import Path
sys.path.insert(0, "packaging/quanto_ext")
import build_ext
from inference import quant_kernels
from optimum.quanto.tensor.packed import pack_weights
out = Path(sys.argv[1])
path, int4_path, vnni_path, head_path = build_ext.build(out)
assert int4_path.name.startswith("seesay_int4.") and int4_path.parent == out
assert vnni_path.name.startswith("seesay_int4_int8.") and vnni_path.parent == out
assert head_path.name.startswith("seesay_bf16_gemv.") and head_path.parent == out
choices = quant_kernels.prepare(search_dirs=[out])
assert quant_kernels.KernelChoice("quanto_cpp", "prebuilt", path) in choices, choices
packed = torch.randint(0, 256, (32, 16), dtype=torch.uint8)
from optimum.quanto.library.extensions.extension import get_extension
assert torch.equal(get_extension("quanto_cpp").lib.unpack(packed, 4), quant_kernels.unpack_pure_torch(packed, 4))
values = torch.randint(0, 16, (64, 8), dtype=torch.uint8)
assert torch.equal(torch.ops.quanto.unpack(pack_weights(values, 4), 4), values)
print("prebuilt ok", path)
"""


@pytest.mark.slow
def test_prebuilt_library_is_loaded_and_unpacks_like_pure_torch(tmp_path):
    """Builds the kernels the way the packaging step does (about a minute on 2 cores), in a
    fresh interpreter: a process that already loaded a quanto_cpp library would get that one."""
    import subprocess

    need(quant_kernels.toolchain_available(tmp_path), "a C++ compiler, ninja and Python headers")
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", PREBUILT_CHECK, str(tmp_path / "ext")], cwd=root,
                         capture_output=True, text=True, timeout=900,
                         env={**os.environ, "MAX_JOBS": "2", "PYTHONPATH": str(root)})
    assert run.returncode == 0 and "prebuilt ok" in run.stdout, run.stderr[-3000:]

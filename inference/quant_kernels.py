"""Give optimum-quanto its int4/int2 unpack kernels without a C++ compiler at run time.

optimum-quanto 0.2.7 registers "extensions" (``quanto_cpp`` on every machine, ``quanto_cuda`` /
``quanto_mps`` where that device exists) whose ``lib`` property JIT-compiles C++ sources from
its own package folder the first time a packed int4 weight is unpacked. That needs a compiler,
ninja, Python and torch headers and a writable site-packages: none of them exist in the frozen
app, and a user's machine may lack them too. The plain and int8 paths never touch an extension.

``prepare()`` runs once, before a model is quantized or re-quantized, and decides for each
registered extension:

* ``prebuilt`` - a library compiled ahead of time for this exact torch
  (``packaging/quanto_ext/build_ext.py``; shipped in the frozen bundle) is loaded directly;
* ``jit`` - only with ``allow_jit=True`` and a working tool chain: quanto compiles as upstream does;
* ``pure-torch`` - quanto is handed a pure-torch unpack instead of the C++ one (same values,
  a few times slower to unpack), and the CUDA-only AWQ/Marlin kernels are switched off so quanto
  picks its kernel-free int4 path.

Only ``unpack`` ever runs from ``quanto_cpp`` on the CPU int4 path (bf16 weights are unpacked
once into torch's own int4 CPU matmul layout; fp32/fp16 weights are unpacked per matmul).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

log = logging.getLogger(__name__)

# Where build_ext.py writes, relative to a source checkout, and where the spec puts it in a bundle.
SOURCE_BUILD_DIR = Path("build") / "quanto_ext"
BUNDLE_DIR_NAME = "quanto_ext"
ENV_DIR = "SEESAY_QUANTO_EXT_DIR"  # an explicit folder holding prebuilt extensions
VERSION_FILE = "pytorch_version.txt"  # the same marker quanto writes beside its own builds


@dataclass(frozen=True)
class KernelChoice:
    """What one quanto extension will run on."""

    extension: str  # "quanto_cpp", "quanto_cuda", "quanto_mps"
    source: str  # "prebuilt", "jit" or "pure-torch"
    path: Path | None = None  # the loaded library, for "prebuilt"

    def __str__(self) -> str:
        return f"{self.extension}: {self.source}" + (f" ({self.path})" if self.path else "")


def unpack_pure_torch(packed, bits: int):
    """Unpack uint8 bytes holding ``8 // bits`` values each, in quanto's layout.

    Value ``i`` of every byte (lowest bits first) lands in the i-th block of rows, i.e. the
    result has ``8 // bits`` times as many rows as ``packed``.
    """
    import torch

    mask = (1 << bits) - 1
    per_byte = 8 // bits
    planes = []
    for i in range(per_byte):
        shifted = packed // (1 << (bits * i)) if packed.device.type == "mps" else packed >> (bits * i)
        planes.append(shifted & mask)
    return torch.cat(planes).to(torch.uint8)


def candidate_dirs() -> list[Path]:
    """Folders that may hold prebuilt extensions, most specific first."""
    dirs = []
    if os.environ.get(ENV_DIR):
        dirs.append(Path(os.environ[ENV_DIR]))
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        dirs.append(Path(sys._MEIPASS) / BUNDLE_DIR_NAME)
    else:
        dirs.append(Path(__file__).resolve().parents[1] / SOURCE_BUILD_DIR)
    return dirs


def prepare(*, allow_jit: bool = False, search_dirs: list[Path] | None = None) -> list[KernelChoice]:
    """Point every registered quanto extension at a prebuilt library or a pure-torch fallback.

    Idempotent; never compiles unless ``allow_jit`` and a tool chain is present. Returns one
    choice per extension (log it, or print it in a self-test).
    """
    from optimum.quanto.library.extensions import extension as registry

    dirs = candidate_dirs() if search_dirs is None else list(search_dirs)
    choices = []
    for name, ext in list(registry._extensions.items()):
        choice = _prepare_one(name, ext, dirs, allow_jit)
        if choice.source == "pure-torch" and name != "quanto_cpp":
            # Workaround: quanto picks its CUDA AWQ/Marlin int4/fp8 kernels whenever the extension
            # is *registered*; unregistered, it uses the kernel-free path that only needs unpack.
            del registry._extensions[name]
        choices.append(choice)
        log.info("quanto kernels: %s", choice)
    return choices


def _prepare_one(name, ext, dirs: list[Path], allow_jit: bool) -> KernelChoice:
    lib = ext._lib
    if isinstance(lib, _PureTorchLib):
        return KernelChoice(name, "pure-torch")
    if lib is not None:
        return KernelChoice(name, "prebuilt", Path(getattr(lib, "__file__", "") or "?"))
    own_build = Path(ext.build_directory)  # quanto's own JIT output, if it was ever built here
    for folder in [*dirs, own_build]:
        path = find_library(folder, name)
        if path is None:
            continue
        try:
            ext._lib = load_library(path, name)
            return KernelChoice(name, "prebuilt", path)
        except (ImportError, OSError, AssertionError) as error:
            log.warning("quanto kernels: could not use %s (%s)", path, error)
    if allow_jit and toolchain_available(own_build):
        os.environ["PATH"] = tool_path()  # torch's JIT build runs `ninja` from PATH
        return KernelChoice(name, "jit")
    ext._lib = _PureTorchLib()
    return KernelChoice(name, "pure-torch")


def find_library(folder: Path, name: str) -> Path | None:
    """The extension library in ``folder`` if it was built for the torch running now."""
    import torch

    marker = folder / VERSION_FILE
    if not marker.is_file() or marker.read_text().strip() != torch.__version__:
        return None
    for suffix in (".so", ".pyd", *importlib.machinery.EXTENSION_SUFFIXES):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def load_prebuilt(name: str, check):
    """Seesay's own prebuilt kernel ``name`` for this torch, once ``check(module)`` passes; None
    where it is missing or wrong (the callers then keep torch's own kernels)."""
    for folder in candidate_dirs():
        path = find_library(folder, name)
        if path is None:
            continue
        try:
            module = import_extension(path, name)
            check(module)
            return module
        except (ImportError, OSError, RuntimeError, AssertionError) as error:
            log.warning("%s: could not use %s (%s)", name, path, error)
    return None


def import_extension(path: Path, name: str):
    """Import a compiled extension module from a file (no compiler, no ninja)."""
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_library(path: Path, name: str):
    """Import a compiled quanto extension from ``path`` and check it unpacks like pure torch."""
    import torch

    module = import_extension(path, name)
    probe = torch.tensor([[0x21, 0xF3], [0x7C, 0x05]], dtype=torch.uint8)
    for bits in (2, 4):
        assert torch.equal(module.unpack(probe, bits), unpack_pure_torch(probe, bits)), "wrong unpack"
    return module


def toolchain_available(build_dir: Path) -> bool:
    """True when torch's JIT build could work: compiler, ninja, Python headers, writable folder."""
    compiler = os.environ.get("CXX") or ("cl" if sys.platform == "win32" else "c++")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    writable = os.access(build_dir if build_dir.exists() else build_dir.parent, os.W_OK)
    return bool(shutil.which(compiler) and shutil.which("ninja", path=tool_path())
                and headers.is_file() and writable)


def tool_path() -> str:
    """PATH plus this interpreter's scripts folder, where pip puts ``ninja`` (quanto needs it)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


class _PureTorchLib(SimpleNamespace):
    """Stands in for a compiled extension module: quanto only calls ``lib.unpack``."""

    def __init__(self):
        super().__init__(unpack=unpack_pure_torch)

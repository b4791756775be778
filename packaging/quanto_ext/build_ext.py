"""Compile Seesay's C++ kernels ahead of time, for this torch: optimum-quanto's CPU extension
(``quanto_cpp``), the int4 unpack kernel for long inputs (``inference/native/int4_unpack.cpp``) and
the int4 x int8 kernel for short ones (``inference/native/int4_int8.cpp``) and the bf16 output-head
kernel for decoding with the int8 kernel beside it (``inference/native/bf16_gemv.cpp``).

quanto would otherwise compile its extension at first int4 use, which a frozen app (and a machine
without a compiler) cannot do; the app never compiles anything. Output: ``build/quanto_ext/``
with ``quanto_cpp``, ``seesay_int4``, ``seesay_int4_int8`` and ``seesay_bf16_gemv`` (``.so`` / ``.pyd``) and
``pytorch_version.txt``; ``inference.quant_kernels`` finds them there in a source checkout, and
``packaging/seesay.spec`` ships them as ``quanto_ext/`` in the bundle. Without them the app works:
quanto unpacks with pure torch, and int4 inputs use torch's int4 kernel (slower prefill and decoding).

Run from the repository root with the project's interpreter (needs a C++ compiler, ninja and
Python headers - bootstrap and the build machine have them, users of the installers don't):

    .venv/bin/python packaging/quanto_ext/build_ext.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make inference/ importable

from inference import quant_kernels  # noqa: E402

QUANTO_SOURCES = ("unpack.cpp", "pybind_module.cpp")  # the files quanto's cpp/__init__.py compiles


def build(out_dir: Path) -> list[Path]:
    import torch

    import optimum.quanto.library.extensions.cpp as quanto_cpp_pkg
    from inference import bf16_gemv, int4_unpack, int4_int8

    quanto_src = Path(quanto_cpp_pkg.__file__).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
    os.environ["PATH"] = quant_kernels.tool_path()  # torch runs `ninja` from PATH
    marker = out_dir / quant_kernels.VERSION_FILE
    marker.unlink(missing_ok=True)  # rewritten once the libraries match this torch
    kernels = [  # name, sources, load-and-check (each raises when the library is wrong)
        ("quanto_cpp", [quanto_src / s for s in QUANTO_SOURCES],
         lambda path: quant_kernels.load_library(path, "quanto_cpp")),
        (int4_unpack.LIBRARY, [REPO / "inference" / "native" / "int4_unpack.cpp"],
         lambda path: int4_unpack._check(quant_kernels.import_extension(path, int4_unpack.LIBRARY))),
        (int4_int8.LIBRARY, [REPO / "inference" / "native" / "int4_int8.cpp"], _check_int8),
        (bf16_gemv.LIBRARY, [REPO / "inference" / "native" / "bf16_gemv.cpp"], _check_gemv),
    ]
    built, failed = [], []
    for name, sources, check in kernels:  # one that fails does not stop the other
        for old in _libraries(out_dir, name):  # never leave one built for another torch beside the marker
            old.unlink()
        try:
            path = _compile(name, sources, out_dir)
            check(path)
            built.append(path)
        except (Exception, SystemExit) as error:  # noqa: BLE001 - a compiler error is any of them
            for partial in _libraries(out_dir, name):
                partial.unlink()
            failed.append(f"{name}: {error}")
    if built:
        marker.write_text(torch.__version__)
    if failed:
        raise SystemExit("build_ext: could not build " + "; ".join(failed))
    return built


def _check_int8(path: Path) -> None:
    from inference import int4_int8

    module = quant_kernels.import_extension(path, int4_int8.LIBRARY)
    if module.supported() or module.avx2_supported():  # a build machine without them builds it for users who have
        int4_int8._check(module)


def _check_gemv(path: Path) -> None:
    from inference import bf16_gemv

    module = quant_kernels.import_extension(path, bf16_gemv.LIBRARY)
    if module.supported():  # as above: built for the CPUs that can run it
        bf16_gemv._check(module)


def _libraries(folder: Path, name: str) -> list[Path]:
    return [p for p in folder.glob(f"{name}.*") if p.suffix in (".so", ".pyd")]


def _compile(name: str, sources: list[Path], out_dir: Path) -> Path:
    from torch.utils.cpp_extension import load

    # OpenMP: at::parallel_for in a header is an `omp parallel` region; without the flag it runs
    # on one thread. On Linux, linked by soname (libgomp.so.1), it resolves to the runtime torch
    # loaded. Not on Windows (MSVC's /openmp brings vcomp140, a second runtime beside torch's) or
    # macOS (Apple's clang has none): there the kernels run on one thread.
    cflags, ldflags = {"win32": (["/O2"], []), "darwin": (["-O3"], [])}.get(
        sys.platform, (["-O3", "-fopenmp"], ["-fopenmp"]))
    module = load(name=name, sources=[str(s) for s in sources], extra_cflags=cflags, extra_ldflags=ldflags,
                  build_directory=str(out_dir), verbose=False)
    path = Path(module.__file__)
    if path.parent.resolve() != out_dir.resolve():
        raise SystemExit(f"build_ext: expected {name} in {out_dir}, got {module.__file__}")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / quant_kernels.SOURCE_BUILD_DIR)
    for path in build(parser.parse_args().out):
        print(f"build_ext: {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

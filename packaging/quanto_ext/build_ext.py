"""Compile optimum-quanto's CPU extension (``quanto_cpp``) ahead of time, for this torch.

quanto would otherwise compile it at first int4 use, which a frozen app (and a machine without
a compiler) cannot do. Output: ``build/quanto_ext/quanto_cpp.{so,pyd}`` plus
``pytorch_version.txt``; ``inference.quant_kernels.prepare()`` finds it there in a source
checkout, and ``packaging/seesay.spec`` ships it as ``quanto_ext/`` in the bundle.

Run from the repository root with the project's interpreter (needs a C++ compiler, ninja and
Python headers - the build machine has them, users don't need them):

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

SOURCES = ("unpack.cpp", "pybind_module.cpp")  # the files quanto's cpp/__init__.py compiles


def build(out_dir: Path) -> Path:
    import torch
    from torch.utils.cpp_extension import load

    import optimum.quanto.library.extensions.cpp as quanto_cpp_pkg

    src = Path(quanto_cpp_pkg.__file__).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
    os.environ["PATH"] = quant_kernels.tool_path()  # torch runs `ninja` from PATH
    module = load(
        name="quanto_cpp",
        sources=[str(src / s) for s in SOURCES],
        extra_cflags=["/O2"] if sys.platform == "win32" else ["-O3"],
        build_directory=str(out_dir),
        verbose=False,
    )
    (out_dir / quant_kernels.VERSION_FILE).write_text(torch.__version__)
    path = quant_kernels.find_library(out_dir, "quanto_cpp")
    if path is None or Path(module.__file__).resolve() != path.resolve():
        raise SystemExit(f"build_ext: expected the library in {out_dir}, got {module.__file__}")
    quant_kernels.load_library(path, "quanto_cpp")  # checks it unpacks like pure torch
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / quant_kernels.SOURCE_BUILD_DIR)
    path = build(parser.parse_args().out)
    print(f"build_ext: {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

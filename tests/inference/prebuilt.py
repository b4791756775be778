"""The prebuilt kernel a test module checks, found where the app looks for it."""

import pytest

from inference import quant_kernels
from tests.real_parts import need


def prebuilt_kernel(library: str, what: str, cpu_lacks: str, runs=lambda module: module.supported()):
    """The compiled extension ``library``, imported; skipped (failed in CI) when it was not built,
    skipped when this CPU lacks what it needs (``runs(module)`` false; ``cpu_lacks`` says what)."""
    quant_kernels.prepare()
    paths = [p for p in (quant_kernels.find_library(d, library) for d in quant_kernels.candidate_dirs()) if p]
    need(paths, f"the prebuilt {what} (bootstrap builds it: packaging/quanto_ext/build_ext.py)")
    module = quant_kernels.import_extension(paths[0], library)
    if not runs(module):
        pytest.skip(f"this CPU has no {cpu_lacks}")
    return module

"""Import the engine's libraries (torch, transformers, the model class) without long GIL holds.

It was written for a desktop app that loaded the engine on a thread beside its GUI thread, where
these imports held the GIL for up to ~200 ms at a time and froze the window (bench: gui). The
desktop now runs the engine in a process of its own (app/engine_process.py), whose GUI never
imports torch; what is done here still pays there and in the CLI: the big libraries map faster
with the GIL released, and the frozen import-time objects are never walked again by the full
collections that decoding steps trigger later (each would pause the answer for as long as it
walks torch's and transformers' objects). Two causes of long holds:

* ``dlopen`` of their large native libraries (~1 GB for torch, ~0.5 GB for triton): CPython
  calls it with the GIL held, in ``import`` and in ``ctypes.CDLL`` alike (190 ms for torch._C,
  50 ms for torch's own preloading of the CUDA libraries, 30 ms for triton). Calling libc's
  ``dlopen`` as a ctypes foreign function releases the GIL, so they are mapped that way first
  and the imports then find them loaded. Only libraries that do not call Python are preloaded.
* full garbage collections: every 25 % growth of the heap walks all of it (30-130 ms, longer as
  the heap grows). The collector is paused during the imports; what they created (modules,
  classes, functions: kept for the process's life anyway) is then frozen, so later collections,
  on either thread, skip it. Only imports run while paused, never a model: nothing big is frozen.
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

# (package, library inside it, dlopen mode): torch's loading order, then triton (torch._dynamo
# imports it when it is installed).
# The modes are read when preloading: os.RTLD_* exist on Unix only.
_NATIVE = (
    ("torch", "lib/libtorch_global_deps.so", ("RTLD_NOW", "RTLD_GLOBAL")),
    ("torch", "lib/libtorch.so", ("RTLD_NOW",)),
    ("triton", "_C/libtriton.so", ("RTLD_NOW",)),
)


def import_engine_libraries(quantized: bool) -> None:
    """Import what loading a model needs; the first call does the work, later ones return at once."""
    if "torch" in sys.modules and "transformers.models.gemma4_unified" in sys.modules:
        return
    with _collector_paused():
        _preload_native()
        import torch  # noqa: F401
        from transformers import AutoConfig, AutoProcessor, Gemma4UnifiedForConditionalGeneration  # noqa: F401

        if quantized:
            import optimum.quanto  # noqa: F401
        import inference.engine  # noqa: F401


@contextmanager
def _collector_paused():
    enabled = gc.isenabled()
    # What is garbage now must not become immortal at the freeze below. A full collection walks
    # the GUI's whole heap with the GIL held (30-40 ms: the window froze 0.26 s into every load);
    # the young generations, where nearly all new garbage is, take ~1 ms. Older garbage, if any, stays.
    gc.collect(1)
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _preload_native() -> None:
    """Map the big native libraries with the GIL released (Linux wheels; elsewhere a no-op)."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return
    try:
        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError):
        return
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_int)
    for package, name, flags in _NATIVE:
        mode = 0
        for flag in flags:
            mode |= getattr(os, flag)
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(spec.submodule_search_locations[0]) / name
        if path.is_file() and not dlopen(os.fsencode(path), mode):
            log.debug("could not preload %s; the import will load it", path)
